"""Unit tests of the reference server's parts that need no HTTP: quirk registry, tokenizer,
schema instance generator, responder rules and embeddings. The wire behaviour (including every
quirk on the wire) is in test_reference_server.py."""

from __future__ import annotations

import json
import math
from importlib.resources import files

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.reference.embeddings import embed_text, truncate
from conformance.reference.instances import MISSING, instance_for, is_valid
from conformance.reference.quirks import (
    HOOK_POINTS,
    KINDS,
    QuirkSet,
    QuirkSpec,
    UnknownQuirkError,
    linkage_problems,
    load_quirks,
    parse_quirks,
    registered_names,
)
from conformance.reference.quirks.places import PLACES, KeyEdit, register_edits
from conformance.reference.quirks.registry import hook
from conformance.reference.responder import FALLBACK, ChatRequest, find_cities, respond
from conformance.reference.tokens import count_tokens, token_logprobs, tokenize
from conformance.schemas import load_schema, validate

# --- quirk registry ------------------------------------------------------------------------------


def test_every_quirk_in_the_yaml_has_a_hook_and_every_hook_a_yaml_entry():
    assert {q.name for q in load_quirks()} == registered_names()


def test_each_hook_point_a_yaml_entry_names_has_exactly_its_one_hook_and_no_other():
    assert linkage_problems() == []


def test_linkage_names_a_hook_point_without_code_and_code_without_its_entry():
    spec = QuirkSpec("q", "deviation", "d", "", ("chat_request", "chat_chunks"))
    assert linkage_problems([spec], {"q": ["chat_request", "sse_bytes"]}) == [
        "q at chat_chunks: in quirks.yaml, no hook registered",
        "q at sse_bytes: a hook registered, not in quirks.yaml",
    ]


def test_a_quirk_gets_one_hook_per_hook_point():
    with pytest.raises(ValueError, match="two hooks"):
        hook("sse_events", "stream_no_done")(lambda value, ctx: value)
    with pytest.raises(ValueError, match="unknown hook point"):
        hook("no_such_point", "stream_no_done")


def test_key_edits_name_known_places_only():
    with pytest.raises(ValueError, match="unknown places"):
        register_edits((KeyEdit("stream_no_done", "sse_events", "nowhere", "k", "drop"),))


@pytest.mark.parametrize(
    ("op", "value", "before", "after"),
    [
        ("drop", None, {"k": 1, "j": 2}, {"j": 2}),
        ("drop_null", None, {"k": None}, {}),
        ("drop_null", None, {"k": 0}, {"k": 0}),
        ("put", "x", {"k": 1}, {"k": "x"}),
        ("fill_null", "x", {"k": None}, {"k": "x"}),
        ("fill_null", "x", {}, {"k": "x"}),
        ("fill_null", "x", {"k": "y"}, {"k": "y"}),
    ],
)
def test_key_edit_operations(op, value, before, after):
    KeyEdit("q", "chat_response", "body", "k", op, value).apply(before)
    assert before == after


def test_places_find_their_objects_in_a_chat_body_and_in_chunks():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [call]}}]}
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}, {"choices": [], "usage": {}}]
    assert list(PLACES["messages"](body)) == [body["choices"][0]["message"]]
    assert list(PLACES["message_tool_calls"](body)) == [call]
    assert list(PLACES["chunk_choices"](chunks)) == [chunks[0]["choices"][0]]
    assert list(PLACES["tool_deltas"](chunks)) == [call]


# --- quirks.yaml against its schema -----------------------------------------------------------------


def test_quirks_yaml_follows_its_schema():
    data = yaml.safe_load(files("conformance.reference").joinpath("quirks.yaml").read_text(encoding="utf-8"))
    assert [e for e in validate("quirks", data) if e.severity == "must"] == []


def test_hook_points_and_kinds_are_the_schemas():
    defs = load_schema("quirks")["$defs"]
    assert HOOK_POINTS == tuple(defs["hook_point"]["enum"]) and KINDS == tuple(defs["kind"]["enum"])


GOOD = {"name": "q", "kind": "deviation", "description": "d", "cite": "", "hooks": ["chat_request"], "breaks": {"chat.basic": "fail"}}


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"hooks": ["no_such_point"]}, "/quirks/0/hooks/0"),
        ({"hooks": []}, "/quirks/0/hooks"),
        ({"kind": "benign"}, "/quirks/0/breaks"),
        ({"breaks": {"chat.basic": "pass"}}, "/quirks/0/breaks/chat.basic"),
        ({"description": "two\nlines"}, "/quirks/0/description"),
        ({"extra": 1}, "/quirks/0"),
    ],
)
def test_a_quirk_that_breaks_the_schema_is_refused_naming_where(change, pointer):
    with pytest.raises(ValueError, match=f"quirks.yaml is invalid: {pointer}"):
        parse_quirks({"quirks": [{**GOOD, **change}]})


def test_a_quirk_named_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        parse_quirks({"quirks": [GOOD, GOOD]})
    assert parse_quirks({"quirks": [GOOD]})[0].hooks == ("chat_request",)


def test_quirk_names_are_unique_and_kinds_known():
    names = [q.name for q in load_quirks()]
    assert len(names) == len(set(names))
    assert {q.kind for q in load_quirks()} <= set(KINDS)


@pytest.mark.parametrize("quirk", load_quirks(), ids=lambda q: q.name)
def test_quirk_descriptions_are_one_line(quirk):
    assert quirk.description and "\n" not in quirk.description and len(quirk.description) <= 160
    assert isinstance(quirk.cite, str) and isinstance(quirk.breaks, dict)


def test_unknown_quirk_names_the_valid_ones():
    with pytest.raises(UnknownQuirkError) as err:
        QuirkSet(["no_such_quirk"])
    assert "no_such_quirk" in str(err.value) and "stream_no_done" in str(err.value)


def test_without_quirks_every_hook_point_is_identity():
    quirks = QuirkSet()
    value = {"a": [1]}
    assert all(quirks.apply(point, value) is value for point in HOOK_POINTS)


def test_quirks_combine_in_the_order_given():
    quirks = QuirkSet(["usage_total_wrong", "usage_float_tokens"])
    use = quirks.apply("chat_usage", {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})
    assert use["total_tokens"] == 12.0 and isinstance(use["total_tokens"], float)


# --- tokenizer --------------------------------------------------------------------------------


@given(st.text())
def test_tokenizer_is_lossless(text):
    assert "".join(tokenize(text)) == text
    assert count_tokens(text) == len(tokenize(text))


def test_tokenizer_pieces_carry_leading_whitespace():
    assert tokenize("1 2 3, go!") == ["1", " 2", " 3", ",", " go", "!"]


@given(st.text(min_size=1, max_size=40), st.integers(0, 20))
@settings(max_examples=50)
def test_logprobs_are_nonpositive_and_ranked(text, top):
    for entry in token_logprobs(text, top):
        assert entry["logprob"] <= 0
        assert entry["bytes"] == list(entry["token"].encode("utf-8", "surrogatepass"))
        assert len(entry["top_logprobs"]) == top
        ranked = [alt["logprob"] for alt in entry["top_logprobs"]]
        assert ranked == sorted(ranked, reverse=True)
        assert len({alt["token"] for alt in entry["top_logprobs"]}) == top


# --- schema instance generator ---------------------------------------------------------------------

SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5, "maximum": 9, "multipleOf": 3}}, "required": ["a"]},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "number", "multipleOf": 0.1, "minimum": 0.25},
    {"type": "integer", "exclusiveMinimum": -3, "exclusiveMaximum": -1},
    {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
    {"type": "string", "pattern": "^(foo|bar)+baz$"},
    {"type": "string", "pattern": "[^a-z]+"},
    {"type": "string", "minLength": 20, "maxLength": 25},
    *({"type": "string", "format": f} for f in ("email", "date-time", "date", "time", "uuid", "uri", "ipv4", "hostname")),
    {"type": "array", "items": {"enum": ["x", "y", "z"]}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2},
    {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 10}]},
    {"oneOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}]},
    {"type": "object", "properties": {"x": {"const": "k"}, "y": {"type": ["string", "null"]}}, "required": ["x", "y"]},
    {"type": "object", "minProperties": 3, "additionalProperties": {"type": "boolean"}},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"required": ["b"], "properties": {"b": {"type": "boolean"}}}]},
    {
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"], "additionalProperties": False}},
        "$ref": "#/$defs/node",
    },
    {
        "type": "object",
        "properties": {"when": {"type": "string", "format": "date"}, "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
        "required": ["when", "tags"],
        "additionalProperties": False,
    },
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: json.dumps(s)[:60])
def test_generated_instance_validates(schema):
    assert is_valid(instance_for(schema), schema)


def test_hints_fill_properties_when_valid():
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}, "required": ["city", "n"]}
    hinted = instance_for(schema, lambda name, sub: {"city": "Paris", "n": "not a number"}.get(name, MISSING))
    assert hinted["city"] == "Paris" and isinstance(hinted["n"], int)


# --- responder rules ---------------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name, e.g. Paris"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Paris"}}, "required": ["timezone"]},
    },
}


def answer(*messages, **params):
    body = {"messages": [m if isinstance(m, dict) else {"role": "user", "content": m} for m in messages], **params}
    return respond(ChatRequest.from_body(body))


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["Count from 1 to 10, separated by spaces."], "1 2 3 4 5 6 7 8 9 10"),
        (["count from 3 to 1"], "3 2 1"),
        (["Reply with only the word PONG."], "PONG"),
        ([[{"type": "text", "text": "Reply with only the word "}, {"type": "text", "text": "PINEAPPLE."}]], "PINEAPPLE"),
        ([{"role": "system", "content": "Whatever happens, reply with only the word BANANA."}, "Hi"], "BANANA"),
        ([{"role": "developer", "content": "reply with only the word kiwi"}, "Hi"], "kiwi"),
        (["My name is Zorblax.", {"role": "assistant", "content": "Hi!"}, "What is my name?"], "Zorblax"),
        (["Repeat: <<<Grüße — 你好 👋🏽>>>"], "Grüße — 你好 👋🏽"),
        (["Say hello."], FALLBACK),
    ],
)
def test_text_rules(messages, expected):
    [completion] = answer(*messages)
    assert completion.content == expected and completion.finish_reason == "stop"


def test_cities_are_capitalised_words_after_in_and_comma():
    assert find_cities("Weather in Paris and in Tokyo? Also in New York, Rome and Oslo.") == ["Paris", "Tokyo", "New York", "Rome", "Oslo"]
    assert find_cities("Reply in JSON and I will be glad") == []


def test_parallel_cities_give_one_call_each_with_valid_arguments():
    [completion] = answer("What is the weather in Paris and in Tokyo? Call get_weather once for each city.", tools=[WEATHER])
    assert completion.finish_reason == "tool_calls"
    assert [json.loads(c.arguments) for c in completion.tool_calls] == [{"city": "Paris"}, {"city": "Tokyo"}]
    ids = [c.id for c in completion.tool_calls]
    assert len(set(ids)) == 2 and all(i.startswith("call_") and len(i) == 29 for i in ids)


def test_tool_choice_modes():
    prompt = "What is the weather in Paris?"
    assert answer(prompt, tools=[WEATHER], tool_choice="none")[0].tool_calls == ()
    assert answer("Hello!", tools=[WEATHER])[0].tool_calls == ()
    [required] = answer("Hello!", tools=[WEATHER], tool_choice="required")
    assert json.loads(required.tool_calls[0].arguments) == {"city": "Paris"}  # from the description's example
    [named] = answer(prompt, tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert [(c.name, json.loads(c.arguments)) for c in named.tool_calls] == [("get_time", {"timezone": "Europe/Paris"})]
    two = "Weather in Paris and in Tokyo?"
    assert len(answer(two, tools=[WEATHER], parallel_tool_calls=False)[0].tool_calls) == 1


def test_tool_result_is_quoted():
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    [completion] = answer(
        "Weather in Paris?",
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "37 C, purple hail"},
        tools=[WEATHER],
    )
    assert completion.content == "The get_weather tool returned: 37 C, purple hail"


def test_json_modes():
    [obj] = answer('Return a JSON object with a key "city" whose value is "Paris". JSON only.', response_format={"type": "json_object"})
    assert json.loads(obj.content) == {"city": "Paris"}
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temperature_c": {"type": "integer"}, "conditions": {"enum": ["sunny", "rainy"]}},
        "required": ["city", "temperature_c", "conditions"],
        "additionalProperties": False,
    }
    rf = {"type": "json_schema", "json_schema": {"name": "w", "strict": True, "schema": schema}}
    [structured] = answer("Describe the weather in Paris: 21 degrees Celsius and sunny. Answer in JSON.", response_format=rf)
    assert json.loads(structured.content) == {"city": "Paris", "temperature_c": 21, "conditions": "sunny"}


def test_stop_max_tokens_and_n():
    count = "Count from 1 to 50"
    [stopped] = answer(count, stop=["6"])
    assert stopped.content == "1 2 3 4 5 " and stopped.finish_reason == "stop"
    [capped] = answer(count, max_tokens=5)
    assert capped.content == "1 2 3 4 5" and capped.finish_reason == "length" and capped.tokens == 5
    assert len(answer("Hi", n=3)) == 3


# --- embeddings ---------------------------------------------------------------------------------


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


def test_related_sentences_are_closer_than_unrelated():
    cat, kitten, revenue = (embed_text(t) for t in ("The cat sleeps on the sofa.", "A kitten is napping on the couch.", "Quarterly revenue grew by ten percent."))
    assert cosine(cat, kitten) > 0.6 > cosine(cat, revenue)
    assert math.isclose(cosine(cat, cat), 1.0)


def test_truncation_renormalises():
    vec = truncate(embed_text("hello world"), 8)
    assert len(vec) == 8 and math.isclose(sum(x * x for x in vec), 1.0)
