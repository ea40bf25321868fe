"""Synthetic runs for the report's tests, its benchmark and demos: no provider, no network.

What lives here: `make_result` / `make_run` (small factories with sensible defaults, check
metadata taken from the packaged catalog) and `synthetic_run` / `synthetic_history` (large,
deterministic, realistic-looking runs). What does not: anything the live suite uses.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from conformance.catalog import load_catalog
from conformance.results import (
    CheckResult,
    Evidence,
    Expectation,
    Kind,
    Level,
    RunMetadata,
    RunResults,
    Status,
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
_SCHEMA_ERROR = {
    "schema": "chat_completion",
    "pointer": "/choices/0/finish_reason",
    "rule": "enum",
    "message": 'received "eos" / expected one of "stop", "length"',
    "value": '"eos"',
    "severity": "must",
}


def catalog_snapshot() -> dict[str, dict[str, Any]]:
    return load_catalog().snapshot()


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
    spec = catalog_snapshot().get(check, {})
    return CheckResult(
        provider=provider,
        model=None if spec.get("needs") == "provider" else model,
        check=check,
        area=spec.get("area", check.split(".", 1)[0]),
        level=Level(level or spec.get("level", "must")),
        kind=Kind(spec.get("kind", "wire")),
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
    providers: Iterable[dict[str, Any]] | None = None,
    started_at: str = "2025-01-06T02:00:00+00:00",
    catalog: dict[str, dict[str, Any]] | None = None,
    catalog_version: str = "1",
    **meta: Any,
) -> RunResults:
    """A run around `results`; provider entries are derived from the results unless given."""
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
        providers=tuple(providers),
        catalog=catalog if catalog is not None else catalog_snapshot(),
        results=rows,
    )


def _provider_entry(name: str, results: list[CheckResult]) -> dict[str, Any]:
    snapshot = catalog_snapshot()
    models: dict[str, list[str]] = {}
    for r in results:
        needs = snapshot.get(r.check, {}).get("needs", "chat")
        if r.model and needs != "provider" and r.model not in models.setdefault(needs, []):
            models[needs].append(r.model)
    return {
        "name": name,
        "base_url": f"https://{name}.example/v1",
        "models": models,
        "tags": [],
        "status": "active",
        "skip_reason": None,
        "claims": {},
    }


def exchange(
    *,
    answer: str = "Hello! How can I help you today?",
    status: int = 200,
    stream: bool = False,
    size: int = 600,
) -> dict[str, Any]:
    """A redacted exchange record shaped like transport.Exchange.evidence()."""
    request = {
        "model": "model-a",
        "messages": [{"role": "user", "content": "Reply with only the word OK."}],
        "max_tokens": 64,
        "stream": stream,
    }
    if stream:
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": answer}}],
        }
        body = f"data: {json.dumps(chunk)}\n\n" * max(1, size // 160) + "data: [DONE]\n\n"
    else:
        body = json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
                "padding": "x" * max(0, size - 300),
            }
        )
    return {
        "request": {
            "method": "POST",
            "url": "https://api.example/v1/chat/completions",
            "headers": {"Authorization": "Bearer $API_KEY", "Content-Type": "application/json"},
            "body": request,
        },
        "response": {
            "status": status,
            "headers": {"content-type": "text/event-stream" if stream else "application/json"},
            "body_excerpt": body[:8192],
            "body_bytes": len(body.encode("utf-8")),
            "truncated": len(body) > 8192,
        },
        "error": None,
        "timing": {"total_ms": 231.4, "ttfb_ms": 88.0},
        "retries": 0,
        "curl": 'curl -sS -X POST https://api.example/v1/chat/completions -H "Authorization: Bearer $API_KEY" '
        "-H 'Content-Type: application/json' --data-raw '" + json.dumps(request) + "'",
    }


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
    specs = list(load_catalog().checks)[:n_checks]
    while len(specs) < n_checks:  # more checks than the catalog has: invent more of the same shape
        base = specs[len(specs) % len(load_catalog().checks)]
        specs.append(dataclasses.replace(base, id=f"{base.area}.extra_{len(specs)}"))
    catalog = {s.id: s.to_dict() for s in specs}
    providers: list[dict[str, Any]] = []
    results: list[CheckResult] = []
    for i in range(n_providers):
        name = f"provider-{i:02d}"
        chat_models = [f"{name}-chat"] + ([f"{name}-chat-mini"] if i == 1 else [])
        models = {"chat": chat_models, "tools": chat_models[:1], "embeddings": [f"{name}-embed"]}
        skipped = n_providers >= 4 and i == n_providers - 1
        expect = {}
        if i % 3 == 0 and specs:
            expect[specs[min(len(specs) - 1, 9)].id] = {
                "status": "fail",
                "reason": "stop ignored upstream",
                "link": "https://example.org/issues/1",
            }
        providers.append(
            {
                "name": name,
                "base_url": f"https://{name}.example/v1",
                "models": models,
                "tags": ["hosted"] if i % 2 else ["self-hosted"],
                "status": "skipped" if skipped else "active",
                "skip_reason": f"no key in ${name.upper().replace('-', '_')}_KEY" if skipped else None,
                "claims": {
                    chat_models[0]: {"tools": True, "streaming": True, "json_mode": i % 2 == 0, "logprobs": i % 4 == 1}
                },
                "expect": expect,
                "prices": {"input_per_mtok": 0.5 + i * 0.1, "output_per_mtok": 1.5 + i * 0.2} if i % 2 == 0 else {},
            }
        )
        flaky_bias = rng.random() * 0.1
        for spec in specs:
            model_names = [None] if spec.needs == "provider" else models.get(spec.needs, chat_models)
            for model in model_names:
                if skipped:
                    status = Status.SKIPPED
                else:
                    roll = rng.random()
                    status = Status.PASS
                    if roll < fail_rate + flaky_bias:
                        status = Status.FAIL
                    elif roll < fail_rate + flaky_bias + 0.03:
                        status = Status.ERROR
                    elif spec.level is Level.MAY and roll < fail_rate + 0.25:
                        status = Status.UNSUPPORTED
                if drift is not None and status in (Status.PASS, Status.FAIL) and drift.random() < 0.02:
                    status = Status.FAIL if status is Status.PASS else Status.PASS
                exp = expect.get(spec.id)
                expectation = Expectation(Status(exp["status"]), exp["reason"], exp["link"]) if exp else None
                if expectation and not skipped:
                    status = Status.FAIL
                bad = status in (Status.FAIL, Status.ERROR, Status.UNSUPPORTED)
                message = _MESSAGES[status].format(check=spec.id, key=f"{name.upper().replace('-', '_')}_KEY")
                latency = round(80 + rng.random() * 900, 1)
                ev = Evidence()
                if status is not Status.SKIPPED:
                    ev = Evidence(
                        exchanges=(exchange(stream=spec.area == "stream", size=evidence_size * (3 if bad else 1)),),
                        schema_errors=(_SCHEMA_ERROR,) if status is Status.FAIL and spec.kind is Kind.WIRE else (),
                        notes=("retried once after 429",) if rng.random() < 0.05 else (),
                    )
                results.append(
                    CheckResult(
                        provider=name,
                        model=model,
                        check=spec.id,
                        area=spec.area,
                        level=spec.level,
                        kind=spec.kind,
                        status=status,
                        message=message,
                        duration_ms=latency + 3.0,
                        tokens=Tokens(40, 12, 52) if status is not Status.SKIPPED else Tokens(),
                        requests=0 if status is Status.SKIPPED else 1,
                        expected=expectation,
                        evidence=ev,
                        metrics={}
                        if status is Status.SKIPPED
                        else (
                            {"latency_ms": latency, "ttft_ms": round(latency / 3, 1), "chunks": 9.0}
                            if spec.area == "stream"
                            else {"latency_ms": latency}
                        ),
                    )
                )
    finished = started_at + timedelta(minutes=11, seconds=42)
    return RunResults(
        run=RunMetadata(
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
        ),
        providers=tuple(providers),
        catalog=catalog,
        results=tuple(results),
    )


def synthetic_history(n_runs: int = 30, **kwargs: Any) -> list[RunResults]:
    """`n_runs` nightly runs, oldest first, with statuses that drift and flip from night to night."""
    return [
        synthetic_run(night=night, started_at=START - timedelta(days=n_runs - night), **kwargs)
        for night in range(n_runs)
    ]
