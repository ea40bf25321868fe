"""The check catalog: loads `catalog.yaml` (the one list of checks) into frozen CheckSpec objects.

Check functions live in `conformance.checks`; this module only knows what each check is
(id, area, level, kind, what it needs, how a clean refusal of its request counts, title, spec
reference, rationale), never how it runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from conformance.providers import CAPABILITIES
from conformance.results import Kind, Level, Status

NEEDS = ("provider", *CAPABILITIES)  # "provider": the check runs once per provider, on no model
REFUSALS = {"fail": Status.FAIL, "unsupported": Status.UNSUPPORTED}


@dataclass(frozen=True)
class CheckSpec:
    """What one check is, as the catalog states it."""

    id: str
    level: Level
    kind: Kind
    needs: str
    title: str
    spec: str
    rationale: str
    refusal: Status = Status.FAIL  # a clean 4xx refusal of the check's request: fail, or unsupported

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "level": self.level.value,
            "kind": self.kind.value,
            "needs": self.needs,
            "title": self.title,
            "spec": self.spec,
            "rationale": self.rationale,
        }


@dataclass(frozen=True)
class Catalog:
    version: str
    checks: tuple[CheckSpec, ...]

    def __getitem__(self, check_id: str) -> CheckSpec:
        for spec in self.checks:
            if spec.id == check_id:
                return spec
        raise KeyError(check_id)

    def __contains__(self, check_id: object) -> bool:
        return any(spec.id == check_id for spec in self.checks)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(spec.id for spec in self.checks)

    @property
    def areas(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(spec.area for spec in self.checks))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The catalog as results.json embeds it, so reports never need the suite installed."""
        return {spec.id: spec.to_dict() for spec in self.checks}


@functools.cache
def load_catalog() -> Catalog:
    """Parse and validate the packaged catalog (validated against data/schemas/catalog.schema.json)."""
    text = resources.files("conformance").joinpath("catalog.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    from conformance import schemas  # local: schemas imports nothing of ours, but keep start-up lean

    errors = [e for e in schemas.validate("catalog", data) if e.severity == "must"]
    if errors:
        raise ValueError("catalog.yaml is invalid: " + "; ".join(f"{e.pointer}: {e.message}" for e in errors))
    checks = tuple(
        CheckSpec(
            id=c["id"],
            level=Level(c["level"]),
            kind=Kind(c["kind"]),
            needs=c["needs"],
            title=c["title"],
            spec=c["spec"],
            rationale=c["rationale"],
            refusal=REFUSALS[c.get("refusal", "fail")],
        )
        for c in data["checks"]
    )
    ids = [c.id for c in checks]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"catalog.yaml has duplicate check ids: {dupes}")
    return Catalog(version=str(data["version"]), checks=checks)
