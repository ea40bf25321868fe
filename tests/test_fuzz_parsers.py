"""Every check survives garbage: whatever a provider sends, `run_check` returns a verdict, never a crash.

Hypothesis generates whole provider behaviours: for each endpoint kind (models, one model, chat,
chat stream, embeddings) a status, headers and a body that is arbitrary bytes, a valid response
with a few fields deleted or replaced by values of the wrong type, an error body, or a near-valid
event stream (mangled chunks, odd separators, stray [DONE]s, comments, invalid UTF-8), delivered
in arbitrary pieces. The checks see it through `httpx.MockTransport`, exactly as they would see a
provider. `run_check` reports a crashing check as `error` with a message starting
"internal error"; that message must never appear.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conformance import client_envs, transport
from conformance.checks import Session, run_check
from conformance.providers import ModelConfig, Provider
from conformance.runner import cases
from conformance.transport import ProviderClient, RetryPolicy

# openai-python's pydantic models warn when they serialise the garbage they were handed; expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic.main")

KEY = "sk-fuzz-parsers-5d1c"
FUZZ_CHECKS = ("tools.args_schema_fuzz", "chat.unicode_fuzz", "errors.param_fuzz")
# Replays through another process (openai-node, the client libraries' workers): exercised in the
# table below only, not under every generated input.
SLOW_CHECKS = ("client.openai_node", *(spec.check for spec in client_envs.libraries()))
EXAMPLES = 100
NO_WAITS = RetryPolicy(max_wait_s=0.0)  # 429/503 are retried at once; the back-off is tested in test_transport.py

CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "chat-model", "system_fingerprint": "fp",
    "choices": [{
        "index": 0,
        "message": {
            "role": "assistant", "content": "BANANA Zorblax PINEAPPLE 1 2 3 4 5 37", "refusal": None,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
        "logprobs": {"content": [{"token": "BANANA", "logprob": -0.1, "bytes": [66],
                                  "top_logprobs": [{"token": "BANANA", "logprob": -0.1, "bytes": [66]}]}]},
        "finish_reason": "tool_calls",
    }],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
              "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
}
CHUNK = {
    "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "chat-model",
    "choices": [{
        "index": 0,
        "delta": {"role": "assistant", "content": "1 2",
                  "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                  "function": {"name": "get_weather", "arguments": '{"ci'}}]},
        "finish_reason": None, "logprobs": None,
    }],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}
EMBEDDINGS = {
    "object": "list", "model": "embed-model", "usage": {"prompt_tokens": 3, "total_tokens": 3},
    "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8, 0.0]},
             {"object": "embedding", "index": 1, "embedding": "AACAPwAAAAA="}],
}
MODEL = {"id": "chat-model", "object": "model", "created": 1, "owned_by": "me"}
MODELS = {"object": "list", "data": [MODEL, {"id": "embed-model", "object": "model", "created": 1, "owned_by": "me"}]}
ERROR = {"error": {"message": "bad request", "type": "invalid_request_error", "param": "messages", "code": None}}
TEMPLATES = {"models": MODELS, "model": MODEL, "chat": CHAT, "stream": CHUNK, "embeddings": EMBEDDINGS}
KINDS = tuple(TEMPLATES)

# --- strategies ---------------------------------------------------------------------------------

WEIRD = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
    st.just([]), st.just({}), st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["index", "content", "error", "id", "type"]), st.integers(-1, 2), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    """A valid response with up to four fields deleted, replaced by a weird value, or duplicated."""
    value = copy.deepcopy(template)
    for _ in range(draw(st.integers(0, 4))):
        paths = [p for p in _paths(value) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = value
        for part in path[:-1]:
            parent = parent[part]
        key, op = path[-1], draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if op == "replace":
            parent[key] = draw(WEIRD)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[f"{key}_x"] = copy.deepcopy(parent[key])
    return value


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")  # NaN and Infinity stay in, as some servers send them


SPECIAL_DATA = ["[DONE]", " [DONE]", "[DONE] ", "[DONE]x", "", " ", "{", "null", "[1]", '"s"',
                '{"error": {"message": "boom", "type": "server_error"}}', '{"error": "boom"}', '{"error": null}']


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """A near-valid chat event stream: mangled chunks, stray markers, odd framing."""
    sep = draw(st.sampled_from(["\n\n", "\r\n\r\n", "\r\r", "\n", "\n\n\n"]))
    out = []
    if draw(st.booleans()):
        out.append(draw(st.sampled_from([": keepalive\n", "\ufeff", "retry: 10\n", "id: 7\n", "event: error\n",
                                         "retry: x\n", "Data: {}\n"])))
    for _ in range(draw(st.integers(0, 6))):
        data = draw(st.one_of(mutated(CHUNK).map(json.dumps), st.sampled_from(SPECIAL_DATA), st.text(max_size=24)))
        field = draw(st.sampled_from(["data: ", "data:", "data:  ", "event: thread.run\ndata: ", "event: error\ndata: "]))
        out.append(field + data + sep)
    if draw(st.booleans()):
        out.append("data: [DONE]" + sep)
    body = "".join(out).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + body[at:]
    return body


@st.composite
def responses(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """One endpoint's behaviour: status, headers, body, and how the body is cut into pieces."""
    body = draw(st.one_of(
        st.binary(max_size=300),
        mutated(TEMPLATES[kind]).map(_json),
        mutated(ERROR).map(_json),
        event_streams(),
    ))
    cuts = sorted(set(draw(st.lists(st.integers(0, max(0, len(body))), max_size=4))))
    headers = {"content-type": draw(st.sampled_from(
        ["application/json", "text/event-stream", "text/event-stream; charset=latin-1", "text/html", ""]
    ))}
    encoding = draw(st.sampled_from(["", "", "", "gzip", "deflate", "br"]))
    if encoding:
        headers["content-encoding"] = encoding
    if draw(st.booleans()):
        headers["retry-after"] = draw(st.sampled_from(["1", "abc", "-5", "nan", "1e9"]))
    status = draw(st.sampled_from([200, 200, 200, 201, 204, 400, 401, 404, 422, 429, 500, 503, 302]))
    return {"status": status, "headers": headers, "body": body, "cuts": cuts}


PLANS = st.fixed_dictionaries({kind: st.lists(responses(kind), min_size=1, max_size=2) for kind in KINDS})

# --- the mock provider ---------------------------------------------------------------------------


class Pieces(httpx.SyncByteStream):
    def __init__(self, body: bytes, cuts: list[int]) -> None:
        self.body, self.cuts = body, cuts

    def __iter__(self) -> Iterator[bytes]:
        start = 0
        for cut in [*self.cuts, len(self.body)]:
            if cut > start:
                yield self.body[start:cut]
                start = cut


def _kind(request: httpx.Request) -> str:
    path = request.url.path
    if path.endswith("/models"):
        return "models"
    if "/models/" in path:
        return "model"
    if path.endswith("/embeddings"):
        return "embeddings"
    return "stream" if b'"stream": true' in request.content else "chat"


def handler_for(plan: dict[str, list[dict[str, Any]]]):
    def handler(request: httpx.Request) -> httpx.Response:
        options = plan[_kind(request)]
        # Deterministic choice among the kind's behaviours, by request body.
        spec = options[int(hashlib.sha256(request.content).hexdigest(), 16) % len(options)]
        return httpx.Response(spec["status"], headers=spec["headers"], stream=Pieces(spec["body"], spec["cuts"]))

    return handler


def provider() -> Provider:
    chat = (ModelConfig("chat-model", 64, "max_tokens"),)
    return Provider(
        name="fuzzed", base_url="http://fuzzed.invalid/v1", api_key_env="FUZZ_KEY", api_key=KEY,
        models={"chat": chat, "tools": chat, "embeddings": (ModelConfig("embed-model", 64, "max_tokens"),)},
        timeout_s=5, max_concurrency=4,
    )


def run_checks(plan: dict[str, Any], only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> list[Any]:
    p = provider()
    client = ProviderClient(p, transport=httpx.MockTransport(handler_for(plan)), retry=NO_WAITS)
    session = Session(p, client=client, options={"hypothesis_examples": 2})
    try:
        return [
            run_check(session, case.spec, case.model)
            for case in cases(p, only)
            if case.spec.id not in skip and not case.not_configured
        ]
    finally:
        session.close()


def crashes(results: list[Any]) -> list[str]:
    return [f"{r.check}: {r.message}" for r in results if r.message.startswith("internal error")]


# --- the properties ---------------------------------------------------------------------------------


def _plan_of(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {kind: [{"status": 200, "headers": {"content-type": "application/json"}, "body": _json(body), "cuts": []}]
            for kind in KINDS}


# Crashes found by longer runs of this property, kept as explicit examples so they stay fixed.
FOUND = [
    {**CHAT, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": [1]}},  # int(list) in _tokens
    {**CHAT, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": "many"}},
    {**MODELS, "data": [{"id": {"name": "chat-model"}, "object": "model"}]},  # unhashable id in a set
    {**CHAT, "choices": [{"index": 0, "message": {"role": "assistant", "content": None,  # float .get() in tools
                                                  "tool_calls": [{"id": "c", "function": 1.5}]}}]},
]


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.nested_given])
@given(PLANS)
@example(_plan_of(FOUND[0]))
@example(_plan_of(FOUND[1]))
@example(_plan_of(FOUND[2]))
@example(_plan_of(FOUND[3]))
def test_no_check_crashes_on_garbage(plan: dict[str, Any]) -> None:
    results = run_checks(plan, skip=FUZZ_CHECKS + SLOW_CHECKS)
    assert crashes(results) == []
    configured = {c.spec.id for c in cases(provider()) if not c.not_configured}  # the fuzzed provider's capabilities
    assert len(results) == len(configured - set(FUZZ_CHECKS + SLOW_CHECKS))


def _fixed(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> dict[str, Any]:
    return {"status": status, "headers": {"content-type": content_type, **headers}, "body": body, "cuts": [3, 17]}


def _everywhere(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {kind: [spec] for kind in KINDS}


STREAM_OK = b"".join(b"data: " + _json(CHUNK) + b"\n\n" for _ in range(2)) + b"data: [DONE]\n\n"
# Fixed behaviours for the checks the property leaves out (Hypothesis inside Hypothesis, node).
TABLE = {
    "binary": _everywhere(_fixed(200, b"\x00\xff\xfe garbage \xc3")),
    "html_502": _everywhere(_fixed(502, b"<html>502 Bad Gateway</html>", "text/html")),
    "error_200": _everywhere(_fixed(200, _json(ERROR))),
    "nan_json": _everywhere(_fixed(200, b'{"choices": [{"message": {"content": NaN, "tool_calls": [{"function": '
                                        b'{"name": "x", "arguments": Infinity}}]}}], "data": NaN}')),
    "deep_json": _everywhere(_fixed(200, b"[" * 100_000 + b"]" * 100_000)),
    "bad_gzip": _everywhere(_fixed(200, b"not gzip at all", **{"content-encoding": "gzip"})),
    "wrong_types": {**_everywhere(_fixed(200, _json({"choices": "x", "data": 5, "object": []}))),
                    "stream": [_fixed(200, b'data: {"choices": [{"delta": {"content": 5, "tool_calls": [7]}}]}\n\n',
                                      "text/event-stream")]},
    "valid_shapes": {"models": [_fixed(200, _json(MODELS))], "model": [_fixed(200, _json(MODEL))],
                     "chat": [_fixed(200, _json(CHAT))], "stream": [_fixed(200, STREAM_OK, "text/event-stream")],
                     "embeddings": [_fixed(200, _json(EMBEDDINGS))]},
    "errors_everywhere": _everywhere(_fixed(400, _json(ERROR))),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_fuzz_and_node_checks_survive_garbage(name: str) -> None:
    results = run_checks(TABLE[name], only=FUZZ_CHECKS + SLOW_CHECKS)
    assert crashes(results) == []
    assert {r.check for r in results} == set(FUZZ_CHECKS + SLOW_CHECKS)
    budget = 2 * 4 + 1  # hypothesis_examples x REQUESTS_PER_EXAMPLE, + the cached tools_named probe
    assert all(r.requests <= budget for r in results if r.check in FUZZ_CHECKS), [(r.check, r.requests) for r in results]


@given(st.text(max_size=30), st.integers(0, 5))
@settings(max_examples=200, derandomize=True, database=None, deadline=None)
def test_retry_wait_is_bounded_whatever_the_header_says(value: str, attempt: int) -> None:
    ex = transport.Exchange("GET", "http://x.invalid", {}, None, status=429, headers={"retry-after": value})
    wait = RetryPolicy().wait_s(ex, attempt)
    assert 0.0 <= wait <= transport.MAX_RETRY_WAIT_S

