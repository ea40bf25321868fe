"""Fast, polite and cheap: the limiter, retries, timeouts, circuit breaker, budget and repeats."""

from __future__ import annotations

from dataclasses import replace
import itertools
import threading
import time

import httpx
import pytest

from conformance.checks import Session
from conformance.checks.base import BREAKER_THRESHOLD
from conformance.providers import ModelConfig, Provider
from conformance.results import Status
from conformance.runner import cases, run_batch, run_provider, wilson
from conformance.transport import Limiter, ProviderClient, Request

from conftest import reference

CHAT = (ModelConfig("m", 64, "max_tokens"),)


def mock_provider(handler, **kw) -> tuple[Provider, Session]:
    provider = Provider(name="mock", base_url="http://127.0.0.1:9/v1", models={"chat": CHAT, "tools": CHAT}, **kw)
    client = ProviderClient(provider, transport=httpx.MockTransport(handler))
    return provider, Session(provider, client=client)


def test_limiter_never_exceeds_max_concurrency_across_a_batch() -> None:
    in_flight, peak, lock = [0], [0], threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200, json={"object": "list", "data": []})

    provider, session = mock_provider(handler, max_concurrency=3)
    results = run_batch(session, cases(provider))
    assert len(results) == len(cases(provider))
    assert session.client.requests_sent > 10
    assert peak[0] == 3  # concurrency was used, and never exceeded


def test_limiter_holds_the_request_rate() -> None:
    limiter = Limiter(max_concurrency=8, rpm=3, window_s=0.5)
    starts: list[float] = []

    def go() -> None:
        with limiter.slot():
            starts.append(time.monotonic())

    threads = [threading.Thread(target=go) for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    # in any window of 0.5 s at most 3 requests start
    for a, b in itertools.combinations(range(len(starts)), 2):
        if b - a >= 3:
            assert starts[b] - starts[a] >= 0.5 - 0.02


def test_rpm_limit_keeps_a_rate_limited_server_from_answering_429() -> None:
    with reference(rpm=12) as provider:
        polite = replace(provider, rpm=12, max_concurrency=2)
        session = Session(polite)
        session.client.limiter = Limiter(2, 12, window_s=60.0)
        statuses = [session.client.send(Request("GET", "/models")).status for _ in range(12)]
    assert statuses == [200] * 12


def test_a_429_that_never_clears_ends_as_error_with_evidence() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after-ms": "1"}, json={"error": {"message": "rate limited", "type": "requests"}})

    provider, session = mock_provider(handler)
    [result] = run_batch(session, [c for c in cases(provider) if c.spec.id == "chat.basic"]).values()
    assert result.status is Status.ERROR
    assert "429" in result.message and result.retries == 3
    assert result.evidence.exchanges[0].response is not None and result.evidence.exchanges[0].response.status == 429


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_hanging_provider_costs_one_timeout_then_the_breaker_opens(concurrency: int) -> None:
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        raise httpx.ReadTimeout("hangs", request=request)

    provider, session = mock_provider(handler, timeout_s=0.2, max_concurrency=concurrency)
    results = run_batch(session, cases(provider))
    assert all(r.status in (Status.ERROR, Status.SKIPPED) for r in results.values())
    # Timeouts are not retried; after 3 failures the circuit opens, and requests already queued for
    # a slot are refused there: only those in flight at that moment still cost a timeout.
    assert len(sent) <= BREAKER_THRESHOLD - 1 + concurrency
    assert session.down_reason and "consecutive" in session.down_reason
    assert sum("circuit open" in r.message for r in results.values()) > 40


def test_budget_tokens_is_enforced() -> None:
    with reference() as provider:
        budgeted = replace(provider, budget_tokens=300, max_concurrency=1)
        results = run_provider(budgeted)
    spent = sum(r.tokens.total for r in results)
    assert any("token budget exhausted" in r.message for r in results)
    assert all(r.status is Status.ERROR for r in results if "token budget" in r.message)
    assert spent < 300 + 400  # the budget, plus the one request in flight when it ran out


def test_repeats_of_a_consistent_provider_keep_one_verdict() -> None:
    with reference() as provider:
        results = run_provider(provider, check_ids=["chat.basic", "stream.reassembly"], repeat=3)
    for r in results:
        assert r.status is Status.PASS
        assert r.repeats["runs"] == 3 and r.repeats["passes"] == 3
        assert r.requests >= 3


def _alternating(good: dict, bad: dict):
    counter = itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=good if next(counter) % 2 == 0 else bad)

    return handler


def _completion(text: str) -> dict:
    return {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def test_a_behaviour_that_passes_sometimes_is_flaky_with_a_wilson_interval() -> None:
    provider, session = mock_provider(_alternating(_completion("BANANA"), _completion("The sky is blue.")))
    batch = [c for c in cases(provider) if c.spec.id == "chat.system_message"]
    [result] = run_batch(session, batch, repeat=4).values()
    assert result.status is Status.FLAKY
    assert result.repeats["passes"] == 2 and result.repeats["pass_rate"] == 0.5
    lo, hi = wilson(2, 4)
    assert result.repeats["wilson_low"] == round(lo, 4) and result.repeats["wilson_high"] == round(hi, 4)
    assert "behaviour varies" in result.message


def test_a_wire_check_that_disagrees_between_repeats_is_reported() -> None:
    good = _completion("Hello!")
    bad = {**good, "object": "text_completion"}
    provider, session = mock_provider(_alternating(good, bad))
    [result] = run_batch(session, [c for c in cases(provider) if c.spec.id == "chat.basic"], repeat=2).values()
    assert result.status is Status.FLAKY
    assert "wire verdict disagreed between repeats" in result.message


@pytest.mark.parametrize("passes,runs,low,high", [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634)])
def test_wilson_interval_matches_known_values(passes: int, runs: int, low: float, high: float) -> None:
    lo, hi = wilson(passes, runs)
    assert lo == pytest.approx(low, abs=1e-3) and hi == pytest.approx(high, abs=1e-3)
