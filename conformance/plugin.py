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

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.builtins import start_builtins
from conformance.catalog import load_catalog
from conformance.checks import Session
from conformance.distribution import distribution_note, distribution_problem, make_scheduler, read_owned
from conformance.plan import RunPlan, provider_of_nodeid
from conformance.progress import Progress, ProgressReporter
from conformance.providers import ConfigError, Provider, ProvidersFile, load_providers
from conformance.results import (
    CheckResult,
    JsonLinesWriter,
    RunMetadata,
    RunResults,
    Status,
    read_json_lines,
    write_results,
)
from conformance.runner import Case, ConcurrentBatches, cases, provider_skip_reason
from conformance.textsafe import terminal_text

SUITE_MARKERS = ("conformance.suite", os.path.join("conformance", "suite"))


@dataclass
class RunState:
    """Everything the plugin keeps for one pytest run (in config.stash)."""

    providers: ProvidersFile
    out_dir: Path
    only: set[str] | None
    areas: set[str] | None
    checks: set[str] | None
    started: float = field(default_factory=time.time)
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    skip_reasons: dict[str, str | None] = field(default_factory=dict)
    writer: JsonLinesWriter | None = None
    record_lock: threading.Lock = field(default_factory=threading.Lock)
    stack: ExitStack = field(default_factory=ExitStack)
    write_outputs: bool = True
    repeat: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None  # the xdist worker id; None on the controller or without xdist
    plan: RunPlan | None = None
    batches: ConcurrentBatches | None = None
    progress: Progress | None = None
    dist_note: str | None = None
    final: RunResults | None = None

    def provider(self, name: str) -> Provider:
        p = self.providers.get(name)
        ep = self.endpoints.get(name)
        return p.with_endpoint(ep["base_url"], ep["api_key"]) if ep else p

    def session(self, name: str) -> Session:
        if name not in self.sessions:
            self.sessions[name] = Session(self.provider(name), options=self.options)
        return self.sessions[name]

    def skip_reason(self, name: str) -> str | None:
        if name not in self.skip_reasons:
            provider = self.provider(name)
            if provider.builtin and name not in self.endpoints:
                self.skip_reasons[name] = f"built-in {provider.builtin} server was not started"
            else:
                self.skip_reasons[name] = None if provider.builtin else provider_skip_reason(provider)
        return self.skip_reasons[name]

    def open_session(self, name: str) -> tuple[Session, str | None]:
        """The provider's session and why it is skipped (may probe the network: called in its batch thread)."""
        return self.session(name), self.skip_reason(name)

    def selected(self) -> list[Provider]:
        return [p for p in self.providers.providers if self.only is None or p.name in self.only]

    def owned(self, provider: str) -> tuple[str, ...]:
        """The providers this process runs, `provider` among them: every one in the plan, or on an
        xdist worker the share the scheduler gave it (or just `provider` if no share was written)."""
        planned = self.plan.providers if self.plan is not None else ()
        if self.worker is None:
            return tuple(dict.fromkeys((*planned, provider)))
        share = read_owned(self.out_dir, self.worker) or ()
        return tuple(dict.fromkeys((*(p for p in share if p in planned), provider)))

    def recorded(self, provider: str) -> dict[str, CheckResult]:
        """Verdicts this run already recorded for `provider` (by a worker that died), by case id."""
        if self.worker is None:
            return {}
        ids = {(c.provider, c.model.name if c.model else None, c.spec.id): c.id for c in self.cases(provider)}
        parts = sorted((self.out_dir / "parts").glob("results-*.jsonl"))
        return {ids[key]: r for r in read_json_lines(parts) if (key := (r.provider, r.model, r.check)) in ids}

    def cases(self, provider: str) -> tuple[Case, ...]:
        return self.plan.cases(provider) if self.plan is not None else ()


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
        "--hypothesis-examples", type=int, default=5, metavar="N",
        help="examples per property-based (fuzz) check; small, so a run stays cheap",
    )
    group.addoption(
        "--repeat", type=int, default=1, metavar="N",
        help="run each check N times on fresh requests; disagreeing verdicts become `flaky` with a pass rate",
    )
    parser.addini("conformance_providers", "default providers file", default="providers.yaml")
    parser.addini("conformance_out", "default output directory", default="reports/latest")


def _split(value: str | None) -> set[str] | None:
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _suite_requested(config: pytest.Config) -> bool:
    if config.getoption("providers"):
        return True
    return any(any(m in str(arg) for m in SUITE_MARKERS) for arg in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): keep a provider's checks in one worker")
    if not _suite_requested(config):
        return
    path = config.getoption("providers") or config.getini("conformance_providers")
    try:
        providers = load_providers(path)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    out = Path(config.getoption("conformance_out") or config.getini("conformance_out"))
    worker = getattr(config, "workerinput", None)
    state = RunState(
        providers=providers,
        out_dir=out,
        only=_split(config.getoption("only")),
        areas=_split(config.getoption("area")),
        checks=_split(config.getoption("check")),
        write_outputs=not config.getoption("no_reports"),
        repeat=max(1, config.getoption("repeat")),
        options={
            "hypothesis_examples": config.getoption("hypothesis_examples"),
            # hypothesis' own pytest plugin owns --hypothesis-seed; we honour it, with a fixed default
            "hypothesis_seed": int(config.getoption("hypothesis_seed", None) or 20261125),
        },
        worker=worker["workerid"] if worker is not None else None,
    )
    if state.only:
        unknown = state.only - {p.name for p in providers.providers}
        if unknown:
            raise pytest.UsageError(f"--only: no provider named {sorted(unknown)} in {path}")
    if state.checks:
        unknown = state.checks - set(load_catalog().ids)
        if unknown:
            raise pytest.UsageError(f"--check: unknown check ids {sorted(unknown)} (see `conformance list-checks`)")
    if worker is not None:
        state.endpoints = json.loads(worker["conformance_endpoints"])
        state.started = float(worker["conformance_started"])
        part = f"results-{state.worker}.jsonl"
    else:
        dist = str(config.getoption("dist", "no") or "no")
        problem = distribution_problem(dist, forked=bool(getattr(config.option, "forked", False)))
        if problem:
            raise pytest.UsageError(problem)
        state.dist_note = distribution_note(dist)
        _clear_parts(out)
        _sigterm_interrupts()
        state.endpoints = start_builtins(state.selected(), state.stack)
        part = "results-main.jsonl"
    state.writer = JsonLinesWriter(out / "parts" / part)
    if worker is None and _live_terminal(config):
        state.progress = Progress()
        config.pluginmanager.register(ProgressReporter(state.progress, config), "conformance-progress")
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


def _clear_parts(out: Path) -> None:
    parts = out / "parts"
    if parts.is_dir():
        for f in [*parts.glob("results-*.jsonl"), *parts.glob("owners-*.json")]:
            f.unlink()


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


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line per provider: verdict counts, median latency and TTFT, tokens; then where the files are."""
    state = config.stash.get(STATE, None)
    if state is None or state.final is None or hasattr(config, "workerinput"):
        return
    from conformance.report.scores import median_metric

    terminalreporter.section("conformance")
    if state.dist_note:
        terminalreporter.write_line(f"note: {state.dist_note}")
    for provider in state.selected():  # the run's providers, as results.json lists them
        name = provider.name
        shown_name = terminal_text(name, 80, one_line=True)
        skipped = state.skip_reasons.get(name)
        if skipped:
            terminalreporter.write_line(f"{shown_name}: skipped ({terminal_text(skipped, 300, one_line=True)})")
            continue
        mine = [r for r in state.final.results if r.provider == name]
        counts = {s: sum(r.status is s for r in mine) for s in Status}
        shown = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        latency, ttft = median_metric(mine, "latency_ms"), median_metric(mine, "ttft_ms")
        tokens = sum(r.tokens.total for r in mine)
        timing = f"median latency {latency:.0f} ms" if latency is not None else "no latency"
        if ttft is not None:
            timing += f", TTFT {ttft:.0f} ms"
        terminalreporter.write_line(f"{shown_name}: {len(mine)} checks: {shown}; {timing}; {tokens:,} tokens")
    out = terminal_text(state.out_dir, one_line=True)
    terminalreporter.write_line(f"results: {out}/results.json  report: {out}/matrix.html")


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
