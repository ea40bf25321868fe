"""Synthetic runs for the report's tests, its benchmark and demos: no provider, no network.

What lives here: `make_result` / `make_run` (small factories with sensible defaults, check
metadata taken from the packaged catalog) and `synthetic_run` / `synthetic_history` (large,
deterministic, realistic-looking runs). What does not: anything the live suite uses.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from conformance.catalog import CheckSpec, load_catalog
from conformance.results import (
    CatalogSnapshot,
    CheckResult,
    Evidence,
    ExchangeRecord,
    Expectation,
    Kind,
    Level,
    ProviderSnapshot,
    RequestRecord,
    ResponseRecord,
    RunMetadata,
    RunResults,
    SchemaError,
    Status,
    Timing,
    Tokens,
)

START = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
_MESSAGES = {
    Status.PASS: "",
    Status.FAIL: 'received finish_reason "stop" / expected "length" (check {check})',
    Status.ERROR: "timed out after 60 s",
    Status.UNSUPPORTED: 'received 400 {{"error": {{"message": "unsupported parameter"}}}} / expected 200',
    Status.SKIPPED: "no key in ${key}",
    Status.FLAKY: "passed 2/3 runs",
}
_SCHEMA_ERROR = SchemaError(
    "chat_completion", "/choices/0/finish_reason", "enum", 'received "eos" / expected one of "stop", "length"',
    '"eos"', "must",
)


@functools.cache
def catalog_snapshot() -> CatalogSnapshot:
    return CatalogSnapshot.from_dict(load_catalog().snapshot())


def make_result(
    provider: str = "alpha",
    check: str = "chat.basic",
    status: Status | str = Status.PASS,
    model: str | None = "model-a",
    *,
    message: str = "",
    expected: Expectation | None = None,
    level: Level | str | None = None,
    evidence: Evidence | None = None,
    metrics: dict[str, float] | None = None,
    tokens: Tokens | None = None,
) -> CheckResult:
    """One result; area/level/kind come from the catalog when the check is in it."""
    spec = catalog_snapshot().get(check)
    return CheckResult(
        provider=provider,
        model=None if spec is not None and spec.needs == "provider" else model,
        check=check,
        area=spec.area if spec is not None else check.split(".", 1)[0],
        level=Level(level or (spec.level if spec is not None else Level.MUST)),
        kind=spec.kind if spec is not None else Kind.WIRE,
        status=Status(status),
        message=message,
        duration_ms=12.5,
        tokens=tokens or Tokens(10, 5, 15),
        requests=1,
        expected=expected,
        evidence=evidence or Evidence(),
        metrics={"latency_ms": 100.0} if metrics is None else metrics,
    )


def make_run(
    results: Iterable[CheckResult],
    *,
    providers: Iterable[ProviderSnapshot | Mapping[str, Any]] | None = None,
    started_at: str = "2025-01-06T02:00:00+00:00",
    catalog: CatalogSnapshot | Mapping[str, Any] | None = None,
    catalog_version: str = "1",
    **meta: Any,
) -> RunResults:
    """A run around `results`; provider entries are derived from the results unless given (as
    snapshots or in their JSON form)."""
    rows = tuple(results)
    if providers is None:
        names = list(dict.fromkeys(r.provider for r in rows))
        providers = [_provider_entry(n, [r for r in rows if r.provider == n]) for n in names]
    start = datetime.fromisoformat(started_at)
    return RunResults(
        run=RunMetadata(
            started_at=started_at,
            finished_at=meta.pop("finished_at", (start + timedelta(minutes=3)).isoformat()),
            duration_s=meta.pop("duration_s", 180.0),
            suite_version=meta.pop("suite_version", "0.1.0"),
            catalog_version=catalog_version,
            git_commit=meta.pop("git_commit", "0123456789abcdef0123"),
            python=meta.pop("python", "3.11.7"),
            openai=meta.pop("openai", "1.50.0"),
            platform=meta.pop("platform", "linux"),
            workers=meta.pop("workers", 4),
            **meta,
        ),
        providers=tuple(providers),  # type: ignore[arg-type] - RunResults reads the JSON forms
        catalog=catalog if catalog is not None else catalog_snapshot(),  # type: ignore[arg-type]
        results=rows,
    )


def _provider_entry(name: str, results: list[CheckResult]) -> ProviderSnapshot:
    snapshot = catalog_snapshot()
    models: dict[str, list[str]] = {}
    for r in results:
        needs = snapshot[r.check].needs if r.check in snapshot else "chat"
        if r.model and needs != "provider" and r.model not in models.setdefault(needs, []):
            models[needs].append(r.model)
    return ProviderSnapshot(
        name=name, base_url=f"https://{name}.example/v1", models={cap: tuple(names) for cap, names in models.items()}
    )


def exchange(
    *,
    answer: str = "Hello! How can I help you today?",
    status: int = 200,
    stream: bool = False,
    size: int = 600,
) -> ExchangeRecord:
    """A redacted exchange record like the ones transport.Exchange.evidence() makes."""
    request = {
        "model": "model-a",
        "messages": [{"role": "user", "content": "Reply with only the word OK."}],
        "max_tokens": 64,
        "stream": stream,
    }
    body = _sample_body(answer, stream, size)
    return ExchangeRecord(
        request=RequestRecord(
            method="POST",
            url="https://api.example/v1/chat/completions",
            headers={"Authorization": "Bearer $API_KEY", "Content-Type": "application/json"},
            body=request,
        ),
        response=ResponseRecord(
            status=status,
            headers={"content-type": "text/event-stream" if stream else "application/json"},
            body_excerpt=body[:8192],
            body_bytes=len(body.encode("utf-8")),
            truncated=len(body) > 8192,
        ),
        timing=Timing(total_ms=231.4, ttfb_ms=88.0),
        curl='curl -sS -X POST https://api.example/v1/chat/completions -H "Authorization: Bearer $API_KEY" '
        "-H 'Content-Type: application/json' --data-raw '" + json.dumps(request) + "'",
    )


def _sample_body(answer: str, stream: bool, size: int) -> str:
    """A chat answer about `size` characters long: an SSE transcript, or one JSON body."""
    if stream:
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": answer}}],
        }
        return f"data: {json.dumps(chunk)}\n\n" * max(1, size // 160) + "data: [DONE]\n\n"
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
            "padding": "x" * max(0, size - 300),
        }
    )


def synthetic_run(
    n_providers: int = 6,
    n_checks: int = 60,
    *,
    seed: int = 7,
    started_at: datetime = START,
    fail_rate: float = 0.12,
    evidence_size: int = 600,
    night: int | None = None,
) -> RunResults:
    """A deterministic, realistic-looking run: mixed statuses, expectations, claims, prices, one
    multi-model provider and (with 4+ providers) one skipped provider. With `night`, about 2% of
    the verdicts flip between pass and fail, as they do from one nightly run to the next."""
    rng = random.Random(seed)
    drift = random.Random(seed * 7919 + night) if night is not None else None
    specs = _synthetic_specs(n_checks)
    providers = [_synthetic_provider(i, n_providers, specs) for i in range(n_providers)]
    results: list[CheckResult] = []
    for provider in providers:
        flaky_bias = rng.random() * 0.1
        odds = _Odds(rng, drift, fail_rate, flaky_bias, evidence_size)
        for spec in specs:
            models = [None] if spec.needs == "provider" else provider.models.get(spec.needs, provider.models["chat"])
            results += [_synthetic_result(provider, spec, model, odds) for model in models]
    return RunResults(
        run=_synthetic_metadata(started_at),
        providers=tuple(providers),
        catalog=CatalogSnapshot.from_dict({s.id: s.to_dict() for s in specs}),
        results=tuple(results),
    )


def _synthetic_specs(n_checks: int) -> list[CheckSpec]:
    """The first `n_checks` catalog checks; past the catalog, more invented of the same shapes."""
    checks = load_catalog().checks
    specs = list(checks)[:n_checks]
    while len(specs) < n_checks:
        base = specs[len(specs) % len(checks)]
        specs.append(dataclasses.replace(base, id=f"{base.area}.extra_{len(specs)}"))
    return specs


def _synthetic_provider(i: int, n_providers: int, specs: list[CheckSpec]) -> ProviderSnapshot:
    """Provider i: every third one declares a known gap, every other one has prices, the second has
    two chat models, and the last of four or more is skipped (no key)."""
    name = f"provider-{i:02d}"
    chat_models = (f"{name}-chat",) + ((f"{name}-chat-mini",) if i == 1 else ())
    skipped = n_providers >= 4 and i == n_providers - 1
    gap = specs[min(len(specs) - 1, 9)].id if i % 3 == 0 and specs else None
    return ProviderSnapshot(
        name=name,
        base_url=f"https://{name}.example/v1",
        models={"chat": chat_models, "tools": chat_models[:1], "embeddings": (f"{name}-embed",)},
        claims={chat_models[0]: {"tools": True, "streaming": True, "json_mode": i % 2 == 0, "logprobs": i % 4 == 1}},
        tags=("hosted",) if i % 2 else ("self-hosted",),
        expect={gap: Expectation(Status.FAIL, "stop ignored upstream", "https://example.org/issues/1")} if gap else {},
        prices={"input_per_mtok": 0.5 + i * 0.1, "output_per_mtok": 1.5 + i * 0.2} if i % 2 == 0 else {},
        status="skipped" if skipped else "active",
        skip_reason=f"no key in ${_key_name(name)}" if skipped else None,
    )


def _key_name(provider: str) -> str:
    return f"{provider.upper().replace('-', '_')}_KEY"


@dataclass(frozen=True)
class _Odds:
    """How one provider's synthetic verdicts are drawn: `rng` for the verdicts, `drift` for the
    night-to-night flips."""

    rng: random.Random
    drift: random.Random | None
    fail_rate: float
    flaky_bias: float
    evidence_size: int

    def status(self, spec: CheckSpec) -> Status:
        roll = self.rng.random()
        status = Status.PASS
        if roll < self.fail_rate + self.flaky_bias:
            status = Status.FAIL
        elif roll < self.fail_rate + self.flaky_bias + 0.03:
            status = Status.ERROR
        elif spec.level is Level.MAY and roll < self.fail_rate + 0.25:
            status = Status.UNSUPPORTED
        if self.drift is not None and status in (Status.PASS, Status.FAIL) and self.drift.random() < 0.02:
            status = Status.FAIL if status is Status.PASS else Status.PASS
        return status


def _synthetic_result(provider: ProviderSnapshot, spec: CheckSpec, model: str | None, odds: _Odds) -> CheckResult:
    expectation = provider.expect.get(spec.id)
    status = Status.SKIPPED if provider.skipped else odds.status(spec)  # drawn even when an expectation decides
    if expectation and not provider.skipped:
        status = Status.FAIL
    latency = round(80 + odds.rng.random() * 900, 1)
    ran = status is not Status.SKIPPED
    return CheckResult(
        provider=provider.name,
        model=model,
        check=spec.id,
        area=spec.area,
        level=spec.level,
        kind=spec.kind,
        status=status,
        message=_MESSAGES[status].format(check=spec.id, key=_key_name(provider.name)),
        duration_ms=latency + 3.0,
        tokens=Tokens(40, 12, 52) if ran else Tokens(),
        requests=1 if ran else 0,
        expected=expectation,
        evidence=_synthetic_evidence(spec, status, odds) if ran else Evidence(),
        metrics=_synthetic_metrics(spec, latency) if ran else {},
    )


def _synthetic_evidence(spec: CheckSpec, status: Status, odds: _Odds) -> Evidence:
    bad = status in (Status.FAIL, Status.ERROR, Status.UNSUPPORTED)
    return Evidence(
        exchanges=(exchange(stream=spec.area == "stream", size=odds.evidence_size * (3 if bad else 1)),),
        schema_errors=(_SCHEMA_ERROR,) if status is Status.FAIL and spec.kind is Kind.WIRE else (),
        notes=("retried once after 429",) if odds.rng.random() < 0.05 else (),
    )


def _synthetic_metrics(spec: CheckSpec, latency: float) -> dict[str, float]:
    if spec.area == "stream":
        return {"latency_ms": latency, "ttft_ms": round(latency / 3, 1), "chunks": 9.0}
    return {"latency_ms": latency}


def _synthetic_metadata(started_at: datetime) -> RunMetadata:
    finished = started_at + timedelta(minutes=11, seconds=42)
    return RunMetadata(
        started_at=started_at.isoformat(),
        finished_at=finished.isoformat(),
        duration_s=(finished - started_at).total_seconds(),
        suite_version="0.1.0",
        catalog_version="1",
        git_commit="9f3c2e1d4b5a69788776655443322110",
        providers_file="providers.yaml",
        python="3.11.7",
        openai="1.50.0",
        platform="Linux-6.1-x86_64",
        workers=8,
    )


def synthetic_history(n_runs: int = 30, **kwargs: Any) -> list[RunResults]:
    """`n_runs` nightly runs, oldest first, with statuses that drift and flip from night to night."""
    return [
        synthetic_run(night=night, started_at=START - timedelta(days=n_runs - night), **kwargs)
        for night in range(n_runs)
    ]
