"""Per-provider numbers every renderer agrees on: pass shares by level, tokens, cost, latency.

What lives here: how a score is counted (one definition for the matrix, summary.md, history
trends, the gate's ranking and diffs) and a few small helpers shared by the report modules.
What does not: rendering, and deciding adopt/reject (gate.py).

A score is `passed / evaluated` where `evaluated` leaves out `skipped` results (no verdict was
sought) and `passed` counts only `pass`; results that match their `expect:` are counted apart
(`expected`) so a reader sees "8/10 (+1 expected)" rather than a silently raised share.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conformance.results import CheckResult, Level, ProviderSnapshot, RunResults, Status, Tokens
from conformance.textsafe import strip_controls

# Worst first: the order used when several results compete for one place (a cell, a claim).
STATUS_SEVERITY: dict[Status, int] = {
    Status.FAIL: 5,
    Status.FLAKY: 4,
    Status.ERROR: 3,
    Status.UNSUPPORTED: 2,
    Status.SKIPPED: 1,
    Status.PASS: 0,
}


@dataclass(frozen=True)
class Score:
    """Passed out of evaluated for one provider and one level."""

    passed: int = 0
    evaluated: int = 0
    expected: int = 0

    @property
    def share(self) -> float | None:
        return self.passed / self.evaluated if self.evaluated else None

    @property
    def percent(self) -> str:
        share = self.share
        return "n/a" if share is None else f"{share * 100:.0f}%"

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "evaluated": self.evaluated, "expected": self.expected, "share": self.share}


def score(results: Iterable[CheckResult]) -> Score:
    passed = evaluated = expected = 0
    for r in results:
        if r.status is Status.SKIPPED:
            continue
        evaluated += 1
        if r.status is Status.PASS:
            passed += 1
        elif r.as_expected:
            expected += 1
    return Score(passed, evaluated, expected)


def level_scores(results: Iterable[CheckResult]) -> dict[str, Score]:
    """{"must": Score, "should": Score, "may": Score, "all": Score}."""
    rows = list(results)
    out = {level.value: score(r for r in rows if r.level is level) for level in Level}
    out["all"] = score(rows)
    return out


def by_provider(run: RunResults) -> dict[str, list[CheckResult]]:
    """Results grouped by provider, providers in the order results.json lists them."""
    out: dict[str, list[CheckResult]] = {p.name: [] for p in run.providers if p.name}
    for r in run.results:
        out.setdefault(r.provider, []).append(r)
    return out


def provider_skipped(entry: ProviderSnapshot | None, results: list[CheckResult]) -> str | None:
    """Why a provider was not evaluated (its entry says skipped, or every result is skipped), or None."""
    if entry is not None and entry.skipped:
        return entry.skip_reason or "skipped"
    if results and all(r.status is Status.SKIPPED for r in results):
        return results[0].message or "every check was skipped"
    if not results:
        return "no results in this run"
    return None


def median_metric(results: Iterable[CheckResult], name: str) -> float | None:
    """The median of one per-check metric (latency_ms, ttft_ms) over the results that have it."""
    values = [float(r.metrics[name]) for r in results if isinstance(r.metrics.get(name), (int, float))]
    return round(statistics.median(values), 1) if values else None


def median_latency_ms(results: Iterable[CheckResult]) -> float | None:
    return median_metric(results, "latency_ms")


def total_tokens(results: Iterable[CheckResult]) -> Tokens:
    total = Tokens()
    for r in results:
        total = total + r.tokens
    return total


def cost_usd(tokens: Tokens, prices: Mapping[str, float] | None) -> float | None:
    """Estimated cost from `prices` (USD per million tokens), or None when the provider has none."""
    if not prices:
        return None
    inp, out = prices.get("input_per_mtok", 0), prices.get("output_per_mtok", 0)
    return (tokens.prompt * inp + tokens.completion * out) / 1_000_000


def worst(results: Iterable[CheckResult]) -> CheckResult | None:
    """The most severe result (first one on ties), for places only one result can show."""
    best: CheckResult | None = None
    for r in results:
        if best is None or STATUS_SEVERITY.get(r.status, 3) > STATUS_SEVERITY.get(best.status, 3):
            best = r
    return best


def bounded(text: Any, limit: int) -> str:
    """`text` as a string of at most about `limit` characters, saying how much was cut."""
    s = text if isinstance(text, str) else str(text)
    if len(s) <= limit:
        return s
    return s[:limit] + f"… [{len(s) - limit} more characters]"


def one_line(text: object, limit: int) -> str:
    """`text` on one line of at most `limit` characters, with control and bidi characters shown as
    escapes (`\\x1b`): provider text inert in a terminal line, a Markdown cell or a YAML comment."""
    s = strip_controls(" ".join(str(text).split()))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def timestamp(stamp: str | None) -> float:
    """Seconds since the epoch for an ISO 8601 stamp (mixed offsets compare right); -inf if unparsable."""
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()  # 3.11+ reads a trailing "Z" too
    except ValueError:
        return float("-inf")
