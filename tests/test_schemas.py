"""The wire schemas and conformance.schemas, specified by samples.

Samples follow the shapes of the OpenAI OpenAPI examples. Each deviation names the pointer and
rule a report must show; each legal variation must leave no "must" error.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from conformance.schemas import (
    SCHEMA_NAMES,
    SchemaError,
    is_valid,
    load_schema,
    schemas_dir,
    validate,
)

WIRE_SCHEMAS = (
    "chat_completion", "chat_completion_chunk", "embeddings", "models_list", "model", "error",
    "response", "response_stream_event", "completion", "completion_chunk", "images_response",
)

CHAT = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A wooden boardwalk.", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}

TOOL_CHAT = {
    **CHAT,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
}

_HEAD = {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190, "model": "gpt-4o-mini"}


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {**_HEAD, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}


CHUNKS = {
    "role": _chunk({"role": "assistant", "content": ""}),
    "content": _chunk({"content": "Hello"}),
    "tool call opens": _chunk(
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}
    ),
    "tool call arguments": _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
    "finish": _chunk({}, "stop"),
    "usage": {**_HEAD, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}},
}

EMBEDDINGS = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, 0.015797347]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}
EMBEDDINGS_BASE64 = {**EMBEDDINGS, "data": [{"object": "embedding", "index": 0, "embedding": "AACAPwAAAEA="}]}

MODELS = {
    "object": "list",
    "data": [
        {"id": "gpt-4o-mini", "object": "model", "created": 1686935002, "owned_by": "openai"},
        {"id": "ref-embed", "object": "model", "created": 1686935002, "owned_by": "system"},
    ],
}

ERROR = {
    "error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}

VALID = [
    ("chat_completion", CHAT),
    ("chat_completion", TOOL_CHAT),
    *(("chat_completion_chunk", chunk) for chunk in CHUNKS.values()),
    ("embeddings", EMBEDDINGS),
    ("embeddings", EMBEDDINGS_BASE64),
    ("models_list", MODELS),
    ("model", MODELS["data"][0]),
    ("error", ERROR),
]
VALID_IDS = ["chat", "chat tool calls", *(f"chunk {k}" for k in CHUNKS), "embeddings float", "embeddings base64", "models", "model", "error"]


def changed(body: dict[str, Any], edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A deep copy of `body` with `edit` applied."""
    copied = copy.deepcopy(body)
    edit(copied)
    return copied


def rules_at(errors: list[SchemaError]) -> set[tuple[str, str]]:
    return {(e.pointer, e.rule) for e in errors}


# --- the schema files ----------------------------------------------------------------------


def test_schema_names_start_with_the_wire_schemas() -> None:
    assert SCHEMA_NAMES[: len(WIRE_SCHEMAS)] == WIRE_SCHEMAS
    assert "common" not in SCHEMA_NAMES


@pytest.mark.parametrize("name", [*WIRE_SCHEMAS, "common"])
def test_schema_is_valid_draft_2020_12_with_id_title_description(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://openai-compat-conformance.dev/schemas/{name}.schema.json"
    assert schema["title"] and schema["description"]
    assert (schemas_dir() / f"{name}.schema.json").is_file()


@pytest.mark.parametrize("name", [*WIRE_SCHEMAS, "common"])
def test_wire_schemas_never_forbid_vendor_fields(name: str) -> None:
    assert '"additionalProperties": false' not in json.dumps(load_schema(name))
    assert "unevaluatedProperties" not in json.dumps(load_schema(name))


def test_load_schema_returns_a_copy() -> None:
    load_schema("chat_completion")["required"].clear()
    assert "id" in load_schema("chat_completion")["required"]


# --- samples that conform ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "body"), VALID, ids=VALID_IDS)
def test_spec_shaped_body_has_no_errors(name: str, body: dict[str, Any]) -> None:
    assert validate(name, body) == []
    assert is_valid(name, body)


LEGAL_VARIATIONS = [
    ("vendor fields everywhere", "chat_completion", lambda b: (
        b.update(x_groq={"id": "req_01"}),
        b["choices"][0].update(stop_reason=None),
        b["choices"][0]["message"].update(reasoning_content="..."),
        b["usage"].update(queue_time=0.01),
    )),
    ("system_fingerprint and service_tier absent", "chat_completion", lambda b: (
        b.pop("system_fingerprint"), b.pop("service_tier"))),
    ("system_fingerprint null, vendor service tier", "chat_completion", lambda b: (
        b.update(system_fingerprint=None, service_tier="on_demand"))),
    ("usage absent", "chat_completion", lambda b: b.pop("usage")),
    ("usage details null", "chat_completion", lambda b: b["usage"].update(
        prompt_tokens_details=None, completion_tokens_details=None)),
    ("tool_calls null next to content", "chat_completion", lambda b: b["choices"][0]["message"].update(tool_calls=None)),
    ("chunk usage null", "chat_completion_chunk", lambda b: b.update(usage=None)),
    ("chunk vendor fields", "chat_completion_chunk", lambda b: (
        b.update(x_groq={"id": "req_01"}), b["choices"][0]["delta"].update(reasoning="hm"))),
    ("chunk logprobs absent", "chat_completion_chunk", lambda b: b["choices"][0].pop("logprobs")),
    ("embeddings vendor fields", "embeddings", lambda b: b.update(id="emb-1", created=1)),
    ("error code null, extra fields", "error", lambda b: b["error"].update(code=None, request_id="r1")),
]


@pytest.mark.parametrize(("name", "edit"), [(n, e) for _, n, e in LEGAL_VARIATIONS], ids=[i for i, _, _ in LEGAL_VARIATIONS])
def test_legal_variation_has_no_errors(name: str, edit: Callable[[dict[str, Any]], object]) -> None:
    base = {"chat_completion": CHAT, "chat_completion_chunk": CHUNKS["content"], "embeddings": EMBEDDINGS, "error": ERROR}[name]
    assert validate(name, changed(base, edit)) == []


SPEC_ONLY_MISSES = [
    ("choice logprobs", "chat_completion", CHAT, lambda b: b["choices"][0].pop("logprobs"), "/choices/0/logprobs"),
    ("message refusal", "chat_completion", CHAT, lambda b: b["choices"][0]["message"].pop("refusal"), "/choices/0/message/refusal"),
    ("content beside tool calls", "chat_completion", TOOL_CHAT, lambda b: b["choices"][0]["message"].pop("content"), "/choices/0/message/content"),
    ("chunk finish_reason", "chat_completion_chunk", CHUNKS["content"], lambda b: b["choices"][0].pop("finish_reason"), "/choices/0/finish_reason"),
    ("embeddings usage", "embeddings", EMBEDDINGS, lambda b: b.pop("usage"), "/usage"),
    ("embeddings model", "embeddings", EMBEDDINGS, lambda b: b.pop("model"), "/model"),
    ("model owned_by", "model", MODELS["data"][0], lambda b: b.pop("owned_by"), "/owned_by"),
    ("model created", "model", MODELS["data"][0], lambda b: b.pop("created"), "/created"),
    ("models list item owned_by", "models_list", MODELS, lambda b: b["data"][1].pop("owned_by"), "/data/1/owned_by"),
    ("error type", "error", ERROR, lambda b: b["error"].pop("type"), "/error/type"),
    ("error param", "error", ERROR, lambda b: b["error"].pop("param"), "/error/param"),
    ("error code", "error", ERROR, lambda b: b["error"].pop("code"), "/error/code"),
]


@pytest.mark.parametrize(
    ("name", "base", "edit", "pointer"), [c[1:] for c in SPEC_ONLY_MISSES], ids=[c[0] for c in SPEC_ONLY_MISSES]
)
def test_missing_spec_only_field_is_a_should_error(
    name: str, base: dict[str, Any], edit: Callable[[dict[str, Any]], object], pointer: str
) -> None:
    errors = validate(name, changed(base, edit))
    assert [(e.pointer, e.rule, e.severity) for e in errors] == [(pointer, "x-spec-required", "should")]
    assert is_valid(name, changed(base, edit))


# --- deviations ----------------------------------------------------------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """An edit that sets the member at a "/"-separated path (numbers index arrays)."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.strip("/").split("/")]

    def edit(body: dict[str, Any]) -> None:
        target: Any = body
        for p in parents:
            target = target[p]
        target[last] = value

    return edit


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = [int(p) if p.isdigit() else p for p in path.strip("/").split("/")]

    def edit(body: dict[str, Any]) -> None:
        target: Any = body
        for p in parents:
            target = target[p]
        del target[last]

    return edit


ARGS = "/choices/0/message/tool_calls/0/function/arguments"
DEVIATIONS = [
    ("tool arguments as an object", "chat_completion", TOOL_CHAT, _set(ARGS, {"city": "Paris"}), ARGS, "type"),
    ("text_completion object", "chat_completion", CHAT, _set("/object", "text_completion"), "/object", "const"),
    ("finish_reason eos", "chat_completion", CHAT, _set("/choices/0/finish_reason", "eos"), "/choices/0/finish_reason", "enum"),
    ("finish_reason null when not streaming", "chat_completion", CHAT, _set("/choices/0/finish_reason", None), "/choices/0/finish_reason", "type"),
    ("prompt_tokens 5.0", "chat_completion", CHAT, _set("/usage/prompt_tokens", 5.0), "/usage/prompt_tokens", "type"),
    ('prompt_tokens "5"', "chat_completion", CHAT, _set("/usage/prompt_tokens", "5"), "/usage/prompt_tokens", "type"),
    ("negative total_tokens", "chat_completion", CHAT, _set("/usage/total_tokens", -1), "/usage/total_tokens", "minimum"),
    ("usage without completion_tokens", "chat_completion", CHAT, _drop("/usage/completion_tokens"), "/usage/completion_tokens", "required"),
    ("missing index", "chat_completion", CHAT, _drop("/choices/0/index"), "/choices/0/index", "required"),
    ("index 0.0", "chat_completion", CHAT, _set("/choices/0/index", 0.0), "/choices/0/index", "type"),
    ("missing created", "chat_completion", CHAT, _drop("/created"), "/created", "required"),
    ("role model", "chat_completion", CHAT, _set("/choices/0/message/role", "model"), "/choices/0/message/role", "const"),
    ("no content and no tool calls", "chat_completion", CHAT, _drop("/choices/0/message/content"), "/choices/0/message/content", "required"),
    ("tool call without id", "chat_completion", TOOL_CHAT, _drop("/choices/0/message/tool_calls/0/id"), "/choices/0/message/tool_calls/0/id", "required"),
    ("tool call without function", "chat_completion", TOOL_CHAT, _drop("/choices/0/message/tool_calls/0/function"), "/choices/0/message/tool_calls/0/function", "required"),
    ("chunk object chat.completion", "chat_completion_chunk", CHUNKS["content"], _set("/object", "chat.completion"), "/object", "const"),
    ("chunk finish_reason eos", "chat_completion_chunk", CHUNKS["finish"], _set("/choices/0/finish_reason", "eos"), "/choices/0/finish_reason", "enum"),
    ("chunk without delta", "chat_completion_chunk", CHUNKS["finish"], _drop("/choices/0/delta"), "/choices/0/delta", "required"),
    ("chunk tool call without index", "chat_completion_chunk", CHUNKS["tool call arguments"], _drop("/choices/0/delta/tool_calls/0/index"), "/choices/0/delta/tool_calls/0/index", "required"),
    ("chunk tool arguments as an object", "chat_completion_chunk", CHUNKS["tool call arguments"], _set("/choices/0/delta/tool_calls/0/function/arguments", {"city": "Paris"}), "/choices/0/delta/tool_calls/0/function/arguments", "type"),
    ("chunk tool arguments null", "chat_completion_chunk", CHUNKS["tool call arguments"], _set("/choices/0/delta/tool_calls/0/function/arguments", None), "/choices/0/delta/tool_calls/0/function/arguments", "type"),
    ("chunk usage prompt_tokens 5.0", "chat_completion_chunk", CHUNKS["usage"], _set("/usage/prompt_tokens", 5.0), "/usage/prompt_tokens", "type"),
    ("embedding nested", "embeddings", EMBEDDINGS, _set("/data/0/embedding", [[0.1, 0.2]]), "/data/0/embedding/0", "type"),
    ("embedding NaN", "embeddings", EMBEDDINGS, _set("/data/0/embedding", [0.1, float("nan")]), "/data/0/embedding/1", "type"),
    ("embedding object wrong", "embeddings", EMBEDDINGS, _set("/data/0/object", "list"), "/data/0/object", "const"),
    ("embedding usage total_tokens missing", "embeddings", EMBEDDINGS, _drop("/usage/total_tokens"), "/usage/total_tokens", "required"),
    ("models list without data", "models_list", MODELS, _drop("/data"), "/data", "required"),
    ("models list item without id", "models_list", MODELS, _drop("/data/1/id"), "/data/1/id", "required"),
    ("models list item created 5.0", "models_list", MODELS, _set("/data/0/created", 5.0), "/data/0/created", "type"),
    ("model object wrong", "model", MODELS["data"][0], _set("/object", "models"), "/object", "const"),
    ("error as detail", "error", {"detail": "Not Found"}, lambda b: None, "/error", "required"),
    ("error as a string", "error", {"error": "Invalid API key"}, lambda b: None, "/error", "type"),
    ("error without message", "error", ERROR, _drop("/error/message"), "/error/message", "required"),
    ("error code integer", "error", ERROR, _set("/error/code", 401), "/error/code", "type"),
]


@pytest.mark.parametrize(
    ("name", "base", "edit", "pointer", "rule"), [d[1:] for d in DEVIATIONS], ids=[d[0] for d in DEVIATIONS]
)
def test_deviation_is_reported_at_its_pointer_with_its_rule(
    name: str, base: dict[str, Any], edit: Callable[[dict[str, Any]], object], pointer: str, rule: str
) -> None:
    body = changed(base, edit)
    errors = validate(name, body)
    assert errors, "expected at least one error"
    assert (errors[0].pointer, errors[0].rule, errors[0].severity) == (pointer, rule, "must")
    assert not is_valid(name, body)


def test_float_token_count_says_why_in_received_expected_form() -> None:
    [error] = validate("chat_completion", changed(CHAT, _set("/usage/prompt_tokens", 5.0)))
    assert error.message == "received 5.0 (a number written with a fraction or exponent) / expected integer"
    assert error.value == "5.0"


def test_all_errors_are_reported_not_just_the_first() -> None:
    body = changed(TOOL_CHAT, lambda b: (_set(ARGS, {})(b), _set("/object", "text_completion")(b), _drop("/model")(b)))
    assert {(ARGS, "type"), ("/object", "const"), ("/model", "required")} <= rules_at(validate("chat_completion", body))


def test_must_errors_come_before_should_errors_and_shallow_before_deep() -> None:
    body = changed(TOOL_CHAT, lambda b: (_set(ARGS, {})(b), _set("/object", "x")(b), _drop("/choices/0/logprobs")(b)))
    assert [e.pointer for e in validate("chat_completion", body)] == ["/object", ARGS, "/choices/0/logprobs"]


def test_a_field_missing_at_must_level_is_not_repeated_at_should_level() -> None:
    errors = validate("chat_completion", changed(CHAT, _drop("/choices/0/message/content")))
    assert [(e.pointer, e.rule) for e in errors] == [("/choices/0/message/content", "required")]


def test_to_dict_has_the_record_fields() -> None:
    [error] = validate("error", {"error": "nope"})
    assert error.to_dict() == {
        "schema": "error",
        "pointer": "/error",
        "rule": "type",
        "message": 'received string "nope" / expected object',
        "value": '"nope"',
        "severity": "must",
    }


# --- robustness ----------------------------------------------------------------------------


def test_error_count_and_value_size_are_bounded() -> None:
    body = changed(EMBEDDINGS, _set("/data", [{"embedding": ["x" * 1000] * 100}] * 100))
    errors = validate("embeddings", body)
    assert len(errors) == 50
    assert all(len(e.value) <= 200 for e in errors)


@pytest.mark.parametrize(
    "instance",
    [b"bytes", float("nan"), float("inf"), {1: "non-string key"}, {"id": {1, 2}}, ("tuple",), 10**400],
    ids=["bytes", "nan", "inf", "int key", "set value", "tuple", "huge int"],
)
@pytest.mark.parametrize("name", WIRE_SCHEMAS)
def test_non_json_instances_give_errors_not_exceptions(name: str, instance: object) -> None:
    errors = validate(name, instance)
    assert errors and all(isinstance(e, SchemaError) for e in errors)


def test_deeply_nested_instance_gives_errors_not_exceptions() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert validate("chat_completion", {**CHAT, "id": deep})
    assert validate("chat_completion", deep)


def test_unknown_schema_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        validate("no_such_schema", {})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
# Objects shaped like the wire bodies, so validation gets past the root.
SHAPED = st.fixed_dictionaries(
    {"object": st.sampled_from(["chat.completion", "chat.completion.chunk", "list", "model"]), "choices": JSON, "data": JSON, "error": JSON, "usage": JSON},
    optional={"id": JSON, "created": JSON, "model": JSON},
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(SCHEMA_NAMES), instance=JSON | SHAPED)
def test_validate_never_raises_and_returns_bounded_schema_errors(name: str, instance: object) -> None:
    errors = validate(name, instance)
    assert isinstance(errors, list) and len(errors) <= 50
    for e in errors:
        assert isinstance(e, SchemaError)
        assert e.schema == name and e.severity in ("must", "should")
        assert e.pointer == "" or e.pointer.startswith("/")
        assert len(e.value) <= 200 and "\n" not in e.message
    assert is_valid(name, instance) == (not any(e.severity == "must" for e in errors))
