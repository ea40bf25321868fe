"""One classification of what came back for a request, and the verdict a valid request gets from it.

`reply_of` is read by every check (through `require_json` / `require_stream`) and by the property
runner; a clean refusal counts as `unsupported` only where the catalog says the check's feature
may be refused (`refusal: unsupported`).
"""

from __future__ import annotations

import json

import pytest

from conformance.catalog import load_catalog
from conformance.checks.base import Context, Outcome, Session
from conformance.checks.common import Reply, reply_of, require_json
from conformance.providers import Provider
from conformance.results import Status
from conformance.transport import Exchange

ERROR_BODY = json.dumps({"error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}}).encode()


def exchange(status: int | None, body: bytes = b"{}", error: str | None = None, **extra: object) -> Exchange:
    return Exchange("POST", "http://p.invalid/v1/chat/completions", {}, {}, status=status, body=body, error=error, **extra)


REPLIES = [
    (exchange(None, error="circuit open", refused=True), Reply.UNSENT),
    (exchange(None, error="ConnectError: refused"), Reply.NO_RESPONSE),
    (exchange(None, error="timeout after 5 s (ReadTimeout)"), Reply.HUNG),
    (exchange(200, error="response not finished within 5 s: read stopped", truncated=True), Reply.UNFINISHED),
    (exchange(429), Reply.BUSY),
    (exchange(503), Reply.BUSY),
    (exchange(200), Reply.SUCCESS),
    (exchange(200, error="response body larger than 16 bytes: read stopped", truncated=True), Reply.SUCCESS),
    (exchange(200, error="RemoteProtocolError: peer closed"), Reply.BROKE_OFF),
    (exchange(400, ERROR_BODY), Reply.CLIENT_ERROR),
    (exchange(500), Reply.SERVER_ERROR),
    (exchange(302), Reply.OTHER),
]


@pytest.mark.parametrize(("ex", "reply"), REPLIES, ids=[r.value for _, r in REPLIES])
def test_every_exchange_has_one_reply(ex: Exchange, reply: Reply) -> None:
    assert reply_of(ex) is reply


def verdict(check_id: str, ex: Exchange) -> tuple[Status, str]:
    ctx = Context(Session(Provider(name="p", base_url="http://p.invalid/v1")), load_catalog()[check_id], None)
    try:
        require_json(ctx, ex, what="the feature")
    except Outcome as outcome:
        return outcome.status, outcome.message
    return Status.PASS, ""


@pytest.mark.parametrize(
    ("check_id", "ex", "status"),
    [
        ("chat.n", exchange(400, ERROR_BODY), Status.UNSUPPORTED),  # refusal: unsupported
        ("chat.n", exchange(400, b"<html>no</html>"), Status.FAIL),  # a refusal clients cannot read
        ("chat.basic", exchange(400, ERROR_BODY), Status.FAIL),  # refusal: fail (the default)
        ("chat.n", exchange(429), Status.ERROR),
        ("chat.n", exchange(None, error="circuit open", refused=True), Status.ERROR),
        ("chat.n", exchange(500), Status.FAIL),
        ("chat.n", exchange(200, b'{"choices": []}'), Status.PASS),
    ],
)
def test_a_valid_request_gets_its_verdict_from_the_reply_and_the_catalog(check_id: str, ex: Exchange, status: Status) -> None:
    assert verdict(check_id, ex)[0] is status
