"""The retry policy is a value a test passes in, and a request the session refuses says so.

`RetryPolicy` decides which answers are retried, how often and how long to wait; a client (or a
session building one) takes it, so no test patches the transport module. `Exchange.refused` marks
an exchange the session's gate refused unsent (circuit open, token budget spent): nothing reached
the provider, whatever its timing says.
"""

from __future__ import annotations

import httpx

from conformance.checks.base import BREAKER_THRESHOLD, Session
from conformance.providers import ModelConfig, Provider
from conformance.transport import ProviderClient, Request, RetryPolicy

PROVIDER = Provider(name="p", base_url="http://p.invalid/v1", models={"chat": (ModelConfig("m", 16, "max_tokens"),)})
GET = Request("GET", "/models")


def counting(status: int, headers: dict[str, str] | None = None) -> tuple[list[int], httpx.MockTransport]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, headers=headers or {}, json={"error": {"message": "busy"}})

    return calls, httpx.MockTransport(handler)


def test_a_policy_sets_how_often_a_busy_answer_is_retried() -> None:
    calls, transport = counting(503)
    client = ProviderClient(PROVIDER, transport=transport, retry=RetryPolicy(max_retries=1, max_wait_s=0.0))
    ex = client.send(GET)
    assert (ex.status, ex.retries, len(calls)) == (503, 1, 2)


def test_a_policy_sets_which_statuses_are_retried() -> None:
    calls, transport = counting(503)
    client = ProviderClient(PROVIDER, transport=transport, retry=RetryPolicy(statuses=frozenset({429})))
    assert client.send(GET).retries == 0 and len(calls) == 1


def test_the_wait_honours_retry_after_within_the_policy_bound() -> None:
    ex = ProviderClient(PROVIDER, transport=counting(429, {"retry-after": "30"})[1], retry=RetryPolicy(max_retries=0)).send(GET)
    assert RetryPolicy().wait_s(ex, 0) == 20.0
    assert RetryPolicy(max_wait_s=2.5).wait_s(ex, 0) == 2.5
    assert RetryPolicy(max_wait_s=0.0).wait_s(ex, 3) == 0.0


def test_a_session_builds_its_client_with_the_policy_it_is_given() -> None:
    policy = RetryPolicy(max_retries=0)
    assert Session(PROVIDER, retry=policy).client.retry is policy


def test_an_exchange_the_gate_refused_is_marked_refused_and_was_never_sent() -> None:
    calls, transport = counting(200)
    client = ProviderClient(PROVIDER, transport=transport)
    refused = client.send(GET, gate=lambda: "circuit open")
    sent = client.send(GET)
    assert (refused.refused, refused.status, refused.error, len(calls)) == (True, None, "circuit open", 1)
    assert sent.refused is False and sent.status == 200


def test_once_the_breaker_opens_the_session_refuses_unsent() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = ProviderClient(PROVIDER, transport=httpx.MockTransport(down), retry=RetryPolicy(max_retries=0))
    session = Session(PROVIDER, client=client)
    failed = [session.send(GET) for _ in range(BREAKER_THRESHOLD)]
    after = session.send(GET)
    assert not any(ex.refused for ex in failed)
    assert after.refused and after.error is not None and after.error.startswith("circuit open")
    assert client.requests_sent == BREAKER_THRESHOLD
