"""Which checks run for a provider, and running them: one at a time, repeated, as a batch, or
several providers' batches at once.

`cases()` is the one place that expands providers x models x checks; the pytest plugin
parametrizes from it. `run_batch()` runs a provider's cases concurrently in this process (bounded
by the provider's limiter: at most `max_concurrency` requests in flight, `rpm` per minute), which
is how one slow provider costs its own latency and not everybody's. `ConcurrentBatches` runs the
batches of every provider a process owns at the same time, each in its own thread, and hands each
case's verdict to whoever waits for it (the pytest item that reports it): a run over N providers
costs about its slowest provider, not the sum. `run_provider()` is the no-pytest entry point used
by our tests, benchmarks and the quirk table.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx

from conformance.catalog import CheckSpec, load_catalog
from conformance.checks import Session, run_check
from conformance.providers import ModelConfig, Provider, skip_reason
from conformance.transport import RetryPolicy
from conformance.results import CheckResult, Kind, Status

ResultSink = Callable[["Case", CheckResult], None]


@dataclass(frozen=True)
class Case:
    """One provider x model x check to run."""

    provider: str
    model: ModelConfig | None
    spec: CheckSpec
    not_configured: str | None = None

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model.name}:{self.spec.id}" if self.model else f"{self.provider}:{self.spec.id}"


def cases(provider: Provider, check_ids: Iterable[str] | None = None, areas: Iterable[str] | None = None) -> list[Case]:
    """Every check for every configured model of the capability it needs; unconfigured -> skipped."""
    wanted = set(check_ids) if check_ids else None
    area_set = set(areas) if areas else None
    out: list[Case] = []
    for spec in load_catalog().checks:
        if wanted is not None and spec.id not in wanted:
            continue
        if area_set is not None and spec.area not in area_set:
            continue
        if spec.needs == "provider":
            out.append(Case(provider.name, None, spec))
            continue
        configs = provider.model_configs(spec.needs)
        if not configs:
            out.append(Case(provider.name, None, spec, f"no {spec.needs} model configured"))
        out.extend(Case(provider.name, m, spec) for m in configs)
    return out


def unreachable_reason(provider: Provider, timeout_s: float = 3.0) -> str | None:
    """A keyless local provider that refuses connections is skipped, not failed."""
    try:
        with httpx.Client(timeout=timeout_s) as client:
            client.get(provider.base_url.rstrip("/") + "/models")
    except httpx.HTTPError as exc:
        return f"server not reachable at {provider.shown(provider.base_url)} ({type(exc).__name__})"
    return None


def provider_skip_reason(provider: Provider) -> str | None:
    """Why the whole provider is skipped: no key, disabled, or (keyless, not built in) unreachable."""
    reason = skip_reason(provider)
    if reason is None and not provider.api_key_env and not provider.builtin:
        reason = unreachable_reason(provider)
    return reason


def wilson(passes: int, runs: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95 % interval for a pass rate (sound for small n, unlike p ± z·se)."""
    if runs == 0:
        return 0.0, 1.0
    p = passes / runs
    denom = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denom
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def run_case(session: Session, case: Case, skip: str | None = None, repeat: int = 1) -> CheckResult:
    """Run a case once, or `repeat` times on fresh requests and fold the verdicts."""
    reason = skip or case.not_configured
    if repeat <= 1 or reason:
        return run_check(session, case.spec, case.model, skip=reason)
    runs = [run_check(session, case.spec, case.model, repeat=r) for r in range(repeat)]
    judged = [r for r in runs if r.status in (Status.PASS, Status.FAIL)]
    passes = sum(r.status is Status.PASS for r in runs)
    lo, hi = wilson(passes, len(judged))
    info = {
        "runs": repeat,
        "passes": passes,
        "statuses": [r.status.value for r in runs],
        "pass_rate": round(passes / len(judged), 4) if judged else None,
        "wilson_low": round(lo, 4),
        "wilson_high": round(hi, 4),
    }
    base = next((r for r in runs if r.status is not Status.PASS), runs[0])
    total = runs[0]
    for r in runs[1:]:
        total = replace(total, tokens=total.tokens + r.tokens, requests=total.requests + r.requests,
                        retries=total.retries + r.retries, duration_ms=total.duration_ms + r.duration_ms)
    statuses = {r.status for r in runs}
    if len(statuses) == 1:
        return replace(base, tokens=total.tokens, requests=total.requests, retries=total.retries,
                       duration_ms=total.duration_ms, repeats=info)
    what = "wire verdict disagreed between repeats" if case.spec.kind is Kind.WIRE else "behaviour varies"
    message = (
        f"{what}: passed {passes}/{len(judged)} judged runs of {repeat} "
        f"(Wilson 95 % {lo:.0%}-{hi:.0%}); a failing run said: {base.message}"
    )
    return replace(base, status=Status.FLAKY, message=message, tokens=total.tokens, requests=total.requests,
                   retries=total.retries, duration_ms=total.duration_ms, repeats=info)


def run_batch(
    session: Session,
    batch: Sequence[Case],
    skip: str | None = None,
    repeat: int = 1,
    sink: ResultSink | None = None,
    stop: threading.Event | None = None,
) -> dict[str, CheckResult]:
    """Run a provider's cases concurrently; `sink` sees each case and its result as it finishes.
    Once `stop` is set, cases not yet started are not run (and are missing from the result)."""
    lock = threading.Lock()
    out: dict[str, CheckResult] = {}

    def one(case: Case) -> None:
        if stop is not None and stop.is_set():
            return
        result = run_case(session, case, skip, repeat)
        with lock:
            out[case.id] = result
            if sink is not None:
                sink(case, result)

    workers = max(1, min(16, 2 * session.provider.max_concurrency, len(batch)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"conf-{session.provider.name}")
    futures = [pool.submit(one, case) for case in sorted(batch, key=_longest_first)]
    try:
        for f in futures:
            f.result()
    except BaseException:
        # An interrupt (Ctrl-C, or SIGTERM, which the plugin turns into KeyboardInterrupt) ends the
        # batch now: queued cases are cancelled and running ones are not waited for, so the run can
        # write results.json from what was recorded before a CI runner's grace period runs out.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return out


class NotRun(Exception):
    """A case whose batch stopped (the run was interrupted or stopped early) before it ran."""


SessionOpener = Callable[[], "tuple[Session, str | None]"]


class ConcurrentBatches:
    """The batches of several providers at once, each in its own thread; `result()` waits for one case.

    `start()` launches a provider's batch (once); its session and skip reason are obtained in that
    thread, so a slow reachability probe delays only its own provider. Cases already `recorded`
    (by a worker that died) are handed out as they are and not sent again. `stop()` lets running
    checks finish and starts nothing more; cases left waiting then raise `NotRun`.
    """

    def __init__(self, repeat: int = 1, sink: ResultSink | None = None) -> None:
        self.repeat = repeat
        self.sink = sink
        self.stopped = threading.Event()
        self._futures: dict[str, Future[CheckResult]] = {}
        self._started: set[str] = set()
        self._lock = threading.Lock()

    def start(
        self,
        provider: str,
        batch: Sequence[Case],
        open_session: SessionOpener,
        recorded: Mapping[str, CheckResult] | None = None,
    ) -> None:
        with self._lock:
            if provider in self._started or self.stopped.is_set():
                return
            self._started.add(provider)
            todo = []
            for case in batch:
                future = self._futures.setdefault(case.id, Future())
                if recorded and case.id in recorded:
                    future.set_result(recorded[case.id])
                else:
                    todo.append(case)
        if not todo:  # all recorded already: not even a reachability probe is needed
            return
        thread = threading.Thread(
            target=self._run, args=(todo, open_session), name=f"conformance-{provider}", daemon=True
        )
        thread.start()

    def started(self, provider: str) -> bool:
        return provider in self._started

    def result(self, case: Case) -> CheckResult:
        """The verdict of a started case, once it is there (raises NotRun if it never will be)."""
        future = self._futures.get(case.id)
        if future is None:
            raise NotRun(f"{case.id}: its provider's batch was not started")
        return future.result()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self, batch: list[Case], open_session: SessionOpener) -> None:
        try:
            session, skip = open_session()
            run_batch(session, batch, skip, self.repeat, sink=self._deliver, stop=self.stopped)
        except BaseException as exc:  # noqa: BLE001 - handed to the tests waiting for these cases
            for case in batch:
                self._settle(case, exc)
            return
        for case in batch:
            self._settle(case, NotRun(f"{case.id}: not run, the run was stopped first"))

    def _deliver(self, case: Case, result: CheckResult) -> None:
        try:
            if self.sink is not None:
                self.sink(case, result)
        finally:
            future = self._futures[case.id]
            if not future.done():  # settled already if the batch failed while this check ran
                future.set_result(result)

    def _settle(self, case: Case, exc: BaseException) -> None:
        future = self._futures[case.id]
        if not future.done():
            future.set_exception(exc)


def _longest_first(case: Case) -> int:
    """Start the checks that chain many slow requests first (longest-processing-time-first), so
    a batch does not end waiting on one late sequence: fuzz checks send several requests one
    after another, streamed checks pay the provider's latency per chunk."""
    if case.spec.id.endswith("_fuzz"):
        return 0
    if case.spec.area == "stream" or case.spec.id in ("tools.stream_deltas", "usage.stream", "client.openai_python"):
        return 1
    return 2


def run_provider(
    provider: Provider,
    check_ids: Iterable[str] | None = None,
    areas: Iterable[str] | None = None,
    repeat: int = 1,
    options: dict | None = None,
    retry: RetryPolicy | None = None,
) -> list[CheckResult]:
    """Run every case for one provider in this process (no pytest), in catalog order."""
    session = Session(provider, options=options, retry=retry)
    try:
        skip = provider_skip_reason(provider)
        batch = cases(provider, check_ids, areas)
        results = run_batch(session, batch, skip, repeat)
        return [results[c.id] for c in batch]
    finally:
        session.close()
