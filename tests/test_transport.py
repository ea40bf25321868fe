"""The recording transport: redaction at the source, bounded reads, retries, curl reproduction."""

from __future__ import annotations

import json

import httpx

from conformance import transport
from conformance.providers import Provider
from conformance.results import ExchangeRecord
from conformance.transport import NOT_JSON, ProviderClient, Request

KEY = "sk-live-9f8e7d6c5b4a39281706"


def client(handler, **kw) -> ProviderClient:
    provider = Provider(name="p", base_url="http://127.0.0.1:9/v1", api_key_env="K", api_key=KEY, timeout_s=5, **kw)
    return ProviderClient(provider, transport=httpx.MockTransport(handler))


def test_the_key_is_sent_but_never_recorded() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {KEY}", "type": "x"}})

    ex = client(handler).send(Request("POST", "/chat/completions", json={"model": "m"}))
    assert seen["auth"] == f"Bearer {KEY}"
    evidence = json.dumps(ex.evidence(client(handler).redactor).to_dict())
    assert KEY not in evidence
    assert "$API_KEY" in evidence and transport.REDACTED in evidence


def test_secret_headers_and_query_values_are_redacted() -> None:
    c = client(lambda r: httpx.Response(200, json={}), headers={"x-api-key": "hdr-secret-1234"}, query={"sig": "q-secret-9876"})
    ex = c.send(Request("GET", "/models"))
    text = json.dumps(ex.evidence(c.redactor).to_dict())
    assert "hdr-secret-1234" not in text and "q-secret-9876" not in text


def test_azure_style_api_key_header() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, json={})

    ex = client(handler, auth="api-key").send(Request("GET", "/models"))
    assert seen["api-key"] == KEY and "authorization" not in seen
    assert "-H 'api-key: '\"$API_KEY\"" in ex.curl


def test_curl_reproduces_the_request_with_the_key_as_a_variable() -> None:
    ex = client(lambda r: httpx.Response(200, json={})).send(
        Request("POST", "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "it's"}]})
    )
    assert ex.curl.startswith("curl -sS -X POST http://127.0.0.1:9/v1/chat/completions")
    assert "-H 'Authorization: Bearer '\"$API_KEY\"" in ex.curl
    assert KEY not in ex.curl
    assert "--data-raw" in ex.curl


def test_body_reads_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(transport, "MAX_BODY_BYTES", 1000)
    monkeypatch.setattr(transport, "TRUNCATED_KEEP_BYTES", 500)
    ex = client(lambda r: httpx.Response(200, content=b"x" * 50_000)).send(Request("GET", "/models"))
    assert ex.truncated and len(ex.body) < 50_000
    assert "larger than" in ex.error


def test_non_json_and_invalid_utf8_never_raise() -> None:
    ex = client(lambda r: httpx.Response(200, content=b"\xff\xfe<html>")).send(Request("GET", "/models"))
    assert ex.json_body is NOT_JSON
    assert ex.utf8_error and "byte 0" in ex.utf8_error
    assert ex.stream.violations()


def test_429_is_retried_honouring_retry_after_ms() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(429, headers={"retry-after-ms": "10"}, json={"error": {"message": "slow down"}})
        return httpx.Response(200, json={"ok": True})

    ex = client(handler).send(Request("GET", "/models"))
    assert ex.status == 200 and ex.retries == 2 and len(calls) == 3


def test_a_429_that_never_clears_stops_after_the_bound() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "no"}})

    ex = client(handler).send(Request("GET", "/models"))
    assert ex.status == 429 and ex.retries == transport.MAX_RETRIES and len(calls) == transport.MAX_RETRIES + 1


def test_connection_errors_are_recorded_not_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    ex = client(handler).send(Request("GET", "/models"))
    assert ex.status is None and "ConnectError" in ex.error


def test_evidence_is_a_bounded_record_that_reads_back_as_written() -> None:
    headers = {"x-request-id": "r1", "set-cookie": "session=abc"}
    c = client(lambda r: httpx.Response(200, headers=headers, content=b"y" * 20_000))
    record = c.send(Request("POST", "/chat/completions", json={"model": "m"})).evidence(c.redactor)
    assert isinstance(record, ExchangeRecord) and record.response is not None
    assert record.response.body_bytes == 20_000 and record.response.truncated
    assert len(record.response.body_excerpt) == transport.EXCERPT_BYTES
    assert record.response.headers["x-request-id"] == "r1" and "set-cookie" not in record.response.headers
    assert record.request.body == {"model": "m"} and record.timing.total_ms is not None
    data = json.loads(json.dumps(record.to_dict()))
    assert list(data) == ["request", "response", "error", "timing", "retries", "curl"]  # results.json's order
    assert ExchangeRecord.from_dict(data) == record


def test_an_exchange_without_a_response_is_a_record_with_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    c = client(handler)
    record = c.send(Request("GET", "/models")).evidence(c.redactor)
    assert record.response is None and record.error and "ConnectError" in record.error
    assert record.timing.ttfb_ms is None and record.curl.startswith("curl ")
    assert ExchangeRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
