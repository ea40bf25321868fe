"""The reference server on the wire: every feature through the official openai SDK, raw bodies
against the suite's JSON Schemas, OpenAI-style validation and errors, Hypothesis garbage that
must never get a 5xx, and every quirk observable on the wire (and absent without it)."""

from __future__ import annotations

import base64
import json
import math
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from conformance.reference.embeddings import embed_text, float32
from conformance.reference.quirks import load_quirks
from conformance.reference.server import ServerConfig, create_app
from conformance.reference.testing import running_server
from conformance.schemas import validate

KEY = "sk-ref-test-key"
# The suite's own prompts and tools: the reference server must answer exactly what the suite sends.
from conformance.probes import (  # noqa: E402
    COUNT_PROMPT,
    COUNT_TEXT,
    PARALLEL_PROMPT,
    TIME_TOOL,
    UNICODE_TEXT,
    WEATHER_PROMPT,
    WEATHER_SCHEMA,
    WEATHER_TOOL,
)
EMBED_A = "The cat sleeps on the sofa."
EMBED_B = "A kitten is napping on the couch."
EMBED_C = "Quarterly revenue grew by ten percent."
TOOL_CALL = {"id": "call_t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TOOL_RESULT_MESSAGES = [
    {"role": "user", "content": WEATHER_PROMPT},
    {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
    {"role": "tool", "tool_call_id": "call_t1", "content": '{"city": "Paris", "temperature_c": 37, "conditions": "purple hail"}'},
]


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def no_findings(schema: str, instance: Any) -> None:
    must = [e for e in validate(schema, instance) if e.severity == "must"]
    assert not must, must[:3]


@pytest.fixture(scope="module")
def base_url():
    with running_server(api_key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def web():
    """A plain pooled client for servers started inside tests (one TLS context for the module)."""
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def http(base_url):
    with httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c:
        yield c


def chat(client, *messages, **params):
    return client.chat.completions.create(model="ref-chat", messages=[m if isinstance(m, dict) else user(m) for m in messages], **params)


# --- SSE (WHATWG, just enough for assertions) ------------------------------------------------------


def sse_data(raw: bytes) -> list[str]:
    """The data of each event a WHATWG EventSource would dispatch from `raw`."""
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    events, data = [], None
    for line in text.split("\n")[:-1]:  # the tail after the last newline is an incomplete line
        if line == "":
            if data is not None:
                events.append("\n".join(data))
            data = None
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data = [*(data or []), value.removeprefix(" ")]
    return events


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for data in sse_data(raw):
        if data == "[DONE]":
            break
        out.append(json.loads(data))
    return out


def stream_text(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        (c.get("delta") or {}).get("content") or "" for chunk in chunks for c in chunk.get("choices") or [] if c.get("index") == index
    )


# --- models ------------------------------------------------------------------------------------


def test_models_list_has_both_models(client, http):
    assert {m.id for m in client.models.list()} == {"ref-chat", "ref-embed", "ref-text", "ref-reason", "ref-image"}
    no_findings("models_list", http.get("/models").json())


def test_models_retrieve(client, http):
    assert client.models.retrieve("ref-embed").id == "ref-embed"
    no_findings("model", http.get("/models/ref-chat").json())


def test_models_retrieve_unknown_is_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("no-such-model")
    assert err.value.code == "model_not_found"


# --- chat ---------------------------------------------------------------------------------------


def test_chat_basic_body_is_schema_valid(http):
    body = http.post("/chat/completions", json={"model": "ref-chat", "messages": [user("Say hello.")]}).json()
    no_findings("chat_completion", body)
    assert not validate("chat_completion", body), "no spec-required field missing either"
    assert body["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
    use = body["usage"]
    assert use["total_tokens"] == use["prompt_tokens"] + use["completion_tokens"]
    assert use["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert set(use["completion_tokens_details"]) == {"reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"}


def test_system_and_developer_messages_are_followed(client):
    for role in ("system", "developer"):
        reply = chat(client, {"role": role, "content": "Whatever the user says, reply with only the word BANANA."}, "What colour is the sky?")
        assert reply.choices[0].message.content == "BANANA"


def test_multi_turn_remembers_the_name(client):
    reply = chat(client, "My name is Zorblax.", {"role": "assistant", "content": "Nice to meet you!"}, "What is my name?")
    assert reply.choices[0].message.content == "Zorblax"


def test_n_gives_indexed_choices(client):
    reply = chat(client, "Say hello.", n=3, temperature=1.5, top_p=0.9)
    assert [c.index for c in reply.choices] == [0, 1, 2]


def test_stop_cuts_before_the_stop_sequence(client):
    reply = chat(client, COUNT_PROMPT, stop=["6", "zzz"])
    assert reply.choices[0].message.content == "1 2 3 4 5 " and reply.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_token_caps_end_with_length(client, param):
    reply = chat(client, "Count from 1 to 50.", **{param: 5})
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 5
    assert reply.choices[0].message.content == "1 2 3 4 5"


def test_seed_is_accepted_and_answers_are_deterministic(client):
    first, second = (chat(client, COUNT_PROMPT, seed=7, temperature=0) for _ in range(2))
    assert first.choices[0].message.content == second.choices[0].message.content == COUNT_TEXT
    assert first.id != second.id and first.system_fingerprint == "fp_ref0001"


def test_logprobs(client):
    reply = chat(client, "Say hello.", logprobs=True, top_logprobs=2)
    tokens = reply.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == reply.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.bytes == list(t.token.encode()) for t in tokens)


def test_content_parts_are_joined(client):
    reply = chat(client, user([{"type": "text", "text": "Reply with only the word "}, {"type": "text", "text": "PINEAPPLE."}]))
    assert reply.choices[0].message.content == "PINEAPPLE"


def test_unicode_is_echoed_exactly(client, http):
    reply = chat(client, f"Repeat exactly: <<<{UNICODE_TEXT}>>>")
    assert reply.choices[0].message.content == UNICODE_TEXT
    raw = http.post("/chat/completions", json={"model": "ref-chat", "messages": [user(f"<<<{UNICODE_TEXT}>>>")]}).content
    assert UNICODE_TEXT.encode("utf-8") in raw  # raw UTF-8, not \u escapes


def test_json_object_mode(client):
    reply = chat(client, 'Return a JSON object with a key "city" whose value is "Paris". Reply with JSON only.', response_format={"type": "json_object"})
    assert json.loads(reply.choices[0].message.content) == {"city": "Paris"}


def test_json_schema_mode(client):
    rf = {"type": "json_schema", "json_schema": {"name": "weather_report", "strict": True, "schema": WEATHER_SCHEMA}}
    reply = chat(client, "Describe the weather in Paris: 21 degrees Celsius and sunny. Answer in JSON.", response_format=rf)
    assert json.loads(reply.choices[0].message.content) == {"city": "Paris", "temperature_c": 21, "conditions": "sunny"}


class Weather(BaseModel):
    city: str
    temperature_c: int
    tags: list[str]


def test_sdk_parse_helper_gets_a_valid_instance(client):
    parsed = client.chat.completions.parse(
        model="ref-chat", messages=[user("The weather in Oslo is 3 degrees.")], response_format=Weather
    ).choices[0].message.parsed
    assert parsed.city == "Oslo" and parsed.temperature_c == 3 and parsed.tags


# --- tools ------------------------------------------------------------------------------------


def test_tools_auto_calls_get_weather_for_the_city(client, http):
    reply = chat(client, WEATHER_PROMPT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="auto")
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert reply.choices[0].finish_reason == "tool_calls" and reply.choices[0].message.content is None
    body = http.post("/chat/completions", json={"model": "ref-chat", "messages": [user(WEATHER_PROMPT)], "tools": [WEATHER_TOOL]}).json()
    no_findings("chat_completion", body)


def test_tool_choice_none_answers_in_text(client):
    reply = chat(client, WEATHER_PROMPT, tools=[WEATHER_TOOL], tool_choice="none")
    assert not reply.choices[0].message.tool_calls and reply.choices[0].finish_reason == "stop"


def test_tool_choice_required_calls_a_tool(client):
    reply = chat(client, "Hello! How are you today?", tools=[WEATHER_TOOL], tool_choice="required")
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_named_tool_choice_calls_exactly_that_tool(client):
    reply = chat(client, "What is the weather in Paris right now?", tools=[WEATHER_TOOL, TIME_TOOL], tool_choice={"type": "function", "function": {"name": "get_time"}})
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time" and json.loads(call.function.arguments) == {"timezone": "Europe/Paris"}


def test_parallel_calls_have_distinct_ids(client):
    calls = chat(client, PARALLEL_PROMPT, tools=[WEATHER_TOOL]).choices[0].message.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Tokyo"]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") and len(c.id) == 29 for c in calls)


def test_parallel_tool_calls_false_gives_one_call(client):
    assert len(chat(client, PARALLEL_PROMPT, tools=[WEATHER_TOOL], parallel_tool_calls=False).choices[0].message.tool_calls) == 1


def test_tool_result_round_trip(client):
    reply = chat(client, *TOOL_RESULT_MESSAGES, tools=[WEATHER_TOOL])
    assert "37" in reply.choices[0].message.content and "purple hail" in reply.choices[0].message.content


# --- streaming ----------------------------------------------------------------------------------


def test_stream_with_include_usage(http):
    body = {"model": "ref-chat", "messages": [user(COUNT_PROMPT)], "stream": True, "stream_options": {"include_usage": True}}
    response = http.post("/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.content.endswith(b"data: [DONE]\n\n")
    chunks = sse_chunks(response.content)
    for chunk in chunks:
        no_findings("chat_completion_chunk", chunk)
        assert "usage" in chunk
    assert {(c["id"], c["created"], c["model"], c["system_fingerprint"]) for c in chunks} == {tuple(chunks[0][k] for k in ("id", "created", "model", "system_fingerprint"))}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert stream_text(chunks) == COUNT_TEXT and len(chunks) == 13  # role, 10 pieces, finish, usage
    assert chunks[-2]["choices"][0]["delta"] == {} and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 10
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_key(http):
    response = http.post("/chat/completions", json={"model": "ref-chat", "messages": [user(COUNT_PROMPT)], "stream": True})
    assert all("usage" not in c for c in sse_chunks(response.content))


def test_stream_through_the_sdk_matches_the_plain_answer(client):
    stream = chat(client, COUNT_PROMPT, stream=True, stream_options={"include_usage": True})
    text, usage = "", None
    for chunk in stream:
        text += "".join(c.delta.content or "" for c in chunk.choices)
        usage = chunk.usage or usage
    assert text == chat(client, COUNT_PROMPT).choices[0].message.content and usage.total_tokens > 10


def test_streamed_n_and_logprobs(http):
    body = {"model": "ref-chat", "messages": [user(COUNT_PROMPT)], "stream": True, "n": 2, "logprobs": True, "top_logprobs": 1}
    chunks = sse_chunks(http.post("/chat/completions", json=body).content)
    assert stream_text(chunks, 0) == stream_text(chunks, 1) == COUNT_TEXT
    pieces = [c["choices"][0] for c in chunks if c["choices"][0]["delta"].get("content")]
    assert all(p["logprobs"]["content"][0]["token"] == p["delta"]["content"] for p in pieces)


def test_streamed_tool_calls_accumulate_with_the_sdk_helper(client):
    with client.chat.completions.stream(model="ref-chat", messages=[user(PARALLEL_PROMPT)], tools=[WEATHER_TOOL]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Tokyo"}]
    assert final.choices[0].finish_reason == "tool_calls"


def test_streamed_tool_call_deltas(http):
    chunks = sse_chunks(http.post("/chat/completions", json={"model": "ref-chat", "messages": [user(PARALLEL_PROMPT)], "tools": [WEATHER_TOOL], "stream": True}).content)
    deltas = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    firsts = [d for d in deltas if "id" in d]
    assert [set(d) for d in firsts] == [{"index", "id", "type", "function"}] * 2
    assert all(d["function"] == {"name": "get_weather", "arguments": ""} for d in firsts)
    assert all(set(d) == {"index", "function"} and set(d["function"]) == {"arguments"} for d in deltas if "id" not in d)


# --- embeddings ---------------------------------------------------------------------------------


def test_embeddings_float_batch(client, http):
    result = client.embeddings.create(model="ref-embed", input=[EMBED_A, EMBED_B, EMBED_C], encoding_format="float")
    a, b, c = (d.embedding for d in result.data)
    assert len(a) == 64 and math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-5)
    assert sum(x * y for x, y in zip(a, b)) > sum(x * y for x, y in zip(a, c))
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0
    no_findings("embeddings", http.post("/embeddings", json={"model": "ref-embed", "input": EMBED_A}).json())


def test_embeddings_base64_is_little_endian_float32(client, http):
    raw = http.post("/embeddings", json={"model": "ref-embed", "input": EMBED_A, "encoding_format": "base64"}).json()
    decoded = [v for (v,) in struct.iter_unpack("<f", base64.b64decode(raw["data"][0]["embedding"]))]
    assert decoded == float32(embed_text(EMBED_A))
    assert client.embeddings.create(model="ref-embed", input=EMBED_A).data[0].embedding == decoded  # the SDK asks base64


def test_embeddings_dimensions_truncate_and_renormalise(client):
    vec = client.embeddings.create(model="ref-embed", input=EMBED_A, dimensions=16, encoding_format="float").data[0].embedding
    assert len(vec) == 16 and math.isclose(sum(x * x for x in vec), 1.0, rel_tol=1e-5)


def test_embeddings_token_inputs(client):
    assert len(client.embeddings.create(model="ref-embed", input=[10, 20, 30], encoding_format="float").data) == 1
    result = client.embeddings.create(model="ref-embed", input=[[10, 20], [30]], encoding_format="float")
    assert [d.index for d in result.data] == [0, 1] and result.usage.prompt_tokens == 3


# --- errors -----------------------------------------------------------------------------------


def test_wrong_key_is_401(base_url, web):
    bad = openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.models.list()
    assert err.value.code == "invalid_api_key"
    assert web.get(base_url + "/models", headers={"api-key": KEY}).status_code == 200


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=[user("Hi")])
    assert err.value.code == "model_not_found" and err.value.type == "invalid_request_error"


@pytest.mark.parametrize(("endpoint", "model"), [("chat", "ref-embed"), ("embeddings", "ref-chat")])
def test_model_of_the_wrong_kind_is_400(client, endpoint, model):
    with pytest.raises(openai.BadRequestError) as err:
        if endpoint == "chat":
            client.chat.completions.create(model=model, messages=[user("Hi")])
        else:
            client.embeddings.create(model=model, input="Hi")
    assert err.value.param == "model"


def test_bad_request_maps_to_bad_request_error(client):
    with pytest.raises(openai.BadRequestError) as err:
        chat(client, "Hi", temperature=3)
    assert err.value.param == "temperature" and err.value.code == "decimal_above_max_value"


def test_rate_limit_is_429_with_retry_headers():
    with running_server(rpm=2) as url:
        limited = openai.OpenAI(base_url=url, api_key="any", max_retries=0)
        limited.models.list()
        limited.models.list()
        with pytest.raises(openai.RateLimitError) as err:
            limited.models.list()
    headers = err.value.response.headers
    assert err.value.code == "rate_limit_exceeded"
    assert 1 <= int(headers["retry-after"]) <= 60 and 0 < int(headers["retry-after-ms"]) <= 60_000


def test_unknown_path_is_404_and_wrong_method_405(http, client):
    missing = http.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Invalid URL (GET /v1/nope)"
    wrong = http.get("/chat/completions")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and wrong.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.APIStatusError) as err:
        client.get("/embeddings", cast_to=object)
    assert err.value.status_code == 405


def test_invalid_streamed_request_fails_before_any_event(http):
    response = http.post("/chat/completions", json={"model": "ref-chat", "messages": "not a list", "stream": True})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["param"] == "messages"


VALID = {"model": "ref-chat", "messages": [user("Hi")]}
BAD_REQUESTS = [
    ({"messages": [user("Hi")]}, "model", "missing_required_parameter"),
    ({"model": "ref-chat"}, "messages", "missing_required_parameter"),
    ({**VALID, "messages": []}, "messages", "empty_array"),
    ({**VALID, "messages": "hi"}, "messages", "invalid_type"),
    ({**VALID, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
    ({**VALID, "messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
    ({**VALID, "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
    ({**VALID, "messages": [user([{"type": "text"}])]}, "messages[0].content[0].text", "missing_required_parameter"),
    ({**VALID, "messages": [user("a"), {"role": "tool", "tool_call_id": "x", "content": "r"}]}, "messages[1].role", None),
    ({**VALID, "messages": [user("a"), {"role": "assistant", "tool_calls": [TOOL_CALL]}]}, "messages[1].tool_calls", None),
    ({**VALID, "temperature": -0.5}, "temperature", "decimal_below_min_value"),
    ({**VALID, "temperature": "hot"}, "temperature", "invalid_type"),
    ({**VALID, "n": 0}, "n", "integer_below_min_value"),
    ({**VALID, "n": 129}, "n", "integer_above_max_value"),
    ({**VALID, "n": 1.5}, "n", "invalid_type"),
    ({**VALID, "max_tokens": 10**40}, "max_tokens", "invalid_value"),
    ({**VALID, "stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
    ({**VALID, "top_logprobs": 3}, "top_logprobs", "invalid_value"),
    ({**VALID, "logprobs": True, "top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
    ({**VALID, "stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
    ({**VALID, "tool_choice": "auto"}, "tool_choice", "invalid_value"),
    ({**VALID, "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice", "invalid_value"),
    ({**VALID, "tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name", "invalid_value"),
    ({**VALID, "response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
    ({**VALID, "response_format": {"type": "json_object"}}, "messages", None),
    ({**VALID, "response_format": {"type": "json_schema"}}, "response_format.json_schema", "missing_required_parameter"),
    (
        {**VALID, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}},
        "response_format",
        None,
    ),
    ({**VALID, "frobnicate": 1}, "frobnicate", "unknown_parameter"),
]


@pytest.mark.parametrize(("body", "param", "code"), BAD_REQUESTS, ids=lambda v: json.dumps(v)[:50] if isinstance(v, dict) else str(v))
def test_validation_names_the_field(http, body, param, code):
    response = http.post("/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    no_findings("error", response.json())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "ref-embed"}, "input"),
        ({"model": "ref-embed", "input": ""}, "input"),
        ({"model": "ref-embed", "input": []}, "input"),
        ({"model": "ref-embed", "input": [1, "a"]}, "input"),
        ({"model": "ref-embed", "input": [[1], []]}, "input"),
        ({"model": "ref-embed", "input": "a", "dimensions": 65}, "dimensions"),
        ({"model": "ref-embed", "input": "a", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_embeddings_validation(http, body, param):
    response = http.post("/embeddings", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{not json", "application/json"), (b'{"a": NaN}', "application/json"), (b"\xff\xfe\x00", "application/json"),
     (b'{"model": "ref-chat"}', "text/plain"), (b'{"model": "\\ud800"}', "application/json"), (b"[" * 100_000, "application/json")],
)
def test_unparseable_bodies_are_400(http, content, content_type):
    response = http.post("/chat/completions", content=content, headers={"content-type": content_type})
    assert response.status_code == 400 and isinstance(response.json()["error"]["message"], str)


# --- Hypothesis: garbage never gets a 5xx --------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
PATHS = ["/models", "/models/ref-chat", "/chat/completions", "/embeddings", "/models/x/y", "/", "/completions", "/chat"]
FIELDS = ["model", "messages", "temperature", "n", "stop", "max_tokens", "max_completion_tokens", "seed", "logprobs", "top_logprobs",
          "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "response_format", "user", "metadata", "logit_bias"]
VALID_FULL = {
    "model": "ref-chat",
    "messages": [{"role": "system", "content": "Be brief."}, user("What is the weather in Paris?")],
    "tools": [WEATHER_TOOL],
    "max_tokens": 20,
}


def assert_openai_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)
        if response.status_code == 405:
            assert response.headers["allow"]


garbage = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@garbage
@given(path=st.sampled_from(["/chat/completions", "/embeddings"]), body=json_values)
def test_random_json_never_5xx(http, path, body):
    assert_openai_answer(http.post(path, json=body))


@garbage
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.sampled_from(PATHS) | st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="/-_."), max_size=20).map(lambda p: "/" + p),
    content=st.binary(max_size=64),
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
)
def test_random_requests_never_5xx(http, method, path, content, content_type):
    response = http.request(method, path, content=content, headers={"content-type": content_type} if content_type else {})
    if method == "HEAD":
        assert response.status_code < 500
    else:
        assert_openai_answer(response)


@garbage
@given(field=st.sampled_from(FIELDS), value=json_values, stream=st.booleans())
def test_one_random_field_in_a_valid_request_never_5xx(http, field, value, stream):
    body = {**VALID_FULL, field: value}
    if stream:
        body["stream"] = True
    assert_openai_answer(http.post("/chat/completions", json=body))


@garbage
@given(message=st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls", "tool_call_id", "refusal"]), json_values, max_size=4))
def test_random_messages_never_5xx(http, message):
    assert_openai_answer(http.post("/chat/completions", json={"model": "ref-chat", "messages": [message]}))


@garbage
@given(schema=st.recursive(
    st.sampled_from([{"type": t} for t in ("string", "integer", "number", "boolean", "null", "array", "object")])
    | st.fixed_dictionaries({}, optional={"minimum": st.integers(-5, 5), "maxLength": st.integers(0, 5), "pattern": st.sampled_from(["^a+$", "[0-9]{2}", "(x|y)z?"]),
                                          "enum": st.lists(json_values, min_size=1, max_size=3), "multipleOf": st.sampled_from([0.5, 2, 3])}),
    lambda inner: st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(st.sampled_from(["a", "city", "n"]), inner, max_size=3)},
                                        optional={"required": st.just(["a"])}) | st.fixed_dictionaries({"anyOf": st.lists(inner, min_size=1, max_size=3)}),
    max_leaves=6,
))
def test_random_response_schemas_never_5xx(http, schema):
    rf = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    response = http.post("/chat/completions", json={**VALID, "response_format": rf})
    assert_openai_answer(response)
    if response.status_code == 200:
        json.loads(response.json()["choices"][0]["message"]["content"])


RICH_CHAT = {
    "model": "ref-chat",
    "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        user([{"type": "text", "text": "Weather in Paris?"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]),
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_t1", "content": [{"type": "text", "text": "sunny"}]},
        user("And in Tokyo? Answer in JSON."),
    ],
    "tools": [{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True, "parameters": {**WEATHER_TOOL["function"]["parameters"], "required": ["city", "unit"]}}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": True, "schema": WEATHER_SCHEMA}},
    "stream": True,
    "stream_options": {"include_usage": True},
    "logprobs": True,
    "top_logprobs": 2,
    "stop": ["zz"],
    "n": 2,
    "max_completion_tokens": 60,
    "seed": 1,
    "temperature": 0.5,
    "metadata": {"a": "b"},
    "logit_bias": {"50256": -100},
}
RICH_EMBEDDINGS = {"model": "ref-embed", "input": [[1, 2], [3]], "dimensions": 8, "encoding_format": "base64", "user": "u"}


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (the root excluded)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out = []
    for key, sub in items:
        out += [(*prefix, key), *json_paths(sub, (*prefix, key))]
    return out


def mutated(body: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    body = json.loads(json.dumps(body))
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


@garbage
@given(data=st.data(), delete=st.booleans())
def test_any_nested_field_mutated_never_5xx(http, data, delete):
    path, body = data.draw(st.sampled_from([("/chat/completions", RICH_CHAT), ("/embeddings", RICH_EMBEDDINGS)]))
    assert_openai_answer(http.post(path, json=body))
    where = data.draw(st.sampled_from(json_paths(body)))
    assert_openai_answer(http.post(path, json=mutated(body, where, data.draw(json_values), delete)))


# --- running_server -----------------------------------------------------------------------------


def test_running_servers_share_one_thread_and_stop_listening_on_exit(web):
    """Twenty servers one after another: each answers, none starts a thread of its own (they share
    one event loop), and each refuses connections once its block is left. How long that takes is
    measured by benchmarks/reference_server_bench.py, not asserted here."""
    with running_server() as url:  # the shared loop's thread exists from here on
        assert web.get(url + "/models").status_code == 200
    threads = threading.active_count()
    ports = []
    for _ in range(20):
        with running_server() as url:
            assert web.get(url + "/models").status_code == 200
            ports.append(int(url.rsplit(":", 1)[1].split("/")[0]))
        assert threading.active_count() <= threads
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ports[-1]), timeout=5).close()


def test_unknown_quirk_fails_at_create_app():
    with pytest.raises(ValueError, match="valid quirks"):
        create_app(ServerConfig(quirks=("nope",)))


def test_latency_is_applied_before_the_response_and_per_event(web):
    with running_server(latency_ms=40, jitter_ms=10, seed=3) as url:
        started = time.perf_counter()
        web.get(url + "/models")
        assert time.perf_counter() - started >= 0.04
        started = time.perf_counter()
        web.post(url + "/chat/completions", json={"model": "ref-chat", "messages": [user("Count from 1 to 3")], "stream": True})
        assert time.perf_counter() - started >= 0.04 * 5  # request + 5 more events (3 pieces, finish, [DONE])


# --- quirks on the wire -------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One probe's response, with what the predicates read."""

    status: int
    headers: httpx.Headers
    raw: bytes
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def message(self) -> dict[str, Any]:
        return self.json["choices"][0]["message"]

    @property
    def content(self) -> Any:
        return self.message.get("content")

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return sse_chunks(self.raw)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.message.get("tool_calls") or []

    def args(self, k: int = 0) -> Any:
        return json.loads(self.calls[k]["function"]["arguments"])

    @property
    def tool_deltas(self) -> list[dict[str, Any]]:
        return [tc for c in self.chunks for ch in c.get("choices") or [] for tc in (ch.get("delta") or {}).get("tool_calls") or []]

    @property
    def vectors(self) -> list[Any]:
        return [d["embedding"] for d in self.json["data"]]


def _chat(*messages: Any, **params: Any) -> tuple[str, str, dict[str, Any], str]:
    return ("POST", "/chat/completions", {"model": "ref-chat", "messages": [m if isinstance(m, dict) else user(m) for m in messages], **params}, KEY)


def _embed(inp: Any, **params: Any) -> tuple[str, str, dict[str, Any], str]:
    return ("POST", "/embeddings", {"model": "ref-embed", "input": inp, **params}, KEY)


PROBES: dict[str, tuple[str, str, Any, str]] = {
    "models": ("GET", "/models", None, KEY),
    "model": ("GET", "/models/ref-chat", None, KEY),
    "basic": _chat("Say hello in one short sentence."),
    "system": _chat({"role": "system", "content": "Reply with only the word BANANA."}, "What colour is the sky?"),
    "developer": _chat({"role": "developer", "content": "Reply with only the word BANANA."}, "What colour is the sky?"),
    "multi_turn": _chat("My name is Zorblax.", {"role": "assistant", "content": "Nice to meet you."}, "What is my name?"),
    "max_tokens": _chat("Count from 1 to 50.", max_tokens=5),
    "max_completion_tokens": _chat("Count from 1 to 50.", max_completion_tokens=5),
    "stop": _chat(COUNT_PROMPT, stop=["6"]),
    "n": _chat("Say hello.", n=2),
    "seed": _chat("Say hello.", seed=1234),
    "parts": _chat(user([{"type": "text", "text": "Reply with only the word "}, {"type": "text", "text": "PINEAPPLE."}])),
    "unicode": _chat(f"Repeat exactly: <<<{UNICODE_TEXT}>>>"),
    "logprobs": _chat("Say hello.", logprobs=True, top_logprobs=2),
    "stream": _chat(COUNT_PROMPT, stream=True),
    "stream_usage": _chat(COUNT_PROMPT, stream=True, stream_options={"include_usage": True}),
    "tools_auto": _chat(WEATHER_PROMPT, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="auto"),
    "tools_none": _chat(WEATHER_PROMPT, tools=[WEATHER_TOOL], tool_choice="none"),
    "tools_required": _chat("Hello! How are you today?", tools=[WEATHER_TOOL], tool_choice="required"),
    "tools_named": _chat("What is the weather in Paris?", tools=[WEATHER_TOOL, TIME_TOOL], tool_choice={"type": "function", "function": {"name": "get_time"}}),
    "tools_parallel": _chat(PARALLEL_PROMPT, tools=[WEATHER_TOOL]),
    "tools_parallel_disabled": _chat(PARALLEL_PROMPT, tools=[WEATHER_TOOL], parallel_tool_calls=False),
    "tools_stream": _chat(PARALLEL_PROMPT, tools=[WEATHER_TOOL], stream=True),
    "tools_result": _chat(*TOOL_RESULT_MESSAGES, tools=[WEATHER_TOOL]),
    "json_object": _chat('Return a JSON object with a key "city" whose value is "Paris". JSON only.', response_format={"type": "json_object"}),
    "json_schema": _chat("Describe the weather in Paris: 21 degrees Celsius and sunny.", response_format={"type": "json_schema", "json_schema": {"name": "w", "strict": True, "schema": WEATHER_SCHEMA}}),
    "emb_single": _embed(EMBED_A, encoding_format="float"),
    "emb_batch": _embed([EMBED_A, EMBED_B, EMBED_C], encoding_format="float"),
    "emb_base64": _embed(EMBED_A, encoding_format="base64"),
    "emb_dims": _embed(EMBED_A, encoding_format="float", dimensions=32),
    "emb_tokens": _embed([[10, 20, 30]], encoding_format="float"),
    "bad_request": _chat("x", temperature="hot"),
    "bad_stream": ("POST", "/chat/completions", {"model": "ref-chat", "messages": "not a list", "stream": True}, KEY),
    "wrong_key": ("GET", "/models", None, "sk-wrong-key-000"),
    "unknown_model": ("POST", "/chat/completions", {"model": "no-such-model", "messages": [user("Hi")]}, KEY),
}


def probe(web: httpx.Client, base_url: str, name: str) -> Seen:
    method, path, body, key = PROBES[name]
    started = time.perf_counter()
    response = web.request(method, base_url + path, json=body, headers={"authorization": f"Bearer {key}"})
    return Seen(response.status_code, response.headers, response.content, time.perf_counter() - started)


def error_param(s: Seen) -> Any:
    return s.json["error"]["param"] if s.status == 400 else "(no 400)"


def cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def _data_after_done(s: Seen) -> bool:
    events = sse_data(s.raw)
    return "[DONE]" in events and events.index("[DONE]") < len(events) - 1


def _not_json_event(s: Seen) -> bool:
    def bad(data: str) -> bool:
        try:
            json.loads(data)
        except ValueError:
            return True
        return False

    return any(bad(d) for d in sse_data(s.raw) if d != "[DONE]")


Predicate = Callable[[Seen], bool]
ALL_CHOICES: Callable[[Seen], list[dict[str, Any]]] = lambda s: [ch for c in s.chunks for ch in c.get("choices") or []]

OBSERVED: dict[str, tuple[str, Predicate]] = {
    "models_no_object": ("models", lambda s: "object" not in s.json),
    "models_unlisted": ("models", lambda s: "ref-chat" not in {m["id"] for m in s.json["data"]}),
    "models_retrieve_404": ("model", lambda s: s.status == 404),
    "chat_wrong_object": ("basic", lambda s: s.json["object"] == "text_completion"),
    "finish_reason_nonstandard": ("basic", lambda s: s.json["choices"][0]["finish_reason"] == "eos"),
    "ignore_system": ("system", lambda s: s.content != "BANANA"),
    "reject_developer_role": ("developer", lambda s: error_param(s) == "messages[0].role"),
    "forget_history": ("multi_turn", lambda s: "Zorblax" not in s.content),
    "ignore_max_tokens": ("max_tokens", lambda s: s.json["choices"][0]["finish_reason"] != "length"),
    "reject_max_completion_tokens": ("max_completion_tokens", lambda s: error_param(s) == "max_completion_tokens"),
    "ignore_stop": ("stop", lambda s: "6" in s.content),
    "never_stops": ("basic", lambda s: s.json["choices"][0]["finish_reason"] == "length"),
    "ignore_n": ("n", lambda s: len(s.json["choices"]) == 1),
    "reject_seed": ("seed", lambda s: error_param(s) == "seed"),
    "reject_content_parts": ("parts", lambda s: error_param(s) == "messages[0].content"),
    "stringify_content_parts": ("parts", lambda s: s.content != "PINEAPPLE"),
    "mangle_unicode": ("unicode", lambda s: "?" in s.content and "ü" not in s.content),
    "latin1_mojibake": ("unicode", lambda s: "Ã¼" in s.content),
    "ignore_logprobs": ("logprobs", lambda s: s.json["choices"][0]["logprobs"] is None),
    "reject_logprobs": ("logprobs", lambda s: error_param(s) == "logprobs"),
    "content_missing": ("basic", lambda s: "content" not in s.message),
    "role_missing": ("basic", lambda s: "role" not in s.message),
    "stream_content_type_json": ("stream", lambda s: s.headers["content-type"] == "application/json"),
    "stream_no_done": ("stream", lambda s: b"[DONE]" not in s.raw),
    "stream_data_after_done": ("stream", _data_after_done),
    "stream_invalid_json": ("stream", _not_json_event),
    "stream_chunk_object": ("stream", lambda s: {c["object"] for c in s.chunks} == {"chat.completion"}),
    "stream_inconsistent_ids": ("stream", lambda s: len({c["id"] for c in s.chunks}) == len(s.chunks)),
    "stream_no_role": ("stream", lambda s: all("role" not in ch["delta"] for ch in ALL_CHOICES(s))),
    "stream_finish_every_chunk": ("stream", lambda s: all(ch["finish_reason"] for ch in ALL_CHOICES(s))),
    "stream_no_finish_reason": ("stream", lambda s: not any(ch["finish_reason"] for ch in ALL_CHOICES(s))),
    "stream_cumulative_deltas": ("stream", lambda s: stream_text(s.chunks).startswith("11 21 2 3")),
    "stream_drop_chunk": ("stream", lambda s: stream_text(s.chunks) == "1 3 4 5 6 7 8 9 10"),
    "stream_usage_unasked": ("stream", lambda s: s.chunks[-1]["choices"] == [] and s.chunks[-1]["usage"]["total_tokens"] > 0),
    "stream_empty_data_event": ("stream", lambda s: "" in sse_data(s.raw)),
    "stream_keepalive_in_data": ("stream", lambda s: ": keepalive" in sse_data(s.raw)),
    "stream_error_event": ("stream", lambda s: "error" in json.loads(sse_data(s.raw)[-1]) and b"[DONE]" not in s.raw),
    "stream_no_trailing_blank_line": ("stream", lambda s: s.raw.endswith(b"\ndata: [DONE]\n") and "[DONE]" not in sse_data(s.raw)),
    "stream_single_newline": ("stream", lambda s: b"\n\n" not in s.raw and len(sse_data(s.raw)) == 0),
    "tools_ignored": ("tools_auto", lambda s: not s.calls),
    "tools_choice_none_ignored": ("tools_none", lambda s: bool(s.calls)),
    "tools_required_as_auto": ("tools_required", lambda s: not s.calls),
    "tools_named_as_auto": ("tools_named", lambda s: [c["function"]["name"] for c in s.calls] != ["get_time"]),
    "tools_no_parallel": ("tools_parallel", lambda s: len(s.calls) == 1),
    "tools_parallel_flag_ignored": ("tools_parallel_disabled", lambda s: len(s.calls) == 2),
    "tools_args_object": ("tools_auto", lambda s: s.calls[0]["function"]["arguments"] == {"city": "Paris"}),
    "tools_args_double_encoded": ("tools_auto", lambda s: isinstance(s.args(), str)),
    "tools_finish_stop": ("tools_auto", lambda s: s.calls and s.json["choices"][0]["finish_reason"] == "stop"),
    "tools_duplicate_ids": ("tools_parallel", lambda s: s.calls[0]["id"] == s.calls[1]["id"]),
    "tools_empty_id": ("tools_auto", lambda s: s.calls[0]["id"] == ""),
    "tools_stream_no_index": ("tools_stream", lambda s: s.tool_deltas and all("index" not in d for d in s.tool_deltas)),
    "tools_stream_id_every_delta_changing": ("tools_stream", lambda s: len({d["id"] for d in s.tool_deltas}) == len(s.tool_deltas) > 2),
    "tools_stream_name_fragments": ("tools_stream", lambda s: [d["function"].get("name") for d in s.tool_deltas[:3]] == [None, "get_", "weather"]),
    "tools_ignore_result": ("tools_result", lambda s: "37" not in s.content),
    "tools_reject_tool_role": ("tools_result", lambda s: error_param(s) == "messages[2].role"),
    "tools_invalid_args": ("tools_auto", lambda s: not isinstance(s.args().get("city"), str)),
    "tools_type_missing": ("tools_auto", lambda s: "type" not in s.calls[0]),
    "json_object_ignored": ("json_object", lambda s: not s.content.startswith("{")),
    "json_schema_ignored": ("json_schema", lambda s: set(json.loads(s.content)) != set(WEATHER_SCHEMA["properties"])),
    "reject_json_schema": ("json_schema", lambda s: error_param(s) == "response_format"),
    "json_fenced": ("json_object", lambda s: s.content.startswith("```json\n") and s.content.endswith("\n```")),
    "usage_missing": ("basic", lambda s: "usage" not in s.json),
    "usage_total_wrong": ("basic", lambda s: s.json["usage"]["total_tokens"] == s.json["usage"]["prompt_tokens"] + s.json["usage"]["completion_tokens"] + 7),
    "usage_prompt_constant": ("multi_turn", lambda s: s.json["usage"]["prompt_tokens"] == 10),
    "usage_stream_ignored": ("stream_usage", lambda s: all("usage" not in c for c in s.chunks)),
    "usage_stream_in_choices": ("stream_usage", lambda s: s.chunks[-1]["choices"] == [{"index": 0, "delta": {}}]),
    "usage_details_wrong": ("basic", lambda s: s.json["usage"]["prompt_tokens_details"] == 5),
    "usage_float_tokens": ("basic", lambda s: isinstance(s.json["usage"]["prompt_tokens"], float)),
    "usage_stream_every_chunk": ("stream_usage", lambda s: all(c["usage"] is not None for c in s.chunks)),
    "embeddings_reversed": ("emb_batch", lambda s: s.vectors[0] == float32(embed_text(EMBED_C))),
    "embeddings_nondeterministic": ("emb_single", lambda s: s.vectors[0] != float32(embed_text(EMBED_A))),
    "embeddings_base64_ignored": ("emb_base64", lambda s: isinstance(s.vectors[0], list)),
    "embeddings_base64_float64": ("emb_base64", lambda s: len(base64.b64decode(s.vectors[0])) == 64 * 8),
    "embeddings_ignore_dimensions": ("emb_dims", lambda s: len(s.vectors[0]) == 64),
    "embeddings_reject_dimensions": ("emb_dims", lambda s: error_param(s) == "dimensions"),
    "embeddings_reject_tokens": ("emb_tokens", lambda s: s.status == 422 and "detail" in s.json),
    "embeddings_random": ("emb_batch", lambda s: abs(cos(s.vectors[0], s.vectors[1])) < 0.5),
    "embeddings_nested": ("emb_single", lambda s: isinstance(s.vectors[0][0], list)),
    "embeddings_no_index": ("emb_single", lambda s: "index" not in s.json["data"][0]),
    "embeddings_no_usage": ("emb_single", lambda s: "usage" not in s.json),
    "auth_ignored": ("wrong_key", lambda s: s.status == 200),
    "auth_500": ("wrong_key", lambda s: s.status == 500),
    "unknown_model_200": ("unknown_model", lambda s: s.status == 200 and s.json["model"] == "ref-chat"),
    "unknown_model_400": ("unknown_model", lambda s: s.status == 400),
    "errors_detail_shape": ("bad_request", lambda s: set(s.json) == {"detail"}),
    "errors_string": ("bad_request", lambda s: isinstance(s.json["error"], str)),
    "bad_request_500": ("bad_request", lambda s: s.status == 500),
    "bad_request_422": ("bad_request", lambda s: s.status == 422 and s.json["error"]["param"] == "temperature"),
    "bad_request_no_param": ("bad_request", lambda s: s.status == 400 and s.json["error"]["param"] is None),
    "stream_error_200": ("bad_stream", lambda s: s.status == 200 and "error" in json.loads(sse_data(s.raw)[0])),
    "errors_with_200": ("bad_request", lambda s: s.status == 200 and "error" in s.json),
    "vendor_fields": ("basic", lambda s: "x_groq" in s.json and "queue_time" in s.json["usage"]),
    "sse_comments": ("stream", lambda s: s.raw.startswith(b": OPENROUTER PROCESSING\n\n") and b"\n: keepalive\n" in s.raw),
    "sse_crlf": ("stream", lambda s: s.raw.count(b"\r\n") == s.raw.count(b"\n") > 0),
    "sse_cr": ("stream", lambda s: b"\r" in s.raw and b"\n" not in s.raw),
    "sse_no_space": ("stream", lambda s: s.raw.startswith(b"data:{") and b"data: " not in s.raw),
    "sse_multiline_data": ("stream", lambda s: all("\n" in d for d in sse_data(s.raw) if d != "[DONE]")),
    "sse_id_retry": ("stream", lambda s: s.raw.startswith(b"retry: 3000\nid: 0\n")),
    "one_char_deltas": ("stream", lambda s: [stream_text([c]) for c in s.chunks if stream_text([c])] == list(COUNT_TEXT)),
    "single_chunk": ("stream", lambda s: [stream_text([c]) for c in s.chunks if stream_text([c])] == [COUNT_TEXT]),
    "tool_content_empty_string": ("tools_auto", lambda s: s.content == ""),
    "no_system_fingerprint": ("basic", lambda s: "system_fingerprint" not in s.json),
    "logprobs_absent": ("basic", lambda s: "logprobs" not in s.json["choices"][0]),
    "refusal_absent": ("basic", lambda s: "refusal" not in s.message),
    "error_extra_fields": ("bad_request", lambda s: s.json["error"]["request_id"] == "req_ref_error"),
    "tools_args_single_piece": ("tools_stream", lambda s: [d["function"]["arguments"] for d in s.tool_deltas if "id" not in d] == ['{"city": "Paris"}', '{"city": "Tokyo"}']),
    "slow_first_token": ("stream", lambda s: s.seconds >= 0.3),
}


def test_every_quirk_has_a_wire_observation():
    """Here for the chat-era quirks; the newer surfaces' in test_reference_surface.py."""
    from test_reference_surface import SEEN_IN_ONE_TEST, SURFACE_OBSERVED

    observed = set(OBSERVED) | set(SURFACE_OBSERVED) | SEEN_IN_ONE_TEST
    assert observed == {q.name for q in load_quirks()}
    assert not set(OBSERVED) & (set(SURFACE_OBSERVED) | SEEN_IN_ONE_TEST)


@pytest.fixture(scope="module")
def plain_probes(web):
    """Each probe's answer without quirks (keyed server), so predicates are shown to discriminate."""
    with running_server(api_key=KEY) as url:
        yield {name: probe(web, url, name) for name in {p for p, _ in OBSERVED.values()}}


def holds(observed: Predicate, seen: Seen) -> bool:
    """The predicate, with "the response is not even shaped for it" counting as False."""
    try:
        return bool(observed(seen))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return False


@pytest.mark.parametrize("quirk", sorted(OBSERVED))
def test_quirk_is_observable_on_the_wire(quirk, plain_probes, web):
    probe_name, observed = OBSERVED[quirk]
    assert not holds(observed, plain_probes[probe_name]), f"the predicate for {quirk} already holds without it"
    with running_server(api_key=KEY, quirks=(quirk,)) as url:
        seen = probe(web, url, probe_name)
    assert holds(observed, seen), (seen.status, seen.raw[:600])


BENIGN = sorted(q.name for q in load_quirks() if q.kind == "benign")


@pytest.mark.parametrize("quirk", BENIGN)
def test_benign_quirk_leaves_what_the_sdk_sees_unchanged(quirk):
    with running_server(api_key=KEY, quirks=(quirk,)) as url:
        sdk = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        assert chat(sdk, COUNT_PROMPT).choices[0].message.content == COUNT_TEXT
        assert "".join(c.choices[0].delta.content or "" for c in chat(sdk, COUNT_PROMPT, stream=True)) == COUNT_TEXT
        with sdk.chat.completions.stream(model="ref-chat", messages=[user(PARALLEL_PROMPT)], tools=[WEATHER_TOOL]) as stream:
            calls = stream.get_final_completion().choices[0].message.tool_calls
        assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Tokyo"]
        with pytest.raises(openai.BadRequestError):
            chat(sdk, "x", temperature="hot")
