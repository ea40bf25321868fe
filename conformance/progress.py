"""What a run shows on the terminal while it runs and at its end (controller only).

Live, on a TTY (not under -v, not in CI): one line redrawn in place as cases finish,
`reference 40/68 ✗2 · groq 12/68 · 11 providers skipped`. Compact (`conformance run`'s default,
`--conformance-compact`; for CI logs, where nothing can be redrawn): a line per provider when its
last case finishes. In both, pytest's per-test letters are silenced (plugin.py's
pytest_report_teststatus); plain pytest, and -v, keep pytest's own output. At the end,
`summary_lines`: a line per provider with its verdicts, median latency, TTFT and tokens.
Provider names and reasons are shown through `terminal_text`: they come from a providers file,
which may come from anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from conformance.plan import provider_of_nodeid
from conformance.textsafe import terminal_text

if TYPE_CHECKING:
    from conformance.providers import Provider
    from conformance.results import CheckResult


def compact_output(config: pytest.Config) -> bool:
    """`conformance run` without -v: no per-test letters, a line per provider as it finishes."""
    return bool(config.getoption("conformance_compact", False)) and config.getoption("verbose") <= 0


@dataclass
class Progress:
    """Per-provider counts of planned, finished, failed and skipped cases."""

    totals: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def count(self, nodeids: list[str]) -> None:
        """Plan the given (selected) node ids; counting again replaces the earlier plan."""
        self.totals = {}
        for nodeid in nodeids:
            provider = provider_of_nodeid(nodeid)
            if provider:
                self.totals[provider] = self.totals.get(provider, 0) + 1

    def update(self, report: pytest.TestReport) -> None:
        provider = provider_of_nodeid(report.nodeid)
        if not provider:
            return
        self.done[provider] = self.done.get(provider, 0) + 1
        if report.failed:
            self.failed[provider] = self.failed.get(provider, 0) + 1
        elif report.skipped and not hasattr(report, "wasxfail"):
            self.skipped[provider] = self.skipped.get(provider, 0) + 1

    def finished(self, provider: str) -> bool:
        return self.done.get(provider, 0) >= self.totals.get(provider, 0) > 0

    def provider_line(self, provider: str) -> str | None:
        """`reference: 69 checks done, 2 failed`, or None for a provider whose every check was skipped."""
        done, skipped = self.done.get(provider, 0), self.skipped.get(provider, 0)
        if skipped == done:
            return None
        fails = self.failed.get(provider, 0)
        return f"{terminal_text(provider, 80, one_line=True)}: {done} checks done" + (f", {fails} failed" if fails else "")

    def line(self, width: int) -> str:
        parts, idle = [], 0
        for provider, total in self.totals.items():
            done = self.done.get(provider, 0)
            if done and self.skipped.get(provider, 0) == done == total:
                idle += 1
                continue
            fails = self.failed.get(provider, 0)
            parts.append(f"{terminal_text(provider, 80, one_line=True)} {done}/{total}" + (f" ✗{fails}" if fails else ""))
        if idle:
            parts.append(f"{idle} providers skipped")
        text = " · ".join(parts)
        return text if len(text) < width else text[: width - 2] + "…"


class ProgressReporter:
    """Shows progress after each finished case (a registered plugin: it needs config): the live
    line redrawn in place, or (not live) a line per provider once it is done."""

    def __init__(self, progress: Progress, config: pytest.Config, live: bool = True) -> None:
        self.progress, self.config, self.live = progress, config, live

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" or (report.when == "setup" and not (report.failed or report.skipped)):
            return
        if report.when == "call" or report.failed or report.skipped:
            self.progress.update(report)
        tr = self._terminal()
        if tr is None:
            return
        if self.live:
            width = tr._tw.fullwidth
            tr._tw.write("\r" + self.progress.line(width - 1).ljust(width - 1))
            return
        provider = provider_of_nodeid(report.nodeid)
        if provider and self.progress.finished(provider):
            line = self.progress.provider_line(provider)
            if line:
                tr._tw.line(line)

    def pytest_sessionfinish(self) -> None:
        tr = self._terminal()
        if tr is not None and self.live:
            tr._tw.line()

    def _terminal(self) -> Any:
        return self.config.pluginmanager.get_plugin("terminalreporter")


def summary_lines(
    providers: Iterable[Provider], results: Iterable[CheckResult], skip_reasons: Mapping[str, str | None]
) -> list[str]:
    """One line per provider, in the run's order: skipped with the reason, or verdict counts,
    median latency and TTFT, and tokens."""
    from conformance.report.scores import median_metric
    from conformance.results import Status

    by_provider: dict[str, list[CheckResult]] = {}
    for r in results:
        by_provider.setdefault(r.provider, []).append(r)
    lines = []
    for provider in providers:
        name = terminal_text(provider.name, 80, one_line=True)
        skipped = skip_reasons.get(provider.name)
        if skipped:
            lines.append(f"{name}: skipped ({terminal_text(skipped, 300, one_line=True)})")
            continue
        mine = by_provider.get(provider.name, [])
        counts = {s: sum(r.status is s for r in mine) for s in Status}
        shown = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        latency, ttft = median_metric(mine, "latency_ms"), median_metric(mine, "ttft_ms")
        timing = f"median latency {latency:.0f} ms" if latency is not None else "no latency"
        if ttft is not None:
            timing += f", TTFT {ttft:.0f} ms"
        lines.append(f"{name}: {len(mine)} checks: {shown}; {timing}; {sum(r.tokens.total for r in mine):,} tokens")
    return lines
