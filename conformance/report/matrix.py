"""results -> the matrix view model: plain frozen data that the HTML and Markdown renderers read.

What lives here: how results are laid out (providers and their models as columns, checks grouped
by area as rows), what each cell says (status, symbol, text, expectation, change against a
baseline, flakiness, claim), per-area and per-provider summaries, trend points from history, and
the bounded evidence payload a cell opens. What does not: any markup (templates/ and markdown.py).

Rows are the checks with at least one result, in catalog order (a check nobody ran, e.g. in an
`--areas` run, is counted in the header, not drawn as a row of "not run").

Columns. A provider gets one column per "lane": lane i holds the i-th configured model of each
capability (chat, tools, embeddings), so a provider with one chat model and one embedding model
is one column, not two half-empty ones. A check's capability comes from the catalog's `needs`;
provider-level checks (no model) sit in lane 0.

Everything in a cell or in evidence comes from a provider and is untrusted: the view model keeps
it as plain strings (bounded here), and renderers escape it (jinja2 autoescape; JSON for the page
script goes through `script_json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.report.claims import CLAIMED_BROKEN, Claim, claim_targets, evaluate_claims
from conformance.report.diff import REGRESSION, Change, diff_runs
from conformance.report.history import HistoryEntry, entry_from_run, flip_counts
from conformance.report.scores import (
    Score,
    bounded,
    by_provider,
    cost_usd,
    level_scores,
    median_latency_ms,
    median_metric,
    provider_entry,
    provider_skipped,
    total_tokens,
    worst,
)
from conformance.redact import MIN_SEARCH_LENGTH
from conformance.results import CheckResult, RunResults, Status, Tokens

# Symbol + words for every state: colour is never the only signal (colour-blind safe).
STATES: dict[str, tuple[str, str]] = {
    "pass": ("✓", "pass"),
    "fail": ("✗", "fail"),
    "flaky": ("≈", "flaky"),
    "unsupported": ("⊘", "unsupported"),
    "error": ("!", "error"),
    "skipped": ("–", "skipped"),
    "absent": ("·", "not run"),
}
NOT_PASSING = ("fail", "flaky", "error", "unsupported")
BROKEN = ("fail", "flaky", "unsupported")  # what a claimed feature must not be
CAPABILITIES = ("chat", "tools", "embeddings")
UNSTABLE_FLIPS = 3  # status changes over the history window that mark a cell unstable (more than one blip)

# Evidence budgets (characters). A passing cell needs less evidence than a failing one.
_BUDGET = {
    "fail": {"exchanges": 4, "request": 4000, "response": 8192, "items": 20},
    "pass": {"exchanges": 1, "request": 1200, "response": 1200, "items": 10},
}
_TEXT = 600  # a message, note, finding or schema-error field


@dataclass(frozen=True)
class Column:
    index: int
    provider: str
    lane: int
    models: tuple[str, ...]

    @property
    def label(self) -> str:
        return " · ".join(self.models) if self.models else "provider checks"


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


@dataclass(frozen=True)
class Cell:
    column: int
    check: str
    state: str  # a key of STATES
    symbol: str
    text: str
    expected: bool = False
    expectation: dict[str, str] | None = None
    change: str | None = None  # regression | fix | changed | added
    baseline: str | None = None
    flips: int = 0
    claimed: bool = False  # a true claim covers this check for this model
    model: str | None = None
    tip: str = ""  # the message, shortened; empty when there is none
    evidence: int | None = None

    @property
    def filter_tags(self) -> str:
        """Space-separated tags the status filter matches."""
        tags = [self.state]
        if self.expected:
            tags.append("expected")
        if self.change:
            tags += ["changed", self.change]
        if self.claimed and self.state in BROKEN:
            tags.append("claimed_broken")
        if self.flips >= UNSTABLE_FLIPS:
            tags.append("unstable")
        return " ".join(tags)

    @property
    def compare_key(self) -> str:
        """What "only differences between providers" compares."""
        return f"{self.state}{'~x' if self.expected else ''}"


@dataclass(frozen=True)
class Row:
    check: str
    area: str
    level: str
    kind: str
    title: str
    spec: str
    rationale: str
    cells: tuple[Cell, ...]
    order: int

    @property
    def bad(self) -> int:
        return sum(1 for c in self.cells if c.state in NOT_PASSING and not c.expected)

    @property
    def regressions(self) -> int:
        return sum(1 for c in self.cells if c.change == REGRESSION)

    @property
    def differs(self) -> bool:
        return len({c.compare_key for c in self.cells if c.state != "absent"}) > 1


@dataclass(frozen=True)
class AreaCell:
    column: int
    passed: int
    evaluated: int
    must_bad: int
    expected: int

    @property
    def state(self) -> str:
        if not self.evaluated:
            return "absent"
        if self.must_bad:
            return "fail"
        return "pass" if self.passed + self.expected == self.evaluated else "partial"

    @property
    def text(self) -> str:
        return f"{self.passed}/{self.evaluated}" if self.evaluated else "—"


@dataclass(frozen=True)
class Area:
    name: str
    rows: tuple[Row, ...]
    summary: tuple[AreaCell, ...]


@dataclass(frozen=True)
class Matrix:
    header: dict[str, Any]
    columns: tuple[Column, ...]
    providers: tuple[ProviderView, ...]
    areas: tuple[Area, ...]
    claims: tuple[Claim, ...]
    changes: tuple[Change, ...]  # regressions first, then fixes, then other changes
    catalog_warning: str | None
    evidence: tuple[dict[str, Any], ...]
    totals: dict[str, int]
    history_runs: int = 0
    baseline: dict[str, Any] | None = None
    cell_index: dict[tuple[str, str | None, str], int] = field(default_factory=dict)  # result key -> evidence index

    @property
    def rows(self) -> list[Row]:
        return [row for area in self.areas for row in area.rows]

    def cell(self, provider: str, check: str, lane: int = 0) -> Cell:
        """The cell for a provider's lane and a check (for tests and renderers)."""
        col = next(c for c in self.columns if c.provider == provider and c.lane == lane)
        row = next(r for r in self.rows if r.check == check)
        return row.cells[col.index]


def build_matrix(
    run: RunResults,
    *,
    history: Iterable[HistoryEntry] = (),
    baseline: RunResults | None = None,
) -> Matrix:
    """The whole view model for one run (plus optional history and baseline)."""
    grouped = by_provider(run)
    ran = {r.check for r in run.results}
    # Rows in catalog order; a catalog check no provider has a result for is counted, not drawn.
    check_ids = [c for c in dict.fromkeys(list(run.catalog) + [r.check for r in run.results]) if c in ran]
    run_diff = diff_runs(baseline, run) if baseline is not None else None
    changes = run_diff.by_key() if run_diff else {}
    past = [e for e in history if e.started_at != run.run.started_at]
    flips = flip_counts([*past, entry_from_run(run)]) if past else {}
    claims = evaluate_claims(run)
    claimed_keys = _claimed_keys(run, claims)

    columns: list[Column] = []
    lane_of: dict[tuple[str, str | None, str], int] = {}
    for provider, results in grouped.items():
        by_cap = _models_by_capability(run, provider, results)
        for lane, models in enumerate(_lanes(by_cap)):
            columns.append(Column(len(columns), provider, lane, tuple(models)))
        for r in results:
            names = by_cap.get(_capability(run, r), [])
            lane_of[r.key] = names.index(r.model) if r.model is not None and r.model in names else 0
    col_index = {(c.provider, c.lane): c.index for c in columns}

    slots: dict[tuple[int, str], list[CheckResult]] = {}
    for r in run.results:
        slots.setdefault((col_index[(r.provider, lane_of[r.key])], r.check), []).append(r)

    evidence: list[dict[str, Any]] = []
    cell_index: dict[tuple[str, str | None, str], int] = {}
    rows_by_area: dict[str, list[Row]] = {}
    for order, check in enumerate(check_ids):
        spec = run.catalog.get(check, {})
        area = str(spec.get("area") or check.split(".", 1)[0])
        cells = []
        for col in columns:
            candidates = slots.get((col.index, check), [])
            result = worst(candidates)
            if result is None:
                cells.append(_absent_cell(col, check, spec))
                continue
            change = changes.get(result.key)
            cell_flips = flips.get(result.key, 0)
            claimed = result.key in claimed_keys
            cell_index[result.key] = len(evidence)
            cells.append(_cell(col, result, change, cell_flips, claimed, len(evidence)))
            others = [c for c in candidates if c is not result]
            evidence.append(_evidence(result, change, cell_flips, len(past) + 1, claimed, others))
        rows_by_area.setdefault(area, []).append(
            Row(
                check=check,
                area=area,
                level=str(spec.get("level") or _first_level(grouped, check)),
                kind=str(spec.get("kind") or ""),
                title=str(spec.get("title") or check),
                spec=str(spec.get("spec") or ""),
                rationale=str(spec.get("rationale") or ""),
                cells=tuple(cells),
                order=order,
            )
        )
    areas = tuple(Area(name, tuple(rows), _area_summary(rows, columns)) for name, rows in rows_by_area.items())

    providers = tuple(
        _provider_view(run, name, results, columns, claims, past, changes) for name, results in grouped.items()
    )
    ordered_changes = (
        (*run_diff.regressions, *run_diff.fixes, *run_diff.changes, *run_diff.added, *run_diff.removed)
        if run_diff
        else ()
    )
    totals = {s.value: sum(1 for r in run.results if r.status is s) for s in Status}
    totals["expected"] = sum(1 for r in run.results if r.as_expected and r.status is not Status.PASS)
    totals["claimed_broken"] = sum(1 for c in claims if c.state == CLAIMED_BROKEN)
    totals["regressions"] = sum(1 for c in changes.values() if c.kind == REGRESSION)
    return Matrix(
        header=_header(run, providers),
        columns=tuple(columns),
        providers=providers,
        areas=areas,
        claims=tuple(claims),
        changes=ordered_changes,
        catalog_warning=run_diff.catalog_mismatch if run_diff else None,
        evidence=tuple(evidence),
        totals=totals,
        history_runs=len(past),
        baseline=_baseline_meta(baseline),
        cell_index=cell_index,
    )


# --- layout ------------------------------------------------------------------------------------


def _capability(run: RunResults, r: CheckResult) -> str:
    needs = run.catalog.get(r.check, {}).get("needs")
    if needs:
        return str(needs)
    if r.model is None:
        return "provider"
    return r.area if r.area in CAPABILITIES else "chat"


def _models_by_capability(run: RunResults, provider: str, results: list[CheckResult]) -> dict[str, list[str]]:
    configured = provider_entry(run, provider).get("models") or {}
    out: dict[str, list[str]] = {}
    for cap, names in configured.items():
        names = names if isinstance(names, list) else [names]
        out[str(cap)] = [str(n) for n in names]
    for r in results:
        cap = _capability(run, r)
        if r.model is not None and cap != "provider" and r.model not in out.setdefault(cap, []):
            out[cap].append(r.model)
    return out


def _lanes(by_cap: dict[str, list[str]]) -> list[list[str]]:
    count = max([1] + [len(v) for v in by_cap.values()])
    lanes: list[list[str]] = []
    for i in range(count):
        lane: list[str] = []
        for names in by_cap.values():
            if i < len(names) and names[i] not in lane:
                lane.append(names[i])
        lanes.append(lane)
    return lanes


def _first_level(grouped: dict[str, list[CheckResult]], check: str) -> str:
    for results in grouped.values():
        for r in results:
            if r.check == check:
                return r.level.value
    return "may"


# --- cells ------------------------------------------------------------------------------------


def _absent_cell(col: Column, check: str, spec: dict[str, Any]) -> Cell:
    symbol, text = STATES["absent"]
    if col.lane > 0 and spec.get("needs") == "provider":
        tip = "provider-level check: shown in the provider's first column"
    else:
        tip = "no result for this model (not configured for this capability)"
    return Cell(column=col.index, check=check, state="absent", symbol=symbol, text=text, tip=tip)


def _cell(col: Column, r: CheckResult, change: Change | None, flips: int, claimed: bool, evidence: int) -> Cell:
    symbol, text = STATES.get(r.status.value, ("?", r.status.value))
    exp = r.expected
    expected = r.as_expected and r.status is not Status.PASS
    if expected:
        text = f"{text} (expected)"
    tip = bounded(r.message, 200) if r.message else ""
    if expected and exp is not None:
        tip = bounded(f"known gap (expect:): {exp.reason or 'no reason given'}" + (f" — {tip}" if tip else ""), 300)
    return Cell(
        column=col.index,
        check=r.check,
        state=r.status.value,
        symbol=symbol,
        text=text,
        expected=expected,
        expectation={"status": exp.status.value, "reason": bounded(exp.reason, _TEXT), "link": bounded(exp.link, 500)}
        if exp
        else None,
        change=change.kind if change and change.kind != "removed" else None,
        baseline=change.old.value if change and change.old else None,
        flips=flips,
        claimed=claimed,
        model=r.model,
        tip=tip,
        evidence=evidence,
    )


def _claimed_keys(run: RunResults, claims: list[Claim]) -> set[tuple[str, str | None, str]]:
    """Result keys covered by a true claim (the cell gets a "claimed" marker)."""
    out: set[tuple[str, str | None, str]] = set()
    known = {r.check for r in run.results}
    for c in claims:
        if c.claimed:
            for check in claim_targets(c.key, run.catalog, known):
                out.add((c.provider, c.model, check))
                out.add((c.provider, None, check))
    return out


def _area_summary(rows: list[Row], columns: list[Column]) -> tuple[AreaCell, ...]:
    out = []
    for col in columns:
        cells = [(row, row.cells[col.index]) for row in rows]
        evaluated = [(row, c) for row, c in cells if c.state not in ("absent", "skipped")]
        out.append(
            AreaCell(
                column=col.index,
                passed=sum(1 for _, c in evaluated if c.state == "pass"),
                evaluated=len(evaluated),
                must_bad=sum(1 for row, c in evaluated if row.level == "must" and c.state != "pass" and not c.expected),
                expected=sum(1 for _, c in evaluated if c.expected),
            )
        )
    return tuple(out)


# --- providers and header -----------------------------------------------------------------------


def _provider_view(
    run: RunResults,
    name: str,
    results: list[CheckResult],
    columns: list[Column],
    claims: list[Claim],
    past: list[HistoryEntry],
    changes: dict[tuple[str, str | None, str], Change],
) -> ProviderView:
    entry = provider_entry(run, name)
    tokens = total_tokens(results)
    scores = level_scores(results)
    trend = None
    if past:
        series = [e.summary.get(name, {}) for e in past] + [scores]
        trend = Trend(
            started=tuple(e.started_at for e in past) + (run.run.started_at,),
            must=tuple(s["must"].share if "must" in s else None for s in series),
            overall=tuple(s["all"].share if "all" in s else None for s in series),
        )
    mine = [c for c in changes.values() if c.provider == name]
    return ProviderView(
        name=name,
        base_url=bounded(entry.get("base_url") or "", 200),
        tags=tuple(str(t) for t in entry.get("tags") or ()),
        columns=tuple(c.index for c in columns if c.provider == name),
        skipped=provider_skipped(entry, results),
        scores=scores,
        counts={s.value: sum(1 for r in results if r.status is s) for s in Status},
        claimed_broken=sum(1 for c in claims if c.provider == name and c.state == CLAIMED_BROKEN),
        tokens=tokens,
        cost=cost_usd(tokens, entry.get("prices")),
        median_latency_ms=median_latency_ms(results),
        median_ttft_ms=median_metric(results, "ttft_ms"),
        trend=trend,
        regressions=sum(1 for c in mine if c.kind == REGRESSION),
        fixes=sum(1 for c in mine if c.kind == "fix"),
        unsearched_secrets=_int((entry.get("redaction") or {}).get("unsearched")),
    )


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def _header(run: RunResults, providers: tuple[ProviderView, ...]) -> dict[str, Any]:
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


def _baseline_meta(baseline: RunResults | None) -> dict[str, Any] | None:
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


# --- evidence ---------------------------------------------------------------------------------


def _evidence(
    r: CheckResult,
    change: Change | None,
    flips: int,
    window: int,
    claimed: bool,
    others: list[CheckResult],
) -> dict[str, Any]:
    """The bounded, JSON-ready record a cell opens. Every string is untrusted provider output.
    What the check is (title, spec, rationale) is not repeated here: the page has it once per row."""
    budget = _BUDGET["pass" if r.status is Status.PASS else "fail"]
    ev = r.evidence
    return {
        "provider": r.provider,
        "model": r.model,
        "check": r.check,
        "level": r.level.value,
        "kind": r.kind.value,
        "status": r.status.value,
        "message": bounded(r.message, 2000),
        "expected": {
            "status": r.expected.status.value,
            "reason": bounded(r.expected.reason, _TEXT),
            "link": bounded(r.expected.link, 500),
            "matches": r.as_expected,
        }
        if r.expected
        else None,
        "duration_ms": _number(r.duration_ms),
        "metrics": _numbers(r.metrics),
        "tokens": {
            "prompt": r.tokens.prompt,
            "completion": r.tokens.completion,
            "total": r.tokens.total,
            "estimated": r.tokens.estimated,
        },
        "requests": r.requests,
        "retries": r.retries,
        "exchanges": [_exchange(x, budget) for x in ev.exchanges[: budget["exchanges"]]],
        "exchanges_omitted": max(0, len(ev.exchanges) - budget["exchanges"]),
        "schema_errors": [
            _flat(e, ("schema", "pointer", "rule", "message", "value", "severity"))
            for e in ev.schema_errors[: budget["items"]]
        ],
        "findings": [_flat(f, None) for f in ev.findings[: budget["items"]]],
        "notes": [bounded(n, _TEXT) for n in ev.notes[: budget["items"]]],
        "change": {"kind": change.kind, "old": change.old.value if change.old else None} if change else None,
        "flips": flips,
        "window": window,
        "claimed": claimed,
        "repeats": _repeats(r.repeats),
        "others": [
            {"model": o.model, "status": o.status.value, "message": bounded(o.message, 200)} for o in others[:5]
        ],
    }


def _repeats(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """--repeat N outcome: runs, passes, pass rate and its Wilson interval, each run's status."""
    if not isinstance(info, dict):
        return None
    out: dict[str, Any] = {
        k: info[k]
        for k in ("runs", "passes", "pass_rate", "wilson_low", "wilson_high")
        if _number(info.get(k)) is not None
    }
    statuses = info.get("statuses")
    if isinstance(statuses, list):
        out["statuses"] = [bounded(s, 20) for s in statuses[:100]]
    return out


def _exchange(x: Any, budget: dict[str, int]) -> dict[str, Any]:
    if not isinstance(x, dict):
        return {"error": bounded(x, _TEXT)}
    req, timing = _mapping(x.get("request")), _mapping(x.get("timing"))
    resp = x["response"] if isinstance(x.get("response"), dict) else None
    body = req.get("body")
    # compact here; the page pretty-prints JSON it can parse
    body_text = (
        body
        if isinstance(body, str)
        else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        if body is not None
        else ""
    )
    out: dict[str, Any] = {
        "request": {
            "method": bounded(req.get("method") or "", 20),
            "url": bounded(req.get("url") or "", 500),
            "headers": _headers(req.get("headers")),
            "body": bounded(body_text, budget["request"]),
        },
        "response": None,
        "error": bounded(x["error"], _TEXT) if x.get("error") else None,
        "timing": _numbers(timing),
        "curl": bounded(x.get("curl") or "", budget["request"] + 500),
    }
    if resp is not None:
        excerpt = resp.get("body_excerpt") or ""
        out["response"] = {
            "status": resp.get("status"),
            "headers": _headers(resp.get("headers")),
            "body": bounded(excerpt, budget["response"]),
            "body_bytes": resp.get("body_bytes"),
            "truncated": bool(resp.get("truncated")) or len(str(excerpt)) > budget["response"],
        }
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """Finite numbers only: JSON (and so JSON.parse) has no NaN or Infinity."""
    return {str(k): v for k, v in values.items() if _number(v) is not None}


def _headers(headers: Any) -> list[list[str]]:
    if not isinstance(headers, dict):
        return []
    return [[bounded(k, 100), bounded(v, 300)] for k, v in list(headers.items())[:40]]


def _flat(item: Any, keys: tuple[str, ...] | None) -> dict[str, str]:
    if not isinstance(item, dict):
        return {"message": bounded(item, _TEXT)}
    chosen = keys or tuple(item)[:8]
    return {k: bounded("" if item.get(k) is None else item.get(k), _TEXT) for k in chosen if k in item}


def script_json(value: Any) -> str:
    """JSON safe to place inside <script type="application/json">: no `<`, `>`, `&`, U+2028/9 raw.

    Those characters only occur inside JSON strings, where `\\u003c` etc. are equivalent escapes,
    so `JSON.parse` returns the original text while the HTML parser never sees `</script>` or `<!--`.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
