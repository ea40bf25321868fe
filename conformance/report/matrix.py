"""results -> the matrix view model: plain frozen data that the HTML and Markdown renderers read.

What lives here: how results are laid out (providers and their models as columns, checks grouped
by area as rows), what each cell says (status, symbol, text, expectation, change against a
baseline, flakiness, claim), per-area and per-provider summaries, trend points from history,
the bounded evidence payload a cell opens, and the client-impact view (built by clients.py, pointing
at that payload). What does not: any markup (templates/ and markdown.py).

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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.report.claims import CLAIMED_BROKEN, Claim, claim_targets, evaluate_claims
from conformance.report.clients import ClientImpact, build_client_impact
from conformance.report.diff import REGRESSION, Change, Key, RunDiff, diff_runs
from conformance.report.history import HistoryEntry, entry_from_run, flip_counts
from conformance.report.overview import ProviderView, Trend, baseline_meta, provider_view, run_header  # noqa: F401
from conformance.report.payload import TEXT, cell_evidence, script_json  # noqa: F401 - re-exported for renderers
from conformance.report.scores import bounded, by_provider, worst
from conformance.providers import CAPABILITIES
from conformance.results import CatalogEntry, CheckResult, Expectation, RunResults, Status

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
# Areas named like the capability their checks need (older results.json files have no `needs`).
AREA_CAPABILITIES = frozenset(CAPABILITIES)
UNSTABLE_FLIPS = 3  # status changes over the history window that mark a cell unstable (more than one blip)


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
    cell_index: dict[Key, int] = field(default_factory=dict)  # result key -> evidence index
    clients: ClientImpact = field(default_factory=ClientImpact)  # "will my stack work?" (clients.py)

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
    run_diff = diff_runs(baseline, run) if baseline is not None else None
    changes = run_diff.by_key() if run_diff else {}
    past = [e for e in history if e.started_at != run.run.started_at]
    claims = evaluate_claims(run)
    marks = _Marks(
        changes=changes,
        flips=flip_counts([*past, entry_from_run(run)]) if past else {},
        claimed=_claimed_keys(run, claims),
        window=len(past) + 1,
    )
    layout = _layout(run)
    sink = _EvidenceSink()
    areas = _areas(run, layout, marks, sink)
    providers = tuple(
        provider_view(run, name, results, tuple(c.index for c in layout.columns if c.provider == name), claims, past,
                      changes)
        for name, results in by_provider(run).items()
    )
    return Matrix(
        header=run_header(run, providers),
        columns=layout.columns,
        providers=providers,
        areas=areas,
        claims=tuple(claims),
        changes=_ordered_changes(run_diff),
        catalog_warning=run_diff.catalog_mismatch if run_diff else None,
        evidence=tuple(sink.evidence),
        totals=_totals(run, claims, changes),
        history_runs=len(past),
        baseline=baseline_meta(baseline),
        cell_index=sink.index,
        clients=build_client_impact(run, sink.index),
    )


@dataclass(frozen=True)
class _Marks:
    """What marks a cell besides its verdict: a change against the baseline, flips over the history
    window, a true claim covering it."""

    changes: dict[Key, Change]
    flips: dict[Key, int]
    claimed: set[Key]
    window: int  # runs the flips were counted over (the history and this run)


@dataclass(frozen=True)
class _Layout:
    """The columns, and which results sit in each (column, check) slot."""

    columns: tuple[Column, ...]
    slots: dict[tuple[int, str], list[CheckResult]]


class _EvidenceSink:
    """Collects the evidence payload of each drawn cell, and the index a result key has in it."""

    def __init__(self) -> None:
        self.evidence: list[dict[str, Any]] = []
        self.index: dict[Key, int] = {}

    def add(self, result: CheckResult, marks: _Marks, others: list[CheckResult]) -> int:
        index = self.index[result.key] = len(self.evidence)
        key = result.key
        self.evidence.append(cell_evidence(
            result, others, change=marks.changes.get(key), flips=marks.flips.get(key, 0), window=marks.window,
            claimed=key in marks.claimed,
        ))
        return index


def _ordered_changes(run_diff: RunDiff | None) -> tuple[Change, ...]:
    """Regressions first, then fixes, other changes, results added, results removed."""
    if run_diff is None:
        return ()
    return (*run_diff.regressions, *run_diff.fixes, *run_diff.changes, *run_diff.added, *run_diff.removed)


def _totals(run: RunResults, claims: list[Claim], changes: dict[Key, Change]) -> dict[str, int]:
    totals = {s.value: sum(1 for r in run.results if r.status is s) for s in Status}
    totals["expected"] = sum(1 for r in run.results if r.as_expected and r.status is not Status.PASS)
    totals["claimed_broken"] = sum(1 for c in claims if c.state == CLAIMED_BROKEN)
    totals["regressions"] = sum(1 for c in changes.values() if c.kind == REGRESSION)
    return totals


# --- layout ------------------------------------------------------------------------------------


def _layout(run: RunResults) -> _Layout:
    """One column per provider lane; each result goes to its provider's lane for its model."""
    columns: list[Column] = []
    lane_of: dict[Key, int] = {}
    for provider, results in by_provider(run).items():
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
    return _Layout(tuple(columns), slots)


def _capability(run: RunResults, r: CheckResult) -> str:
    entry = run.catalog.get(r.check)
    if entry is not None and entry.needs:
        return entry.needs
    if r.model is None:
        return "provider"
    return r.area if r.area in AREA_CAPABILITIES else "chat"


def _models_by_capability(run: RunResults, provider: str, results: list[CheckResult]) -> dict[str, list[str]]:
    entry = run.provider(provider)
    out = {cap: list(names) for cap, names in entry.models.items()} if entry is not None else {}
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


# --- rows ---------------------------------------------------------------------------------------


def _areas(run: RunResults, layout: _Layout, marks: _Marks, sink: _EvidenceSink) -> tuple[Area, ...]:
    """Rows grouped by area, in catalog order; a check no provider has a result for is not drawn."""
    ran = {r.check for r in run.results}
    checks = [c for c in dict.fromkeys([*run.catalog, *(r.check for r in run.results)]) if c in ran]
    rows_by_area: dict[str, list[Row]] = {}
    for order, check in enumerate(checks):
        row = _row(run, check, order, layout, marks, sink)
        rows_by_area.setdefault(row.area, []).append(row)
    return tuple(Area(name, tuple(rows), _area_summary(rows, layout.columns)) for name, rows in rows_by_area.items())


def _row(run: RunResults, check: str, order: int, layout: _Layout, marks: _Marks, sink: _EvidenceSink) -> Row:
    entry = run.catalog.get(check)
    cells = tuple(_slot_cell(col, check, entry, layout.slots.get((col.index, check), []), marks, sink)
                  for col in layout.columns)
    return Row(
        check=check,
        area=entry.area if entry is not None and entry.area else check.split(".", 1)[0],
        level=entry.level.value if entry is not None else _first_level(run, check),
        kind=entry.kind.value if entry is not None else "",
        title=entry.title if entry is not None and entry.title else check,
        spec=entry.spec if entry is not None else "",
        rationale=entry.rationale if entry is not None else "",
        cells=cells,
        order=order,
    )


def _first_level(run: RunResults, check: str) -> str:
    """The level a check's results say it has, for a check the catalog snapshot does not list."""
    return next((r.level.value for r in run.results if r.check == check), "may")


# --- cells ------------------------------------------------------------------------------------


def _slot_cell(
    col: Column, check: str, entry: CatalogEntry | None, results: list[CheckResult], marks: _Marks, sink: _EvidenceSink
) -> Cell:
    """The cell of one (column, check) slot: its worst result, the others listed in its evidence."""
    result = worst(results)
    if result is None:
        return _absent_cell(col, check, entry)
    evidence = sink.add(result, marks, [r for r in results if r is not result])
    return _cell(col, result, marks, evidence)


def _absent_cell(col: Column, check: str, entry: CatalogEntry | None) -> Cell:
    symbol, text = STATES["absent"]
    if col.lane > 0 and entry is not None and entry.needs == "provider":
        tip = "provider-level check: shown in the provider's first column"
    else:
        tip = "no result for this model (not configured for this capability)"
    return Cell(column=col.index, check=check, state="absent", symbol=symbol, text=text, tip=tip)


def _cell(col: Column, r: CheckResult, marks: _Marks, evidence: int) -> Cell:
    symbol, text = STATES.get(r.status.value, ("?", r.status.value))
    change = marks.changes.get(r.key)
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
        expectation={"status": _statuses(exp), "reason": bounded(exp.reason, TEXT), "link": bounded(exp.link, 500)}
        if exp
        else None,
        change=change.kind if change and change.kind != "removed" else None,
        baseline=change.old.value if change and change.old else None,
        flips=marks.flips.get(r.key, 0),
        claimed=r.key in marks.claimed,
        model=r.model,
        tip=tip,
        evidence=evidence,
    )


def _claimed_keys(run: RunResults, claims: list[Claim]) -> set[Key]:
    """Result keys covered by a true claim (the cell gets a "claimed" marker)."""
    out: set[Key] = set()
    known = {r.check for r in run.results}
    for c in claims:
        if c.claimed:
            for check in claim_targets(c.key, run.catalog, known):
                out.add((c.provider, c.model, check))
                out.add((c.provider, None, check))
    return out


def _area_summary(rows: list[Row], columns: tuple[Column, ...]) -> tuple[AreaCell, ...]:
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


def _statuses(exp: Expectation) -> str:
    """The expected status, or `fail | pass` when an expectation allows several (a flaky case)."""
    return " | ".join(s.value for s in Status if exp.allows(s))
