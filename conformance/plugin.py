"""The pytest plugin (registered through the `pytest11` entry point as `conformance`).

It adds the `conformance` option group, parametrizes `conformance.suite` by provider x model x
check (ids like `reference:ref-chat:stream.framing`), starts built-in servers (builtins.py) once
on the controller and hands their endpoints to xdist workers, fixes the run plan once pytest has
deselected (plan.py), runs the batches of every provider a process owns at once
(runner.ConcurrentBatches; under xdist whole providers are dealt to workers, distribution.py),
records one result per case as a JSON line the moment it finishes (every process its own part
file, flushed), and on the controller merges the parts into `results.json` and renders the
reports. It is inert unless the suite is being run, so it never interferes with other test
suites in the same environment.

Pytest outcome of a verdict: pass -> passed; fail/error -> failed (xfailed when `expect:` in
providers.yaml declares that status); unsupported and skipped -> skipped with the reason. Every
piece of provider text it prints goes through `textsafe.terminal_text`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from functools import partial
from typing import Any

import pytest

from conformance.builtins import start_builtins
from conformance.distribution import distribution_note, distribution_problem, make_scheduler
from conformance.finish import finalize
from conformance.plan import RunPlan, provider_of_nodeid
from conformance.progress import Progress, ProgressReporter, compact_output, summary_lines
from conformance.results import CheckResult, JsonLinesWriter, Status, clear_parts
from conformance.runner import Case, ConcurrentBatches, cases
from conformance.runstate import DEFAULT_HYPOTHESIS_EXAMPLES, RunState, state_from_config
from conformance.textsafe import terminal_text

SUITE_MARKERS = ("conformance.suite", os.path.join("conformance", "suite"))


STATE = pytest.StashKey[RunState]()
RESULT = pytest.StashKey[CheckResult]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "OpenAI-compatibility conformance suite")
    group.addoption("--providers", metavar="FILE", default=None, help="providers file (default: providers.yaml)")
    group.addoption("--only", metavar="NAME[,NAME]", default=None, help="run only these providers")
    group.addoption("--area", metavar="AREA[,AREA]", default=None, help="run only these check areas")
    group.addoption("--check", metavar="ID[,ID]", default=None, help="run only these check ids")
    group.addoption(
        "--conformance-out", metavar="DIR", default=None, help="where results.json and reports go (reports/latest)"
    )
    group.addoption("--no-reports", action="store_true", default=False, help="write results.json only")
    group.addoption(
        "--conformance-compact", action="store_true", default=False,
        help="no per-test letters: a line per provider as it finishes (conformance run's default; -v undoes it)",
    )
    group.addoption(
        "--hypothesis-examples", type=int, default=DEFAULT_HYPOTHESIS_EXAMPLES, metavar="N",
        help="examples per property-based (fuzz) check; small, so a run stays cheap",
    )
    group.addoption(
        "--repeat", type=int, default=1, metavar="N",
        help="run each check N times on fresh requests; disagreeing verdicts become `flaky` with a pass rate",
    )
    parser.addini("conformance_providers", "default providers file", default="providers.yaml")
    parser.addini("conformance_out", "default output directory", default="reports/latest")


def _suite_requested(config: pytest.Config) -> bool:
    if config.getoption("providers"):
        return True
    return any(any(m in str(arg) for m in SUITE_MARKERS) for arg in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): keep a provider's checks in one worker")
    if not _suite_requested(config):
        return
    state = state_from_config(config)
    if state.worker is None:
        dist = str(config.getoption("dist", "no") or "no")
        problem = distribution_problem(dist, forked=bool(getattr(config.option, "forked", False)))
        if problem:
            raise pytest.UsageError(problem)
        state.dist_note = distribution_note(dist)
        clear_parts(state.out_dir)
        _sigterm_interrupts()
        state.endpoints = start_builtins(state.selected(), state.stack)
    state.writer = JsonLinesWriter(state.out_dir / "parts" / f"results-{state.worker or 'main'}.jsonl")
    if state.worker is None and (_live_terminal(config) or compact_output(config)):
        state.progress = Progress()
        reporter = ProgressReporter(state.progress, config, live=_live_terminal(config))
        config.pluginmanager.register(reporter, "conformance-progress")
    config.stash[STATE] = state


def _live_terminal(config: pytest.Config) -> bool:
    return sys.stdout.isatty() and config.getoption("verbose") <= 0 and not os.environ.get("CI")


def _sigterm_interrupts() -> None:
    """A CI timeout sends SIGTERM: turn it into KeyboardInterrupt so pytest finishes the session
    (sessionfinish runs, results.json and the reports are written, marked incomplete)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def pytest_report_header(config: pytest.Config) -> str | None:
    state = config.stash.get(STATE, None)
    return f"conformance: {state.dist_note}" if state is not None and state.dist_note else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist hook (controller): hand the started servers to each worker."""
    state = node.config.stash.get(STATE, None)
    if state is not None:
        node.workerinput["conformance_endpoints"] = json.dumps(state.endpoints)
        node.workerinput["conformance_started"] = str(state.started)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist hook (controller): whole providers per worker, all dealt out at once (distribution.py)."""
    state = config.stash.get(STATE, None)
    return make_scheduler(config, log, state.out_dir) if state is not None else None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist hook (controller): collect the skip reasons a worker found (for results.json)."""
    state = node.config.stash.get(STATE, None)
    output = getattr(node, "workeroutput", None) or {}
    if state is not None and "conformance_skip_reasons" in output:
        state.skip_reasons.update(json.loads(output["conformance_skip_reasons"]))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash.get(STATE, None)
    if state is None:
        raise pytest.UsageError("the conformance suite needs --providers FILE (or a providers.yaml here)")
    params = []
    for provider in state.selected():
        for case in cases(provider, state.checks, state.areas):
            params.append(pytest.param(case, id=case.id, marks=pytest.mark.xdist_group(provider.name)))
    metafunc.parametrize("conformance_case", params)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Fix the plan from the items left once every deselection (-k, -m, --deselect, plugins) is done."""
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    state.plan = RunPlan.from_items(session.items)
    if state.progress is not None:
        state.progress.count([item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist hook (controller): every worker collects (and deselects) the same; count one list."""
    state = node.config.stash.get(STATE, None)
    if state is not None and state.progress is not None and not state.progress.totals:
        state.progress.count(list(ids))


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    state = config.stash.get(STATE, None)
    if state is None or state.progress is None or provider_of_nodeid(report.nodeid) is None:
        return None
    if hasattr(report, "wasxfail"):
        return ("xfailed", "", "") if report.skipped else ("xpassed", "", "")
    if report.when == "call" or report.failed or report.skipped:
        return (report.outcome, "", "")
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach each verdict's evidence to the report: pytest-html shows it as extras (already
    redacted and bounded), and the check id/status become junit properties."""
    outcome = yield
    report = outcome.get_result()
    result = item.stash.get(RESULT, None)
    if result is None or report.when != "call":
        return
    report.user_properties.append(("conformance.status", result.status.value))
    if item.config.pluginmanager.hasplugin("html") and item.config.getoption("htmlpath", None):
        # Only when a pytest-html report is written: serialising every verdict's evidence is not free.
        from pytest_html import extras

        evidence = {"message": result.message, "evidence": result.to_dict()["evidence"], "metrics": result.metrics}
        report.extras = [*getattr(report, "extras", []), extras.json(evidence, name="evidence")]
        curls = [ex.curl for ex in result.evidence.exchanges if ex.curl]
        if curls:
            report.extras.append(extras.text("\n\n".join(curls), name="curl"))


@pytest.fixture(scope="session")
def conformance_state(request: pytest.FixtureRequest) -> RunState:
    return request.config.stash[STATE]


def execute(state: RunState, case: Case) -> CheckResult:
    """The verdict of one case. The first case a process runs starts the batches of every provider
    the process owns, all at once (each recorded, flushed, as it finishes); every case then waits
    for its own verdict. A case is sent once per run: a re-run item gets the verdict it had."""
    if state.batches is None:
        state.batches = ConcurrentBatches(state.repeat, sink=partial(_record, state))
    if not state.batches.started(case.provider):
        if state.plan is None:  # an item run without pytest finishing a collection: this case alone
            state.plan = RunPlan.from_cases([case])
        for provider in state.owned(case.provider):
            state.batches.start(provider, state.cases(provider), partial(state.open_session, provider),
                                state.recorded(provider))
    return state.batches.result(case)


def _record(state: RunState, case: Case, result: CheckResult) -> None:
    with state.record_lock:
        if state.writer is not None:  # closed: the session is over, the record would be lost anyway
            state.writer.write(result)


def report_outcome(result: CheckResult) -> None:
    """Map a verdict to pytest's outcome (see the module docstring); the label is terminal-safe."""
    label = terminal_text(f"[{result.check}] {result.status.value}: {result.message}", one_line=True)
    if result.status is Status.PASS:
        return
    if result.status in (Status.SKIPPED, Status.UNSUPPORTED):
        pytest.skip(label)
    if result.as_expected:
        exp = result.expected
        pytest.xfail(f"{label} (expected: {terminal_text(f'{exp.reason} {exp.link}', one_line=True)})".strip())
    pytest.fail(label, pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    if state.batches is not None:
        state.batches.stop()  # nothing new starts; what runs now is no longer recorded
    with state.record_lock:
        if state.writer is not None:
            state.writer.close()
            state.writer = None
    for s in list(state.sessions.values()):
        s.close()
    if hasattr(session.config, "workerinput"):
        session.config.workeroutput["conformance_skip_reasons"] = json.dumps(state.skip_reasons)
        return
    reason = None
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        reason = "interrupted (Ctrl-C or SIGTERM) before every check finished"
    elif session.shouldstop:
        reason = f"stopped early: {session.shouldstop}"
    finalize(state, session.config, incomplete_reason=reason)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.stack.close()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line per provider: verdict counts, median latency and TTFT, tokens; then where the files are."""
    state = config.stash.get(STATE, None)
    if state is None or state.final is None or hasattr(config, "workerinput"):
        return
    terminalreporter.section("conformance")
    if state.dist_note:
        terminalreporter.write_line(f"note: {state.dist_note}")
    for line in summary_lines(state.selected(), state.final.results, state.skip_reasons):
        terminalreporter.write_line(line)
    out = terminal_text(state.out_dir, one_line=True)
    terminalreporter.write_line(f"results: {out}/results.json  report: {out}/matrix.html")
