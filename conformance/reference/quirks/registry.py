"""The quirk registry: quirks.yaml (the data) linked to the hooks that implement it (the code).

What lives here: the hook points and kinds (read from quirks.schema.json, their one definition),
`HookContext`, `QuirkSpec` and `load_quirks()` (quirks.yaml, validated against its schema),
`hook()` and `hooks_from()` (registration of a hook, or of a table of near-identical ones),
`linkage_problems()` (a YAML `hooks:` entry without its code, or code without its entry) and
`QuirkSet` (the active quirks, applied in the order given). What does not: the hooks themselves
(the sibling modules, one per hook point or family) or the server that calls the hook points.

The registry is filled once, when the package imports its hook modules; nothing changes it after.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from conformance import schemas

__all__ = [
    "HOOK_POINTS", "KINDS", "Hook", "HookContext", "QuirkSet", "QuirkSpec", "UnknownQuirkError",
    "hook", "hooks_from", "linkage_problems", "load_quirks", "parse_quirks", "registered_names",
]

_SCHEMA_DEFS = schemas.load_schema("quirks")["$defs"]
HOOK_POINTS: tuple[str, ...] = tuple(_SCHEMA_DEFS["hook_point"]["enum"])  # in the order a request meets them
KINDS: tuple[str, ...] = tuple(_SCHEMA_DEFS["kind"]["enum"])

Hook = Callable[[Any, "HookContext"], Any]
Row = TypeVar("Row")
_REGISTRY: dict[str, dict[str, Hook]] = {}  # quirk name -> hook point -> its hook


@dataclass(frozen=True)
class HookContext:
    """What a hook may read besides the value it transforms."""

    request: Mapping[str, Any] | None = None  # the request body the model saw (after request hooks)
    usage: Mapping[str, Any] | None = None
    kind: str = ""  # "chat" | "embeddings" (resolve_model)


@dataclass(frozen=True)
class QuirkSpec:
    """One entry of quirks.yaml."""

    name: str
    kind: str  # benign | deviation
    description: str
    cite: str
    hooks: tuple[str, ...]  # the hook points its code runs at
    breaks: Mapping[str, str] = field(default_factory=dict)  # check id -> status it must get
    pending: bool = False  # no check catches it yet: the quirk table test skips it


class UnknownQuirkError(ValueError):
    pass


def hook(point: str, name: str) -> Callable[[Hook], Hook]:
    """Register `fn` as quirk `name`'s hook at `point`: one hook per quirk and point."""
    if point not in HOOK_POINTS:
        raise ValueError(f"unknown hook point {point!r}")

    def register(fn: Hook) -> Hook:
        at = _REGISTRY.setdefault(name, {})
        if point in at:
            raise ValueError(f"quirk {name!r} has two hooks at {point!r}")
        at[point] = fn
        return fn

    return register


def hooks_from(point: str, table: Mapping[str, Row], make: Callable[[Row], Hook]) -> None:
    """Register a table of near-identical quirks: quirk name -> row, each hook `make(row)` at `point`."""
    for name, row in table.items():
        hook(point, name)(make(row))


def registered_names() -> frozenset[str]:
    return frozenset(_REGISTRY)


@functools.cache
def load_quirks() -> tuple[QuirkSpec, ...]:
    """The quirks of the packaged quirks.yaml, in file order."""
    text = importlib.resources.files("conformance.reference").joinpath("quirks.yaml").read_text(encoding="utf-8")
    return parse_quirks(yaml.safe_load(text))


def parse_quirks(data: Any) -> tuple[QuirkSpec, ...]:
    """quirks.yaml's content as QuirkSpecs; ValueError naming each place where it breaks its schema."""
    errors = [e for e in schemas.validate("quirks", data) if e.severity == "must"]
    if errors:
        raise ValueError("quirks.yaml is invalid: " + "; ".join(f"{e.pointer}: {e.message}" for e in errors))
    names = [q["name"] for q in data["quirks"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"quirks.yaml names a quirk twice: {dupes}")
    return tuple(
        QuirkSpec(q["name"], q["kind"], q["description"], q["cite"], tuple(q["hooks"]), dict(q["breaks"]), q.get("pending", False))
        for q in data["quirks"]
    )


def linkage_problems(
    quirks: Iterable[QuirkSpec] | None = None, coded: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """Each (quirk, hook point) that quirks.yaml names without a hook for it, or that has a hook
    the YAML does not name; empty when data and code agree. Defaults: the packaged YAML and the registry."""
    declared = {(q.name, point) for q in (load_quirks() if quirks is None else quirks) for point in q.hooks}
    registered = {(name, point) for name, points in (_REGISTRY if coded is None else coded).items() for point in points}
    return [f"{n} at {p}: in quirks.yaml, no hook registered" for n, p in sorted(declared - registered)] + [
        f"{n} at {p}: a hook registered, not in quirks.yaml" for n, p in sorted(registered - declared)
    ]


@functools.cache
def _checked_linkage() -> None:
    problems = linkage_problems()
    if problems:
        raise RuntimeError("quirks.yaml and the quirk hooks disagree: " + "; ".join(problems))


class QuirkSet:
    """The active quirks; `apply(point, value, ctx)` runs their hooks at one point, in order."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        _checked_linkage()
        names = tuple(dict.fromkeys(names))
        known = [q.name for q in load_quirks()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UnknownQuirkError(f"unknown quirk(s) {', '.join(map(repr, unknown))}; valid quirks: {', '.join(known)}")
        self.names = names
        self._hooks = {p: [_REGISTRY[n][p] for n in names if p in _REGISTRY[n]] for p in HOOK_POINTS}

    def apply(self, point: str, value: Any, ctx: HookContext | None = None) -> Any:
        for fn in self._hooks[point]:
            value = fn(value, ctx or HookContext())
        return value

    def __bool__(self) -> bool:
        return bool(self.names)

    def __repr__(self) -> str:
        return f"QuirkSet({list(self.names)!r})"
