"""Reports: results.json -> matrix.html and summary.md, plus diff, merge, history and the adoption gate.

Data flows one way: `RunResults` (conformance.results) -> `matrix.build_matrix` (a view model of
plain data: the grid, with `overview` for the header and provider summaries and `payload` for the
evidence each cell opens) -> `html` / `markdown` renderers. `diff`, `merge`, `history` and `gate` read
`RunResults` too and never touch markup. The CLI (conformance.cli) calls the functions exported here.
"""

from __future__ import annotations

from pathlib import Path

from conformance.report.diff import RunDiff, diff_runs
from conformance.report.gate import BUILTIN_POLICIES, GateResult, evaluate_policy, fallback_chain
from conformance.report.history import HistoryEntry, append_history, flip_counts, load_history
from conformance.report.html import render_html, render_matrix
from conformance.report.markdown import render_markdown, render_summary
from conformance.report.matrix import build_matrix
from conformance.report.merge import merge_runs
from conformance.results import RunResults, atomic_write_text

HISTORY_LIMIT = 30


def write_reports(
    run: RunResults,
    out_dir: Path,
    *,
    history_dir: Path | None = None,
    baseline: RunResults | None = None,
) -> dict[str, Path]:
    """Write matrix.html and summary.md into `out_dir`; returns {"html": path, "markdown": path}.

    With `history_dir`, the last HISTORY_LIMIT runs found there draw the trend strips (a history
    file of this same run is not counted twice). This function does not append to the history:
    call `append_history` for that, before or after.
    """
    out = Path(out_dir)
    history = load_history(history_dir, HISTORY_LIMIT) if history_dir is not None else []
    matrix = build_matrix(run, history=history, baseline=baseline)
    paths = {"html": out / "matrix.html", "markdown": out / "summary.md"}
    atomic_write_text(paths["html"], render_matrix(matrix))
    atomic_write_text(paths["markdown"], render_summary(matrix))
    return paths


__all__ = [
    "BUILTIN_POLICIES",
    "GateResult",
    "HistoryEntry",
    "RunDiff",
    "append_history",
    "build_matrix",
    "diff_runs",
    "evaluate_policy",
    "fallback_chain",
    "flip_counts",
    "load_history",
    "merge_runs",
    "render_html",
    "render_markdown",
    "write_reports",
]
