"""The reference server against hostile requests (issue 11, section 5).

To any request, valid or garbage, it answers with a body valid against the spec's response
schemas or an OpenAI-shaped 4xx, never a 5xx; no request keeps it from serving the others; and
its API key can be kept out of argv. Every request goes to a server the test starts on 127.0.0.1.

Deep JSON is built as text: json.dumps itself recurses and cannot write it.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from types import CodeType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.cli import main as cli_main
from conformance.reference import patterns, server
from conformance.reference.server import add_serve_arguments, config_from_args
from conformance.reference.testing import running_server
from conformance.reference.models import EMBED_INPUT_TOKENS, EMBED_REQUEST_TOKENS, MAX_COMPLETION_TOKENS
from conformance.reference.json_body import MAX_JSON_DEPTH
from conformance.reference.schema_limits import SCHEMA_LIMITS
from conformance.schemas import validate

MESSAGES = [{"role": "user", "content": "Answer in JSON."}]
VALID_CHAT = {"model": "ref-chat", "messages": MESSAGES}
VALID_EMBEDDINGS = {"model": "ref-embed", "input": "hello"}
SLOT = "__schema__"  # replaced by raw JSON text in the encoded body


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def connection(base_url: str) -> HTTPConnection:
    """A plain keep-alive connection, so a test can see which socket a request went over."""
    parts = urlsplit(base_url)
    return HTTPConnection(parts.hostname, parts.port, timeout=60)


def openai_error(status: int, raw: bytes) -> dict[str, Any]:
    """The `error` object of an OpenAI-shaped 4xx body (asserting the shape on the way)."""
    assert 400 <= status < 500, (status, raw[:300])
    body = json.loads(raw)
    must = [e for e in validate("error", body) if e.severity == "must"]
    assert not must, must[:3]
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and isinstance(error["type"], str)
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return error


# --- deep schemas ---------------------------------------------------------------------------------

# Two ways to nest a schema: one JSON level per step (items), or two (properties.a).
NESTINGS = {
    "items": ('{"type":"array","items":', "}"),
    "properties": ('{"type":"object","properties":{"a":', '},"required":["a"],"additionalProperties":false}'),
}
SCHEMA_PLACES = {
    "tools": ({**VALID_CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": SLOT}}], "tool_choice": "required"},
              "tools[0].function.parameters"),
    "response_format": ({**VALID_CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SLOT}}},
                        "response_format"),
}


def nested_schema(levels: int, nesting: str) -> str:
    opening, closing = NESTINGS[nesting]
    return opening * levels + '{"type":"string"}' + closing * levels


def with_schema(body: dict[str, Any], schema_text: str) -> bytes:
    return json.dumps(body).replace(json.dumps(SLOT), schema_text).encode()


# 60 levels fit the body's depth limit and are refused by the schema budget; the rest by the body's.
@pytest.mark.parametrize("levels", [60, 500, 900, 5000])
@pytest.mark.parametrize("nesting", sorted(NESTINGS))
@pytest.mark.parametrize("place", sorted(SCHEMA_PLACES))
def test_deep_schema_is_a_400_naming_the_param_and_the_connection_lives_on(base_url, place, nesting, levels):
    body, param = SCHEMA_PLACES[place]
    conn = connection(base_url)
    try:
        conn.request("POST", "/v1/chat/completions", with_schema(body, nested_schema(levels, nesting)),
                     {"content-type": "application/json"})
        response = conn.getresponse()
        error = openai_error(response.status, response.read())
        assert response.status == 400 and error["param"] == param
        assert "nest" in error["message"]
        sock = conn.sock
        assert sock is not None, "the server closed the keep-alive connection"
        conn.request("GET", "/v1/models")
        follow_up = conn.getresponse()
        assert follow_up.status == 200 and json.loads(follow_up.read())["object"] == "list"
        assert conn.sock is sock
    finally:
        conn.close()


@pytest.mark.parametrize(
    "text, param",
    [
        ('{"model":"ref-chat","messages":[{"role":"user","content":"hi"}],"prediction":{"type":"content","content":'
         + "[" * 5000 + "]" * 5000 + "}}", "prediction.content"),
        ('{"model":"ref-chat","messages":' + "[" * 900 + "]" * 900 + "}", "messages[0]"),
        ('{"model":"ref-embed","input":' + "[" * 200 + "1" + "]" * 200 + "}", "input[0]"),
        ("[" * 5000 + "]" * 5000, None),
    ],
    ids=["prediction", "messages", "input", "root"],
)
def test_any_deep_body_is_a_400_naming_where(http, text, param):
    path = "/embeddings" if "ref-embed" in text else "/chat/completions"
    response = http.post(path, content=text.encode(), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and error["param"] == param
    assert f"more than {MAX_JSON_DEPTH} levels" in error["message"]


def test_depth_up_to_the_limit_is_not_refused_for_depth(http):
    """Nesting just inside the body's limit reaches ordinary validation (metadata must be strings)."""
    deep = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    text = '{"model":"ref-chat","messages":[{"role":"user","content":"hi"}],"metadata":{"k":' + deep + "}}"
    response = http.post("/chat/completions", content=text.encode(), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert error["param"] == "metadata.k" and error["code"] == "invalid_type"


@pytest.mark.parametrize("number", ["1e400", "-1E+999", "1" + "0" * 5000])
@pytest.mark.parametrize("place", ["temperature", "tools", "response_format"])
def test_numbers_beyond_a_double_are_a_parse_error_not_infinity(http, place, number):
    """1e400 parses to infinity in Python, which could only be answered as `Infinity` (not JSON)."""
    if place == "temperature":
        text = json.dumps({**VALID_CHAT, "temperature": SLOT}).replace(json.dumps(SLOT), number)
    else:
        body, _ = SCHEMA_PLACES[place]
        text = with_schema(body, '{"type":"object","properties":{"n":{"const":' + number + '}},"required":["n"]}').decode()
    response = http.post("/chat/completions", content=text.encode(), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and "could not parse the JSON body" in error["message"]


# --- fan-out and starvation ----------------------------------------------------------------------


def fan_out(width: int, levels: int = 3) -> dict[str, Any]:
    """An object schema with `width` required properties per level, `levels` deep (width**levels leaves)."""
    schema: dict[str, Any] = {"type": "string"}
    for level in range(levels):
        names = [f"p{level}_{k}" for k in range(width)]
        schema = {"type": "object", "properties": dict.fromkeys(names, schema), "required": names, "additionalProperties": False}
    return schema


def tool_body(schema: dict[str, Any], **params: Any) -> bytes:
    tool = {"type": "function", "function": {"name": "f", "strict": True, "parameters": schema}}
    return json.dumps({**VALID_CHAT, "tools": [tool], "tool_choice": "required", **params}).encode()


def test_fan_out_schema_is_refused_by_the_budget_while_others_are_served(base_url, http):
    big = tool_body(fan_out(40))  # 64,000 required properties, 2.2 MB
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=base_url, timeout=60) as other:
        future = pool.submit(other.post, "/chat/completions", content=big, headers={"content-type": "application/json"})
        served = []
        while not future.done():
            served.append(http.get("/models").status_code)
        response = future.result()
    error = openai_error(response.status_code, response.content)
    assert error["param"] == "tools[0].function.parameters"
    assert f"more than {SCHEMA_LIMITS.properties} object properties" in error["message"]
    assert served and set(served) == {200}


def reused_fan_out(width: int) -> dict[str, Any]:
    """`width` properties referring to `width` properties referring to `width` patterned strings:
    a 3 KB schema, within every budget, whose instance has width**3 generated strings."""
    leaf = {"type": "string", "pattern": "^[a-z]{3}-[0-9]{2}$"}

    def level(prefix: str, sub: dict[str, Any]) -> dict[str, Any]:
        names = [f"{prefix}{k}" for k in range(width)]
        return {"type": "object", "properties": dict.fromkeys(names, sub), "required": names, "additionalProperties": False}

    defs = {"inner": level("c", leaf), "middle": level("b", {"$ref": "#/$defs/inner"})}
    return {**level("a", {"$ref": "#/$defs/middle"}), "$defs": defs}


def running(code: CodeType) -> bool:
    """Whether some thread of this process (the in-process server's included) is running `code`."""
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code is code:
                return True
            frame = frame.f_back
    return False


def test_a_slow_answer_does_not_hold_up_other_clients(base_url, http):
    """An answer that takes the server a while (8,000 generated values from a small body) is worked
    out off the event loop: a request sent once that work has begun is answered before it ends.
    (The answer is capped to keep it small; the work to produce it is not.)

    The server runs in this process, so "has begun" is seen directly, in the threads' stacks:
    on the event loop's own thread the follow-up could not be answered until the work was done."""
    schema = reused_fan_out(20)
    slow = connection(base_url)
    try:
        slow.request("POST", "/v1/chat/completions", tool_body(schema, max_completion_tokens=16), {"content-type": "application/json"})
        for _ in range(60_000):
            if running(server._Reference._chat.__code__):
                break
            time.sleep(0.001)
        else:
            pytest.fail("the server never started on the request")
        assert http.get("/models").status_code == 200
        waiting, _, _ = select.select([slow.sock], [], [], 0)
        assert not waiting, "the slow answer came back before a request sent after it"
        response = slow.getresponse()
        body = json.loads(response.read())
    finally:
        slow.close()
    assert response.status == 200
    must = [e for e in validate("chat_completion", body) if e.severity == "must"]
    assert not must, must[:3]
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 16


@pytest.mark.parametrize(
    "schema",
    [
        # Each level refers to the next twice: 2**24 nodes if generated in full.
        {"$defs": {"n": {"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#/$defs/n"}},
                         "required": ["a", "b"]}}, "$ref": "#/$defs/n"},
        # Nested minItems: 64**4 items.
        {"type": "object", "properties": {"x": {"type": "array", "minItems": 64, "items": {"type": "array", "minItems": 64, "items": {
            "type": "array", "minItems": 64, "items": {"type": "array", "minItems": 64, "items": {"type": "integer"}}}}}},
         "required": ["x"]},
    ],
    ids=["ref-fan-out", "min-items"],
)
@pytest.mark.parametrize("place", sorted(SCHEMA_PLACES))
def test_schema_whose_instance_is_too_large_to_generate_is_a_400(http, place, schema):
    body, param = SCHEMA_PLACES[place]
    response = http.post("/chat/completions", content=with_schema(body, json.dumps(schema)), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert error["param"] == param and "needs more than" in error["message"]


# --- regular expressions ---------------------------------------------------------------------------

EVIL = "^(a|aa)+$"  # backtracks exponentially: re takes ~25 s on 40 characters
EVIL_PROMPT = [{"role": "user", "content": "The code is '" + "a" * 40 + "!'."}]  # the code's hint


def code_schema(pattern: str) -> dict[str, Any]:
    code = {"type": "string", "pattern": pattern}
    return {"type": "object", "properties": {"code": code}, "required": ["code"], "additionalProperties": False}


def with_pattern(place: str, pattern: str, messages: list[dict[str, Any]] = EVIL_PROMPT) -> bytes:
    body, _ = SCHEMA_PLACES[place]
    return with_schema({**body, "messages": messages}, json.dumps(code_schema(pattern)))


@pytest.mark.parametrize("place", sorted(SCHEMA_PLACES))
def test_a_backtracking_pattern_is_a_400_naming_its_schema(http, place):
    response = http.post("/chat/completions", content=with_pattern(place, EVIL), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == SCHEMA_PLACES[place][1]
    assert EVIL in error["message"] and "took more than" in error["message"]


@pytest.mark.parametrize(
    "schema",
    [
        {"patternProperties": {EVIL: {}}, "additionalProperties": False},
        {"patternProperties": {EVIL: {}}, "unevaluatedProperties": False},
        {"propertyNames": {"pattern": EVIL}},
    ],
    ids=["additionalProperties", "unevaluatedProperties", "propertyNames"],
)
def test_a_backtracking_property_name_pattern_is_a_400_naming_its_schema(http, schema):
    """The property is named so that the pattern backtracks; anyOf makes the generator check the object."""
    name = "a" * 40 + "!"
    branch = {"type": "object", "properties": {name: {"type": "string"}}, "required": [name], **schema}
    body, param = SCHEMA_PLACES["tools"]
    schema = {"type": "object", "anyOf": [branch]}
    response = http.post("/chat/completions", content=with_schema(body, json.dumps(schema)), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and error["param"] == param and EVIL in error["message"]


@pytest.mark.parametrize("place", sorted(SCHEMA_PLACES))
def test_while_a_pattern_backtracks_the_server_answers_others(base_url, http, place, monkeypatch):
    """The match runs off the GIL (re held it: the event loop stood still for the whole match).
    A two-second budget makes the match long enough to send a request in the middle of it."""
    monkeypatch.setattr(patterns, "BUDGET", 2.0)
    slow = connection(base_url)
    try:
        slow.request("POST", "/v1/chat/completions", with_pattern(place, EVIL), {"content-type": "application/json"})
        for _ in range(60_000):
            if running(patterns.search.__code__):
                break
            time.sleep(0.001)
        else:
            pytest.fail("the server never started matching")
        assert http.get("/models").status_code == 200
        assert running(patterns.search.__code__), "the match ended before the other request was answered"
        response = slow.getresponse()
        error = openai_error(response.status, response.read())
    finally:
        slow.close()
    assert response.status == 400 and error["param"] == SCHEMA_PLACES[place][1]


@pytest.mark.parametrize(
    "pattern, why",
    [("(?:(?:ab|cd){1000}){1000}", "too large to compile"), ("a" * (patterns.MAX_LENGTH + 1), "longer than")],
    ids=["crashes-regex", "long"],
)
@pytest.mark.parametrize("place", sorted(SCHEMA_PLACES))
def test_a_pattern_too_costly_to_compile_is_a_400_before_anything_runs_it(http, place, pattern, why):
    response = http.post("/chat/completions", content=with_pattern(place, pattern), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and error["param"] == SCHEMA_PLACES[place][1] and why in error["message"]
    assert http.get("/models").status_code == 200


def test_an_ordinary_pattern_still_shapes_the_answer(http):
    given = [{"role": "user", "content": "The code is 'XYZ'."}]
    tools = http.post("/chat/completions", content=with_pattern("tools", "^[A-Z]{3}$", given), headers={"content-type": "application/json"})
    assert tools.status_code == 200
    arguments = json.loads(tools.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"code": "XYZ"}
    unhinted = [{"role": "user", "content": "The code is 'not one'."}]
    answer = http.post("/chat/completions", content=with_pattern("response_format", "^[A-Z]{3}$", unhinted),
                       headers={"content-type": "application/json"})
    assert answer.status_code == 200
    code = json.loads(answer.json()["choices"][0]["message"]["content"])["code"]
    assert re.fullmatch("[A-Z]{3}", code)


# --- answer size ---------------------------------------------------------------------------------

COUNT = [{"role": "user", "content": "Count from 1 to 1000."}]  # an answer of 1000 tokens


@pytest.mark.parametrize(
    "params, param",
    [({"n": 128, "logprobs": True, "top_logprobs": 20}, "n"), ({"n": 128, "stream": True, "logprobs": True, "top_logprobs": 1}, "n")],
    ids=["logprobs", "stream"],
)
def test_an_answer_past_the_budget_is_a_400_naming_what_to_lower(http, params, param):
    response = http.post("/chat/completions", json={"model": "ref-chat", "messages": COUNT, **params})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and error["param"] == param
    assert str(server.MAX_ANSWER_ENTRIES) in error["message"]


def test_an_answer_within_the_budget_is_answered_in_full(http):
    response = http.post("/chat/completions", json={"model": "ref-chat", "messages": COUNT, "logprobs": True, "top_logprobs": 20})
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert len(choice["logprobs"]["content"]) == 1000 and choice["message"]["content"].endswith(" 1000")


def test_an_uncapped_answer_stops_at_the_models_output_limit(http):
    words = " ".join(f"w{k}" for k in range(MAX_COMPLETION_TOKENS + 100))
    response = http.post("/chat/completions", json={"model": "ref-chat", "messages": [{"role": "user", "content": f"<<<{words}>>>"}]})
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == MAX_COMPLETION_TOKENS


def test_embedding_inputs_past_the_per_request_token_total_are_a_400(http):
    """OpenAI's documented 300,000 tokens summed over inputs; every input here is within its own limit."""
    inputs = [[7] * EMBED_INPUT_TOKENS] * (EMBED_REQUEST_TOKENS // EMBED_INPUT_TOKENS + 1)
    response = http.post("/embeddings", json={"model": "ref-embed", "input": inputs})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 400 and error["param"] == "input" and error["code"] == "max_tokens_per_request"


# --- body size -----------------------------------------------------------------------------------


def test_declared_oversized_body_is_a_413_before_it_is_sent(base_url):
    conn = connection(base_url)
    try:
        conn.putrequest("POST", "/v1/chat/completions")
        conn.putheader("content-type", "application/json")
        conn.putheader("content-length", str(server.MAX_BODY_BYTES + 1))
        conn.endheaders()
        response = conn.getresponse()
        error = openai_error(response.status, response.read())
    finally:
        conn.close()
    assert response.status == 413 and str(server.MAX_BODY_BYTES) in error["message"]


def test_oversized_chunked_body_is_a_413(http, monkeypatch):
    monkeypatch.setattr(server, "MAX_BODY_BYTES", 4096)  # the server runs in this process

    def chunks() -> Iterator[bytes]:
        yield b'{"model":"ref-embed","input":"'
        for _ in range(8):
            yield b"x" * 1024
        yield b'"}'

    response = http.post("/embeddings", content=chunks(), headers={"content-type": "application/json"})
    error = openai_error(response.status_code, response.content)
    assert response.status_code == 413 and "4096" in error["message"]


# --- garbage never gets a 5xx --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity as Python writes them: not JSON, so a 400


def deeply(value: Any, levels: int, bracket: str) -> bytes:
    opening, closing = ("[", "]") if bracket == "[" else ('{"k":', "}")
    return (opening * levels).encode() + encoded(value) + (closing * levels).encode()


def member_replaced(route: str, key: str, value: Any) -> bytes:
    base = VALID_EMBEDDINGS if route == "/embeddings" else VALID_CHAT
    return encoded({**base, key: value})


MEMBERS = ["model", "messages", "input", "tools", "response_format", "tool_choice", "stream", "stream_options", "n",
           "logprobs", "top_logprobs", "stop", "max_tokens", "dimensions", "encoding_format", "metadata", "seed"]
ROUTES = ["/chat/completions", "/embeddings", "/models", "/models/ref-chat", "/models/nope"]
METHODS = ["POST", "POST", "GET", "PUT", "DELETE", "PATCH"]
ODD_NUMBERS = ["1e400", "-1e400", "1e-400", "-0", "1" + "0" * 5000, "0.1e1", "123456789012345678901234567890"]
BODIES = st.one_of(
    st.binary(max_size=200),
    json_values.map(encoded),
    st.builds(lambda key, number: json.dumps({**VALID_CHAT, key: SLOT}).replace(json.dumps(SLOT), number).encode(),
              st.sampled_from(MEMBERS), st.sampled_from(ODD_NUMBERS)),
    st.builds(deeply, json_values, st.integers(1, 3 * MAX_JSON_DEPTH), st.sampled_from("[{")),
)
# The 2xx bodies each route answers with, by the spec's schemas.
SUCCESS_SCHEMAS = {"/chat/completions": "chat_completion", "/embeddings": "embeddings", "/models": "models_list",
                   "/models/ref-chat": "model"}


def assert_spec_answer(route: str, response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        openai_error(response.status_code, response.content)
        if response.status_code == 405:
            assert response.headers["allow"]
        return
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return  # a stream can only start from a valid request; tests/test_reference_server.py checks those
    must = [e for e in validate(SUCCESS_SCHEMAS[route], response.json()) if e.severity == "must"]
    assert not must, must[:3]


garbage = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@garbage
@given(method=st.sampled_from(METHODS), route=st.sampled_from(ROUTES), body=BODIES,
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]))
def test_garbage_bodies_get_an_openai_answer(http, method, route, body, content_type):
    response = http.request(method, route, content=body, headers={"content-type": content_type})
    assert_spec_answer(route, response)


@garbage
@given(route=st.sampled_from(["/chat/completions", "/embeddings"]), key=st.sampled_from(MEMBERS),
       value=json_values | st.builds(lambda v, n: json.loads(deeply(v, n, "[")), json_values, st.integers(1, 60)))
def test_one_garbage_member_in_a_valid_body_gets_an_openai_answer(http, route, key, value):
    response = http.post(route, content=member_replaced(route, key, value), headers={"content-type": "application/json"})
    assert_spec_answer(route, response)


# --- --api-key-env -------------------------------------------------------------------------------


def serve_args(*argv: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog="conformance serve")
    add_serve_arguments(parser)
    return parser.parse_args(list(argv))


def test_api_key_env_takes_the_key_from_that_variable():
    config = config_from_args(serve_args("--api-key-env", "REF_KEY"), {"REF_KEY": "sk-from-env"})
    assert config.api_key == "sk-from-env"


@pytest.mark.parametrize("environ", [{}, {"REF_KEY": ""}], ids=["unset", "empty"])
def test_api_key_env_unset_is_a_usage_error(environ):
    with pytest.raises(ValueError, match="REF_KEY"):
        config_from_args(serve_args("--api-key-env", "REF_KEY"), environ)


def test_api_key_and_api_key_env_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_:
        serve_args("--api-key", "k", "--api-key-env", "REF_KEY")
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_serve_help_mentions_api_key_env(capsys):
    with pytest.raises(SystemExit):
        cli_main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--api-key-env NAME" in out and "ps" in out


def conformance(*argv: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "conformance.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_REF_TEST_KEY"}
    return {**env, **extra}


def test_serve_with_unset_api_key_env_exits_2():
    proc = conformance("serve", "--api-key-env", "CONFORMANCE_REF_TEST_KEY", "--port", "0", env=clean_env())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert b"CONFORMANCE_REF_TEST_KEY" in err and b"not set" in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_api_key_env_requires_that_key_and_keeps_it_out_of_argv():
    key = "sk-ref-env-" + os.urandom(6).hex()
    port = free_port()
    proc = conformance("serve", "--api-key-env", "CONFORMANCE_REF_TEST_KEY", "--port", str(port),
                       env=clean_env(CONFORMANCE_REF_TEST_KEY=key))
    try:
        url = f"http://127.0.0.1:{port}/v1/models"
        with httpx.Client(timeout=10) as client:
            for _ in range(600):  # startup: up to a minute on a busy machine
                try:
                    anonymous = client.get(url)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                    time.sleep(0.1)
            else:
                pytest.fail("conformance serve did not start")
            assert anonymous.status_code == 401
            assert client.get(url, headers={"authorization": f"Bearer {key}"}).status_code == 200
        with open(f"/proc/{proc.pid}/cmdline", "rb") as cmdline:
            assert key.encode() not in cmdline.read()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert key.encode() not in out + err
