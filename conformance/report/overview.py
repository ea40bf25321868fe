"""The matrix view's overview: the run header and one summary per provider (scores, tokens, cost,
latency, trend strip, regressions), plain frozen data the renderers read.

What lives here: ProviderView, Trend and the functions that make them and the header. What does
not: the grid of cells (matrix.py, which calls these), scoring rules (scores.py), markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.redact import MIN_SEARCH_LENGTH
from conformance.report.claims import CLAIMED_BROKEN, Claim
from conformance.report.diff import FIX, REGRESSION, Change, Key
from conformance.report.history import HistoryEntry
from conformance.report.scores import (
    Score,
    bounded,
    cost_usd,
    level_scores,
    median_latency_ms,
    median_metric,
    provider_skipped,
    total_tokens,
)
from conformance.results import CheckResult, ProviderSnapshot, RunResults, Status, Tokens


@dataclass(frozen=True)
class Trend:
    """Pass shares over recent runs (oldest first), with SVG polyline points precomputed.

    The y axis runs from `floor` (just under the lowest share, in steps of 10 %) to 100 %, so a
    drop from 98 % to 90 % is visible rather than a flat line near the top.
    """

    started: tuple[str, ...]
    must: tuple[float | None, ...]
    overall: tuple[float | None, ...]
    width: int = 120
    height: int = 28

    @property
    def floor(self) -> float:
        values = [v for v in (*self.must, *self.overall) if v is not None]
        return max(0.0, math.floor((min(values) - 0.05) * 10) / 10) if values else 0.0

    def points(self, series: Sequence[float | None]) -> str:
        n, lo = len(series), self.floor
        step = (self.width - 4) / (n - 1) if n > 1 else 0
        scale = (self.height - 4) / (1 - lo) if lo < 1 else 0
        return " ".join(
            f"{2 + i * step:.1f},{self.height - 2 - (v - lo) * scale:.1f}"
            for i, v in enumerate(series)
            if v is not None
        )

    @property
    def must_points(self) -> str:
        return self.points(self.must)

    @property
    def overall_points(self) -> str:
        return self.points(self.overall)

    @property
    def summary(self) -> str:
        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v * 100:.0f}%"

        runs = "; ".join(f"{s}: must {pct(m)}, all {pct(o)}" for s, m, o in zip(self.started, self.must, self.overall))
        return f"pass rate (axis {pct(self.floor)} to 100%) — {runs}"


@dataclass(frozen=True)
class ProviderView:
    name: str
    base_url: str
    tags: tuple[str, ...]
    columns: tuple[int, ...]
    skipped: str | None
    scores: dict[str, Score]
    counts: dict[str, int]
    claimed_broken: int
    tokens: Tokens
    cost: float | None
    median_latency_ms: float | None
    median_ttft_ms: float | None
    trend: Trend | None
    regressions: int = 0
    fixes: int = 0
    unsearched_secrets: int = 0  # secrets too short to search for in this provider's responses

    @property
    def redaction_note(self) -> str | None:
        if not self.unsearched_secrets:
            return None
        n = self.unsearched_secrets
        return (f"{n} secret{'s' if n > 1 else ''} shorter than {MIN_SEARCH_LENGTH} characters "
                f"{'are' if n > 1 else 'is'} not searched for in this provider's responses: an echo would show it")

    @property
    def evaluated(self) -> bool:
        return self.skipped is None



def provider_view(
    run: RunResults,
    name: str,
    results: list[CheckResult],
    columns: tuple[int, ...],
    claims: list[Claim],
    past: list[HistoryEntry],
    changes: dict[Key, Change],
) -> ProviderView:
    entry = run.provider(name) or ProviderSnapshot(name)
    tokens = total_tokens(results)
    scores = level_scores(results)
    mine = [c for c in changes.values() if c.provider == name]
    return ProviderView(
        name=name,
        base_url=bounded(entry.base_url, 200),
        tags=entry.tags,
        columns=columns,
        skipped=provider_skipped(run.provider(name), results),
        scores=scores,
        counts={s.value: sum(1 for r in results if r.status is s) for s in Status},
        claimed_broken=sum(1 for c in claims if c.provider == name and c.state == CLAIMED_BROKEN),
        tokens=tokens,
        cost=cost_usd(tokens, entry.prices),
        median_latency_ms=median_latency_ms(results),
        median_ttft_ms=median_metric(results, "ttft_ms"),
        trend=_trend(run, name, scores, past) if past else None,
        regressions=sum(1 for c in mine if c.kind == REGRESSION),
        fixes=sum(1 for c in mine if c.kind == FIX),
        unsearched_secrets=max(0, entry.redaction.unsearched) if entry.redaction else 0,
    )


def _trend(run: RunResults, name: str, scores: dict[str, Score], past: list[HistoryEntry]) -> Trend:
    """A provider's pass shares over the history window, this run last."""
    series = [e.summary.get(name, {}) for e in past] + [scores]
    return Trend(
        started=tuple(e.started_at for e in past) + (run.run.started_at,),
        must=tuple(s["must"].share if "must" in s else None for s in series),
        overall=tuple(s["all"].share if "all" in s else None for s in series),
    )


def run_header(run: RunResults, providers: tuple[ProviderView, ...]) -> dict[str, Any]:
    m = run.run
    tokens = Tokens()
    for p in providers:
        tokens = tokens + p.tokens
    priced = [p for p in providers if p.cost is not None]
    return {
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "duration": _duration(m.duration_s),
        "suite_version": m.suite_version,
        "catalog_version": m.catalog_version,
        "git_commit": (m.git_commit or "")[:12],
        "providers": len(providers),
        "providers_evaluated": sum(1 for p in providers if p.evaluated),
        "checks": len({r.check for r in run.results}),
        "checks_not_run": len(set(run.catalog) - {r.check for r in run.results}),
        "results": len(run.results),
        "tokens": tokens.total,
        "tokens_estimated": tokens.estimated,
        "cost": sum(p.cost or 0.0 for p in priced) if priced else None,
        "cost_note": f"{len(priced)} of {len(providers)} providers have prices" if priced else "",
        "incomplete": m.incomplete,
        "incomplete_reason": m.incomplete_reason or "",
        "workers": m.workers,
        "python": m.python,
        "openai": m.openai,
        "platform": m.platform,
        "providers_file": m.providers_file or "",
    }


def baseline_meta(baseline: RunResults | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    m = baseline.run
    return {"started_at": m.started_at, "suite_version": m.suite_version, "git_commit": (m.git_commit or "")[:12]}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"
