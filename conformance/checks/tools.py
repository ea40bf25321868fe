"""Checks of the tools area: tool_choice modes, parallel calls, tool-call encoding and streaming,
and the property check tools.args_schema_fuzz (forced calls to generated tool schemas)."""

from __future__ import annotations

import functools
import json
import operator
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance import probes
from conformance.chat_stream import ChatStream
from conformance.checks.base import Context, Fail, NoVerdict, check
from conformance.checks.common import (
    Reply,
    answer_text,
    call_arguments,
    call_name,
    cap_reached,
    cut_at_cap,
    error_message,
    excerpt,
    finish_reason,
    judged_unless_capped,
    message_of,
    reply_of,
    require_json,
    require_stream,
    schema_fail,
    tool_calls_of,
    unsupported_if_refused,
    words,
)
from conformance.checks.property import Judgement, PropertyRun, judged
from conformance.checks.stream import validate_chunks
from conformance.providers import ModelConfig
from conformance.transport import Exchange, Request

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

TOOL_PROBES = ("tools_auto", "tools_required", "tools_named", "tools_parallel")
# OpenAI answers a call forced by a *named* tool_choice with finish_reason "stop" (and "required"
# or "auto" with "tool_calls"), measured in vllm-project/vllm#25054, which matched vLLM to it.
FINISH_WITH_CALLS = {"tools_named": ("tool_calls", "stop")}


def _calls(ctx: Context, probe: str, what: str = "the tool request") -> list[dict[str, Any]]:
    return tool_calls_of(require_json(ctx, ctx.probe(probe), what=what))


def _describe(calls: list[dict[str, Any]]) -> str:
    def arguments(call: dict[str, Any]) -> Any:
        fn = call.get("function")  # any JSON value from the provider, not always an object
        return fn.get("arguments") if isinstance(fn, dict) else fn

    return excerpt([f"{call_name(c)}({excerpt(arguments(c), 60)})" for c in calls], 240)


def _city(call: dict[str, Any]) -> str:
    args = call_arguments(call)
    return str(args.get("city", "")) if isinstance(args, dict) else ""


@check("tools.auto")
def tools_auto(ctx: Context) -> str | None:
    ex = ctx.probe("tools_auto")
    body = require_json(ctx, ex)
    calls = tool_calls_of(body)
    weather = [c for c in calls if call_name(c) == "get_weather"]
    with judged_unless_capped(ex, "the answer"):
        if not weather:
            text = excerpt(message_of(body).get("content"))
            raise Fail(f"no get_weather call for a weather question with tool_choice auto: received calls {_describe(calls)}, content {text!r}")
    return None  # the arguments are judged by tools.args_encoding and tools.args_schema


@check("tools.required")
def tools_required(ctx: Context) -> str | None:
    ex = ctx.probe("tools_required")
    body = require_json(ctx, ex, what='tool_choice "required"')
    with judged_unless_capped(ex, "the answer"):
        if not tool_calls_of(body):
            raise Fail(f'tool_choice "required" ignored: no tool call; content {excerpt(message_of(body).get("content"))!r}')
    return None


@check("tools.named")
def tools_named(ctx: Context) -> str | None:
    calls = _calls(ctx, "tools_named", what="a named tool_choice")
    names = [call_name(c) for c in calls]
    if not names and cut_at_cap(ctx.probe("tools_named")):
        raise cap_reached("the answer", ctx.probe("tools_named"), "tool_choice named get_time: no call")
    if names != ["get_time"]:
        raise Fail(f"tool_choice named get_time: received calls {names}; expected exactly one get_time call")
    return None


@check("tools.none")
def tools_none(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("tools_none"))
    calls = tool_calls_of(body)
    if calls:
        raise Fail(f'tool_choice "none" ignored: received tool calls {_describe(calls)}')
    if finish_reason(body) == "tool_calls":
        raise Fail('tool_choice "none": finish_reason is "tool_calls" although no call was made')
    return None


@check("tools.parallel")
def tools_parallel(ctx: Context) -> str | None:
    calls = [c for c in _calls(ctx, "tools_parallel") if call_name(c) == "get_weather"]
    cities = sorted(words(_city(c)) for c in calls)
    with judged_unless_capped(ctx.probe("tools_parallel"), "the answer"):  # the second call may be unwritten
        if len(calls) < 2:
            raise Fail(f"two cities asked: received {len(calls)} get_weather call(s) {_describe(calls)}; expected 2")
        if not any("paris" in c for c in cities) or not any("tokyo" in c for c in cities):
            raise Fail(f"expected calls for Paris and Tokyo: received {_describe(calls)}")
    ids = [c.get("id") for c in calls]
    if len(set(ids)) != len(ids):
        raise Fail(f"parallel calls share ids: {ids}")
    return None


@check("tools.parallel_disabled")
def tools_parallel_disabled(ctx: Context) -> str | None:
    calls = _calls(ctx, "tools_parallel_disabled", what="parallel_tool_calls=false")
    if len(calls) > 1:
        raise Fail(f"parallel_tool_calls=false: received {len(calls)} calls {_describe(calls)}; expected at most 1")
    return None


@check("tools.result_roundtrip")
def tools_result_roundtrip(ctx: Context) -> str | None:
    ex = ctx.probe("tools_result")
    body = require_json(ctx, ex, what="a tool result message")
    text = answer_text(body)
    if tool_calls_of(body) and not text:
        raise Fail(f"the tool result was not used: the model called a tool again {_describe(tool_calls_of(body))}")
    with judged_unless_capped(ex, "the answer"):
        if "37" not in text and "purple" not in text.lower():
            raise Fail(f"the answer does not use the tool result (37 °C, purple hail): received {excerpt(text)!r}")
    return None


def _tool_bodies(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """The non-streamed tool responses that carry calls, for the encoding checks."""
    out = []
    for probe in TOOL_PROBES:
        ex = ctx.probe(probe)
        if ex.ok and isinstance(ex.json_body, dict) and tool_calls_of(ex.json_body):
            out.append((probe, ex.json_body))
    if not out:
        # Surface why there is nothing to judge (error, refusal, no calls at all).
        body = require_json(ctx, ctx.probe("tools_auto"))
        raise Fail(f"no tool call in any tool response (e.g. tools_auto: {excerpt(message_of(body).get('content'))!r})")
    return out


@check("tools.response_schema")
def tools_response_schema(ctx: Context) -> str | None:
    for probe, body in _tool_bodies(ctx):
        schema_fail("chat_completion", body, f"the {probe} response")
        message = message_of(body)
        if message.get("content") not in (None, "") and not isinstance(message.get("content"), str):
            raise Fail(f"{probe}: content next to tool calls must be a string or null: {excerpt(message.get('content'))}")
    return None


def _encoding_problem(arguments: Any) -> str | None:
    if not isinstance(arguments, str):
        return f"arguments is a JSON {type(arguments).__name__}, not a string: {excerpt(arguments)}"
    try:
        value = json.loads(arguments)
    except ValueError:
        return f"arguments is not valid JSON: {excerpt(arguments)!r}"
    if isinstance(value, str):
        return f"arguments is a JSON string of a JSON string (double-encoded): {excerpt(arguments)!r}"
    if not isinstance(value, dict):
        return f"arguments decodes to a JSON {type(value).__name__}, not an object: {excerpt(arguments)!r}"
    return None


def _unparseable(arguments: Any) -> bool:
    """A string that is not JSON: what a call the token cap cut looks like."""
    if not isinstance(arguments, str):
        return False
    try:
        json.loads(arguments)
    except ValueError:
        return True
    return False


@check("tools.args_encoding")
def tools_args_encoding(ctx: Context) -> str | None:
    cut: list[NoVerdict] = []  # judged last: a cut call must not hide a whole one that is wrong
    for probe, body in _tool_bodies(ctx):
        for i, call in enumerate(tool_calls_of(body)):
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            problem = _encoding_problem(fn.get("arguments"))
            if problem and _unparseable(fn.get("arguments")) and cut_at_cap(ctx.probe(probe)):
                cut.append(cap_reached(f"the {probe} tool call", ctx.probe(probe), f"tool_calls[{i}].function.{problem}"))
            elif problem:
                raise Fail(f"{probe}: tool_calls[{i}].function.{problem}")
    if cut:
        raise cut[0]
    return None


@check("tools.args_schema")
def tools_args_schema(ctx: Context) -> str | None:
    from jsonschema import Draft202012Validator

    cut: list[NoVerdict] = []  # judged last: a cut call must not hide a whole one that is wrong
    for probe, body in _tool_bodies(ctx):
        for i, call in enumerate(tool_calls_of(body)):
            tool = probes.TOOLS_BY_NAME.get(call_name(call) or "")
            if tool is None:
                raise Fail(f"{probe}: tool_calls[{i}] calls an undeclared function {call_name(call)!r}")
            args = call_arguments(call)
            if args is None and cut_at_cap(ctx.probe(probe)):
                cut.append(cap_reached(f"the {probe} tool call", ctx.probe(probe), f"tool_calls[{i}] arguments are not JSON"))
                continue
            if args is None:
                raise Fail(f"{probe}: tool_calls[{i}] arguments are not JSON: {excerpt(call.get('function'))}")
            if isinstance(args, str):
                try:
                    args = json.loads(args)  # double-encoded: judged by tools.args_encoding; look inside
                except ValueError:
                    pass
            errors = sorted(Draft202012Validator(tool["function"]["parameters"]).iter_errors(args), key=str)
            if errors:
                raise Fail(f"{probe}: tool_calls[{i}] arguments {excerpt(args)} violate the parameters schema: {errors[0].message}")
    if cut:
        raise cut[0]
    return None


@check("tools.finish_reason")
def tools_finish_reason(ctx: Context) -> str | None:
    cut: list[str] = []
    for probe, body in _tool_bodies(ctx):
        reason = finish_reason(body)
        if reason == "length":  # the cap ended the turn, not the model: no verdict on how it would end
            cut.append(probe)
        elif reason not in FINISH_WITH_CALLS.get(probe, ("tool_calls",)):
            expected = " or ".join(repr(r) for r in FINISH_WITH_CALLS.get(probe, ("tool_calls",)))
            raise Fail(f"{probe}: a response with tool calls has finish_reason {reason!r}; expected {expected}")
    if cut:
        raise cap_reached(f"the {cut[0]} answer", ctx.probe(cut[0]), "finish_reason 'length'; expected 'tool_calls'")
    return None


@dataclass
class StreamedCall:
    index: int
    ids: list[Any] = field(default_factory=list)
    names: list[Any] = field(default_factory=list)
    types: list[Any] = field(default_factory=list)
    arguments: str = ""
    first_delta: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def accumulate_tool_calls(stream: ChatStream) -> tuple[list[StreamedCall], list[str]]:
    """Accumulate streamed tool-call deltas by index (choice 0), recording every anomaly."""
    calls: dict[int, StreamedCall] = {}
    problems: list[str] = []
    for n, chunk in enumerate(stream.chunks):
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            tcs = delta.get("tool_calls") if isinstance(delta, dict) else None
            if tcs is None:
                continue
            if not isinstance(tcs, list):
                problems.append(f"chunk {n}: delta.tool_calls is not an array")
                continue
            for tc in tcs:
                if not isinstance(tc, dict):
                    problems.append(f"chunk {n}: a tool-call delta is not an object")
                    continue
                index = tc.get("index")
                if type(index) is not int:
                    problems.append(f"chunk {n}: tool-call delta without an integer index: {excerpt(tc)}")
                    continue
                fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
                call = calls.get(index)
                if call is None:
                    call = calls[index] = StreamedCall(index, first_delta=tc)
                if "id" in tc and tc["id"] is not None:
                    call.ids.append(tc["id"])
                if fn.get("name") is not None:
                    call.names.append(fn["name"])
                if tc.get("type") is not None:
                    call.types.append(tc["type"])
                args = fn.get("arguments")
                if isinstance(args, str):
                    call.arguments += args
                elif args is not None:
                    call.problems.append(f"chunk {n}: arguments delta is a {type(args).__name__}, not a string")
    return [calls[i] for i in sorted(calls)], problems


@check("tools.stream_deltas")
def tools_stream_deltas(ctx: Context) -> str | None:
    ex = ctx.probe("tools_stream")
    stream = require_stream(ctx, ex)
    validate_chunks(stream, "tool-call stream chunk", under=r"/choices/\d+/delta/tool_calls")
    calls, problems = accumulate_tool_calls(stream)
    if problems:
        raise Fail(problems[0])
    if not calls:
        with judged_unless_capped(ex, "the streamed answer"):
            raise Fail(f"no tool-call deltas in the stream (text: {excerpt(stream.text(0))!r})")
    for call in calls:
        first = call.first_delta
        fn = first.get("function") if isinstance(first.get("function"), dict) else {}
        missing = [k for k, ok in (("id", first.get("id")), ("type", first.get("type")), ("function.name", fn.get("name"))) if not ok]
        if missing:
            raise Fail(f"the first delta of tool call {call.index} lacks {missing}: {excerpt(first)}")
        if first.get("type") != "function":
            raise Fail(f"tool call {call.index} type {first.get('type')!r}; expected 'function'")
        for what, values in (("id", call.ids), ("function.name", call.names)):
            if len(set(map(str, values))) > 1:
                raise Fail(f"tool call {call.index}: later deltas change {what}: {excerpt(values)}")
        if call.problems:
            raise Fail(f"tool call {call.index}: {call.problems[0]}")
        problem = _encoding_problem(call.arguments)
        if problem and _unparseable(call.arguments) and cut_at_cap(ex):
            raise cap_reached(f"streamed tool call {call.index}", ex, f"accumulated {problem}")
        if problem:
            raise Fail(f"tool call {call.index}: accumulated {problem}")
    indexes = [c.index for c in calls]
    if indexes != list(range(len(indexes))):
        ctx.note(f"tool-call indexes are {indexes}, not 0..n-1")
    finishes = [c.get("finish_reason") for ch in stream.chunks for c in ch.get("choices") or [] if isinstance(c, dict)]
    if not {"tool_calls", "stop", "length"} & set(finishes):  # which one is tools.finish_reason's business
        raise Fail(f"the tool-call stream never finished: finish_reasons {excerpt([f for f in finishes if f])}")
    return f"{len(calls)} streamed call(s)"


@check("tools.ids")
def tools_ids(ctx: Context) -> str | None:
    for probe, body in _tool_bodies(ctx):
        ids = [c.get("id") for c in tool_calls_of(body)]
        bad = [i for i in ids if not isinstance(i, str) or not i.strip()]
        if bad:
            raise Fail(f"{probe}: tool-call ids must be non-empty strings: received {excerpt(ids)}")
        if len(set(ids)) != len(ids):
            raise Fail(f"{probe}: tool-call ids repeat within one response: {ids}")
    ex = ctx.probe("tools_stream")
    if ex.ok and ex.stream.error_event is None:
        calls, _ = accumulate_tool_calls(ex.stream)
        firsts = [c.ids[0] if c.ids else None for c in calls]
        if any(not isinstance(i, str) or not i.strip() for i in firsts):
            raise Fail(f"streamed tool calls: ids must be non-empty strings: received {excerpt(firsts)}")
        if len(set(firsts)) != len(firsts):
            raise Fail(f"streamed tool calls share ids: {firsts}")
    elif not ex.ok:
        raise NoVerdict(f"the streamed tool request failed ({ex.status}): stream ids could not be judged")
    return None


# --- tools.args_schema_fuzz: forced calls to generated tool schemas ---------------------------------

_LOWER = string.ascii_lowercase
_FORMATS = ("date", "date-time", "time", "email", "uri", "uuid", "ipv4")


def _identifier(first: str, rest: str, min_rest: int, max_rest: int) -> SearchStrategy[str]:
    """Names built from character classes, not st.from_regex: hypothesis 6.155's string shrinker
    crashes on some from_regex strategies (`ValueError: 48 is not in list`) mid-shrink."""
    from hypothesis import strategies as st

    return st.builds(operator.add, st.sampled_from(first), st.text(alphabet=rest, min_size=min_rest, max_size=max_rest))


def _bounded(kind: str, low: int, span: int) -> dict[str, Any]:
    return {"type": kind, "minimum": low, "maximum": low + span}


def _leaf_schemas() -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    return st.one_of(
        st.just({"type": "string"}),
        st.sampled_from(_FORMATS).map(lambda f: {"type": "string", "format": f}),
        st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
                  st.integers(0, 4), st.integers(1, 16)),
        st.just({"type": "integer"}),
        st.builds(lambda lo, span: _bounded("integer", lo, span), st.integers(-100, 100), st.integers(0, 1000)),
        st.builds(lambda lo, span: _bounded("number", lo, span), st.integers(-50, 50), st.integers(1, 100)),
        st.just({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
        st.just({"type": "boolean"}),
        st.lists(_identifier(_LOWER, _LOWER, 0, 7), min_size=1, max_size=5, unique=True).map(
            lambda values: {"type": "string", "enum": values}
        ),
        st.lists(st.integers(-5, 50), min_size=1, max_size=4, unique=True).map(
            lambda values: {"type": "integer", "enum": values}
        ),
    )


def _object_schemas(children: SearchStrategy[dict[str, Any]]) -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    def close(props: dict[str, Any]) -> SearchStrategy[dict[str, Any]]:
        names = sorted(props)
        return st.builds(
            lambda required, closed: {
                "type": "object",
                "properties": props,
                **({"required": required} if required else {}),
                **({"additionalProperties": False} if closed else {}),
            },
            st.lists(st.sampled_from(names), unique=True, max_size=len(names)),
            st.booleans(),
        )

    name = _identifier(_LOWER, _LOWER + string.digits + "_", 0, 11)
    return st.dictionaries(name, children, min_size=1, max_size=4).flatmap(close)


def _array_schemas(children: SearchStrategy[dict[str, Any]]) -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    return st.builds(
        lambda items, low, extra: {"type": "array", "items": items, "minItems": low, "maxItems": low + extra},
        children, st.integers(0, 2), st.integers(1, 3),
    )


@functools.cache
def tool_schemas() -> SearchStrategy[dict[str, Any]]:
    """A tool: a name, and an object schema of nested, bounded properties (built once, on first use)."""
    from hypothesis import strategies as st

    properties = st.recursive(
        _leaf_schemas(), lambda children: st.one_of(_array_schemas(children), _object_schemas(children)), max_leaves=8
    )
    return st.fixed_dictionaries(
        {"name": _identifier(_LOWER, _LOWER + "_", 2, 15), "parameters": _object_schemas(properties)}
    )


def _tool_request(model: ModelConfig, example: dict[str, Any]) -> Request:
    name = example["name"]
    tool = {
        "type": "function",
        "function": {
            "name": name,
            "description": "A test function. Call it with realistic example values for every parameter.",
            "parameters": example["parameters"],
        },
    }
    prompt = f"Call the function {name} with example arguments that are valid for its parameter schema."
    body = {
        "model": model.name,
        "messages": [{"role": "user", "content": prompt}],
        model.cap_param: max(model.token_cap, 256),
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": name}},
    }
    return Request("POST", "/chat/completions", json=body)


def _args_problem(ex: Exchange, body: dict[str, Any], example: dict[str, Any]) -> str | None:
    """Why the forced call's arguments are wrong, or None; no verdict where the token cap cut them."""
    from jsonschema import Draft202012Validator

    name = example["name"]
    calls = [c for c in tool_calls_of(body) if call_name(c) == name]
    capped = finish_reason(body) == "length"
    if not calls and capped:
        raise cap_reached("the answer", ex, f"tool_choice forced {name} but the answer has no call to it")
    if not calls:
        others = [call_name(c) for c in tool_calls_of(body)]
        return f"tool_choice forced {name} but the answer has no call to it (calls {others}, content {excerpt(answer_text(body))!r})"
    fn = calls[0].get("function") if isinstance(calls[0].get("function"), dict) else {}
    raw = fn.get("arguments")
    if not isinstance(raw, str):
        return f"arguments is a JSON {type(raw).__name__}, not a string: {excerpt(raw)}"
    args = call_arguments(calls[0])
    if args is None and capped:
        raise cap_reached(f"the {name} call", ex, f"arguments is not valid JSON: {excerpt(raw)!r}")
    if args is None:
        return f"arguments is not valid JSON: {excerpt(raw)!r}"
    if not isinstance(args, dict):
        return f"arguments decode to a JSON {type(args).__name__}, not an object: {excerpt(raw)!r}"
    validator = Draft202012Validator(example["parameters"], format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(args), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        where = "/" + "/".join(str(p) for p in errors[0].absolute_path)
        return f"arguments {excerpt(raw, 300)} violate the schema at {where}: {errors[0].message}"
    return None


@check("tools.args_schema_fuzz")
def tools_args_schema_fuzz(ctx: Context) -> str | None:
    model = ctx.model_for("tools")
    # A provider that refuses named tool_choice altogether is `unsupported`, judged once on the
    # (cached) tools.named probe; a clean refusal of one generated schema fails that schema.
    unsupported_if_refused(ctx, ctx.probe("tools_named", model), "a named tool_choice")
    run = PropertyRun(ctx)

    def judge(example: dict[str, Any]) -> Judgement:
        ex = run.send(_tool_request(model, example))

        def step() -> str | None:
            if reply_of(ex) is Reply.CLIENT_ERROR:
                return f"a valid parameters schema was rejected: {ex.status} {error_message(ex)}"
            return _args_problem(ex, require_json(ctx, ex, what="a forced tool call"), example)

        return judged(step, (ex,))

    return run.run(tool_schemas(), judge, "a forced call to a generated tool schema")
