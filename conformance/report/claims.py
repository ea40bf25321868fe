"""Claimed vs observed: what a provider advertises for a model against what the checks saw.

`providers[].claims` in results.json maps model -> {key: bool}. A key is a check id
("embeddings.dimensions"), an area ("tools", "stream"), or one of a few common marketing words
(`ALIASES`: "streaming", "function_calling", "json_mode", ...). An area stands for its `must`
checks (all of its checks if it has none), because "supports tools" means the basics work.

Observed, for one model: `works` when every covered result passed, `broken` when any failed, was
refused or only works sometimes (`fail`, `unsupported`, `flaky`), else `untested` (skipped, error,
or no result). Combined:

    claimed_works     claimed and works
    claimed_broken    claimed but broken          (the worst: counted apart in every summary)
    unclaimed_works   works but not claimed
    unclaimed_absent  not claimed, not working
    untested          no verdict either way
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.report.scores import by_provider
from conformance.results import CatalogEntry, CheckResult, Level, RunResults, Status

CLAIMED_WORKS = "claimed_works"
CLAIMED_BROKEN = "claimed_broken"
UNCLAIMED_WORKS = "unclaimed_works"
UNCLAIMED_ABSENT = "unclaimed_absent"
UNTESTED = "untested"

STATE_LABELS = {
    CLAIMED_WORKS: "claimed, works",
    CLAIMED_BROKEN: "claimed but broken",
    UNCLAIMED_WORKS: "works, not claimed",
    UNCLAIMED_ABSENT: "not claimed, not working",
    UNTESTED: "untested",
}

ALIASES = {
    "streaming": "stream",
    "function_calling": "tools",
    "tool_calls": "tools",
    "tool_calling": "tools",
    "json_mode": "structured.json_object",
    "structured_output": "structured.json_schema",
    "structured_outputs": "structured.json_schema",
    "logprobs": "chat.logprobs",
}


@dataclass(frozen=True)
class Claim:
    provider: str
    model: str
    key: str
    claimed: bool | None  # None: the provider says nothing about this key for this model
    observed: str  # works | broken | untested
    state: str
    checks: tuple[tuple[str, str], ...] = ()  # (check id, status) that decided `observed`
    note: str = ""

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "key": self.key,
            "claimed": self.claimed,
            "observed": self.observed,
            "state": self.state,
            "checks": [list(c) for c in self.checks],
            "note": self.note,
        }


def claim_targets(key: str, catalog: Mapping[str, CatalogEntry], known_checks: set[str]) -> tuple[str, ...]:
    """The check ids a claim key stands for (empty when nothing covers it)."""
    target = ALIASES.get(key, key)
    if target in catalog or target in known_checks:
        return (target,)
    in_area = [cid for cid in list(catalog) + sorted(known_checks - set(catalog)) if cid.split(".", 1)[0] == target]
    musts = [cid for cid in in_area if cid in catalog and catalog[cid].level is Level.MUST]
    return tuple(musts or in_area)


def evaluate_claims(run: RunResults) -> list[Claim]:
    """One Claim per provider x model x key, for keys any provider in the run claims (true or false).

    Rows where the provider said nothing and nothing was observed are left out.
    """
    keys = list(
        dict.fromkeys(
            key
            for entry in run.providers
            for per_model in entry.claims.values()
            for key in per_model
        )
    )
    if not keys:
        return []
    known = {r.check for r in run.results}
    targets = {key: claim_targets(key, run.catalog, known) for key in keys}
    out: list[Claim] = []
    for provider, results in by_provider(run).items():
        entry = run.provider(provider)
        claims = entry.claims if entry is not None else {}
        models = list(dict.fromkeys([*claims, *(r.model for r in results if r.model)]))
        for model in models:
            per_model = claims.get(model, {})
            for key in keys:
                said = per_model.get(key)
                claimed = bool(said) if said is not None else None
                covered = _covering(results, model, set(targets[key]))
                observed = _observed(covered)
                if claimed is None and observed == UNTESTED:
                    continue
                note = "" if targets[key] else "no check covers this claim"
                if any(r.as_expected for r in covered if r.status is not Status.PASS):
                    note = "a known gap (expect:) is among the results"
                out.append(
                    Claim(
                        provider=provider,
                        model=model,
                        key=key,
                        claimed=claimed,
                        observed=observed,
                        state=_state(claimed, observed),
                        checks=tuple((r.check, r.status.value) for r in covered),
                        note=note,
                    )
                )
    return out


def _covering(results: list[CheckResult], model: str, checks: set[str]) -> list[CheckResult]:
    own = [r for r in results if r.check in checks and r.model == model]
    provider_level = [r for r in results if r.check in checks and r.model is None]
    return own + provider_level


def _observed(results: list[CheckResult]) -> str:
    statuses = {r.status for r in results}
    if statuses & {Status.FAIL, Status.UNSUPPORTED, Status.FLAKY}:
        return "broken"
    if statuses and statuses == {Status.PASS}:
        return "works"
    return UNTESTED


def _state(claimed: bool | None, observed: str) -> str:
    if observed == UNTESTED:
        return UNTESTED
    if claimed:
        return CLAIMED_WORKS if observed == "works" else CLAIMED_BROKEN
    return UNCLAIMED_WORKS if observed == "works" else UNCLAIMED_ABSENT
