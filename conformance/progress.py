"""The live progress line on a terminal: one compact line per run, redrawn as cases finish.

`reference 40/68 ✗2 · groq 12/68 · 11 providers skipped`. Controller only, and only on a TTY
(not under -v, not in CI): there the per-test letters of -q are silenced (plugin.py's
pytest_report_teststatus) and this line is redrawn in place; in CI logs pytest's own output is
left exactly as it is. Provider names are shown through `terminal_text`: they come from a
providers file, which may come from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.plan import provider_of_nodeid
from conformance.textsafe import terminal_text


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
    """Redraws the progress line after each finished case (a registered plugin: it needs config)."""

    def __init__(self, progress: Progress, config: pytest.Config) -> None:
        self.progress, self.config = progress, config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" or (report.when == "setup" and not (report.failed or report.skipped)):
            return
        if report.when == "call" or report.failed or report.skipped:
            self.progress.update(report)
        tr = self._terminal()
        if tr is not None:
            width = tr._tw.fullwidth
            tr._tw.write("\r" + self.progress.line(width - 1).ljust(width - 1))

    def pytest_sessionfinish(self) -> None:
        tr = self._terminal()
        if tr is not None:
            tr._tw.line()

    def _terminal(self) -> Any:
        return self.config.pluginmanager.get_plugin("terminalreporter")
