"""Which checks run for a provider, and running them: one at a time, repeated, or as a batch.

`cases()` is the one place that expands providers x models x checks; the pytest plugin
parametrizes from it. `run_batch()` runs a provider's cases concurrently in this process (bounded
by the provider's limiter: at most `max_concurrency` requests in flight, `rpm` per minute), which
is how one slow provider costs its own latency and not everybody's. `run_provider()` is the
no-pytest entry point used by our tests, benchmarks and the quirk table.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx

from conformance.catalog import CheckSpec, load_catalog
from conformance.checks import Session, run_check
from conformance.providers import ModelConfig, Provider, skip_reason
from conformance.results import CheckResult, Kind, Status

ResultSink = Callable[[CheckResult], None]


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
        return f"server not reachable at {provider.base_url} ({type(exc).__name__})"
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
    batch: list[Case],
    skip: str | None = None,
    repeat: int = 1,
    sink: ResultSink | None = None,
) -> dict[str, CheckResult]:
    """Run a provider's cases concurrently; `sink` sees each result as it finishes."""
    lock = threading.Lock()
    out: dict[str, CheckResult] = {}

    def one(case: Case) -> None:
        result = run_case(session, case, skip, repeat)
        with lock:
            out[case.id] = result
            if sink is not None:
                sink(result)

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
) -> list[CheckResult]:
    """Run every case for one provider in this process (no pytest), in catalog order."""
    session = Session(provider, options=options)
    try:
        skip = provider_skip_reason(provider) if not provider.builtin else None
        batch = cases(provider, check_ids, areas)
        results = run_batch(session, batch, skip, repeat)
        return [results[c.id] for c in batch]
    finally:
        session.close()
