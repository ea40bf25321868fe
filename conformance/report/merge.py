"""Merging shards (typically one provider per CI job) into one run.

What lives here: `merge_runs`. What does not: reading files (results.read_results) or the CLI.

Rules, in the order the runs are given:
* Results are keyed by provider x model x check. On a duplicate the later run wins, and the
  winner carries a note in its evidence naming what it replaced. One exception: a `skipped`
  result never replaces a real verdict (a shard that did not select a provider lists it as
  skipped; that must not erase the shard that ran it).
* Providers: the later entry wins, except that an active entry is never replaced by a skipped one.
* Metadata: earliest start, latest finish, duration spanning both, workers added up, incomplete if
  any shard is (reasons joined); differing suite versions, commits or platforms are all kept,
  joined with ", ", so a mixed merge is visible.
* Catalog: shards must share a catalog version; merging different catalogs raises ValueError,
  because the same check id could mean different things.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from conformance.report.scores import timestamp
from conformance.report.diff import Key
from conformance.results import CatalogSnapshot, CheckResult, ProviderSnapshot, RunMetadata, RunResults, Status


def merge_runs(runs: list[RunResults]) -> RunResults:
    """One run from shards; see the module docstring for the rules."""
    if not runs:
        raise ValueError("merge_runs needs at least one run")
    versions = {r.run.catalog_version for r in runs}
    if len(versions) > 1:
        raise ValueError(
            f"cannot merge runs made with different catalog versions ({', '.join(sorted(map(repr, versions)))}); "
            "re-run the older shards with the same suite version"
        )
    return RunResults(
        run=_merge_metadata([r.run for r in runs]),
        providers=_merge_providers(runs),
        catalog=CatalogSnapshot({cid: entry for run in runs for cid, entry in run.catalog.items()}),
        results=_merge_results(runs),
    )


def _merge_results(runs: list[RunResults]) -> tuple[CheckResult, ...]:
    """Keyed results, the later shard winning (with a note) unless it only skipped the check."""
    results: dict[Key, CheckResult] = {}
    origin: dict[Key, int] = {}
    for index, run in enumerate(runs):
        for r in run.results:
            old = results.get(r.key)
            if old is not None and r.status is Status.SKIPPED and old.status is not Status.SKIPPED:
                continue
            if old is not None:
                note = (
                    f"merge: this result (shard {index + 1}, run {run.run.started_at}) replaced a "
                    f"{old.status.value} result from shard {origin[r.key] + 1}"
                )
                r = dataclasses.replace(r, evidence=dataclasses.replace(r.evidence, notes=(*r.evidence.notes, note)))
            results[r.key] = r
            origin[r.key] = index
    return tuple(results.values())


def _merge_providers(runs: list[RunResults]) -> tuple[ProviderSnapshot, ...]:
    """The later entry of a provider wins, except that a skipped one never replaces an active one."""
    providers: dict[str, ProviderSnapshot] = {}
    for run in runs:
        for entry in run.providers:
            earlier = providers.get(entry.name)
            if earlier is not None and entry.skipped and not earlier.skipped:
                continue
            providers[entry.name] = entry
    return tuple(providers.values())


def _merge_metadata(metas: list[RunMetadata]) -> RunMetadata:
    started = min((m.started_at for m in metas), key=timestamp)
    finished_all = [m.finished_at for m in metas if m.finished_at]
    finished = max(finished_all, key=timestamp) if finished_all else None
    duration: float | None = None
    span = timestamp(finished) - timestamp(started) if finished else math.nan
    if math.isfinite(span):  # both stamps parsed
        duration = round(span, 3)
    elif all(m.duration_s is not None for m in metas):
        duration = max(m.duration_s or 0.0 for m in metas)
    reasons = [m.incomplete_reason for m in metas if m.incomplete and m.incomplete_reason]
    options: dict[str, Any] = {}
    for m in metas:
        options.update(m.options)
    return dataclasses.replace(
        metas[-1],  # fields not named below (and any added later) come from the last shard
        started_at=started,
        finished_at=finished,
        duration_s=duration,
        suite_version=_joined(m.suite_version for m in metas),
        catalog_version=metas[0].catalog_version,
        git_commit=_joined(m.git_commit for m in metas) or None,
        providers_file=_joined(m.providers_file for m in metas) or None,
        providers_sha256=_joined(m.providers_sha256 for m in metas) or None,
        python=_joined(m.python for m in metas),
        openai=_joined(m.openai for m in metas),
        platform=_joined(m.platform for m in metas),
        options=options,
        workers=sum(m.workers for m in metas),
        incomplete=any(m.incomplete for m in metas),
        incomplete_reason="; ".join(dict.fromkeys(reasons))
        or ("a shard was incomplete" if any(m.incomplete for m in metas) else None),
    )


def _joined(values: Any) -> str:
    return ", ".join(dict.fromkeys(str(v) for v in values if v))
