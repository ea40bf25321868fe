"""Benchmark the report: a synthetic 40 providers x 60 checks run with a 30-run history.

Run by hand:  python benchmarks/report_bench.py [--providers 40] [--checks 60] [--history 30] [--repeat 5]

Prints the time of `write_reports` (min and median of --repeat runs, history loading included),
its parts (view model, HTML, Markdown), and the sizes of matrix.html and summary.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.report import append_history, load_history, write_reports
from conformance.report.html import render_matrix
from conformance.report.markdown import render_summary
from conformance.report.matrix import build_matrix
from conformance.report.samples import synthetic_history


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--providers", type=int, default=40)
    ap.add_argument("--checks", type=int, default=60)
    ap.add_argument("--history", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="write the reports here and keep them")
    args = ap.parse_args()

    t0 = time.perf_counter()
    nights = synthetic_history(args.history + 1, n_providers=args.providers, n_checks=args.checks)
    run, baseline = nights[-1], nights[-2]
    setup = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "out"
        history_dir = Path(tmp) / "history"
        for night in nights[:-1]:
            append_history(night, history_dir)
        history_bytes = sum(p.stat().st_size for p in history_dir.iterdir())
        history = load_history(history_dir)

        best, median, paths = timed(
            lambda: write_reports(run, out, history_dir=history_dir, baseline=baseline), args.repeat
        )
        b_model, _, matrix = timed(lambda: build_matrix(run, history=history, baseline=baseline), args.repeat)
        b_html, _, _ = timed(lambda: render_matrix(matrix), args.repeat)
        b_md, _, _ = timed(lambda: render_summary(matrix), args.repeat)
        html_size = paths["html"].stat().st_size
        md_size = paths["markdown"].stat().st_size

    print(
        f"run: {args.providers} providers x {args.checks} checks = {len(run.results)} results "
        f"(synthetic data built in {setup:.1f} s)"
    )
    print(f"history: {args.history} runs, {history_bytes / 1024:.0f} KiB on disk")
    print(f"write_reports: min {best * 1000:.0f} ms, median {median * 1000:.0f} ms over {args.repeat} runs")
    print(f"  view model {b_model * 1000:.0f} ms · HTML {b_html * 1000:.0f} ms · Markdown {b_md * 1000:.0f} ms (min)")
    print(f"matrix.html: {html_size / 1024 / 1024:.2f} MiB ({html_size:,} bytes)")
    print(f"summary.md: {md_size / 1024:.1f} KiB ({md_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
