"""The end of a run: worker parts merged into results.json (atomically), run metadata, the reports.

What lives here: `finalize`, `run_metadata` and the provider entries of results.json. What does
not: recording one result as it finishes (the part-file writer in results.py, called by the plugin).
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, client_envs
from conformance.catalog import load_catalog
from conformance.providers import Provider
from conformance.results import RunMetadata, RunResults, read_json_lines, write_results
from conformance.runstate import RunState


def finalize(state: RunState, config: pytest.Config | None, incomplete_reason: str | None = None) -> RunResults:
    """Merge worker parts into results.json (atomically) and render the reports."""
    # Oldest part first, and the last record of a case wins: when xdist replaces a crashed worker,
    # the replacement runs that provider's batch again, and its records supersede the dead one's.
    parts = sorted((state.out_dir / "parts").glob("results-*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
    latest = {(r.provider, r.model, r.check): r for r in read_json_lines(parts)}
    results = tuple(latest.values())
    run = RunResults(
        run=run_metadata(state, config, incomplete_reason),
        providers=tuple(_provider_entry(state, p) for p in state.selected()),
        catalog=load_catalog().snapshot(),
        results=results,
    )
    write_results(state.out_dir / "results.json", run)
    state.final = run
    if state.write_outputs:
        try:
            from conformance.report import write_reports

            write_reports(run, state.out_dir)
        except ImportError:
            pass
    return run


def _provider_entry(state: RunState, provider: Provider) -> dict[str, Any]:
    entry = provider.summary()
    reason = state.skip_reasons.get(provider.name)
    entry["status"] = "skipped" if reason else "active"
    entry["skip_reason"] = reason
    return entry


def run_metadata(state: RunState, config: pytest.Config | None, incomplete_reason: str | None) -> RunMetadata:
    now = time.time()
    workers = 0
    if config is not None:
        workers = int(getattr(config.option, "numprocesses", 0) or 0)
    return RunMetadata(
        started_at=_iso(state.started),
        finished_at=_iso(now),
        duration_s=round(now - state.started, 3),
        suite_version=__version__,
        catalog_version=load_catalog().version,
        git_commit=_git_commit(),
        providers_file=state.providers.path,
        providers_sha256=state.providers.sha256,
        python=platform.python_version(),
        openai=_version_of("openai"),
        clients=client_envs.installed_versions(),
        platform=f"{platform.system()} {platform.machine()}",
        argv=tuple(sys.argv[1:])[:40],
        workers=workers,
        options={**state.options, "repeat": state.repeat},
        incomplete=incomplete_reason is not None,
        incomplete_reason=incomplete_reason,
    )


def _version_of(distribution: str) -> str:
    """An installed package's version without importing it (importing openai costs ~0.6 s)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
