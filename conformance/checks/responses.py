"""Checks of the responses area: POST/GET/DELETE /responses, the Responses API.

What lives here: reading a Response body (its output items, the text of its message items, its
function calls), reading a Responses stream (typed events with sequence numbers), and the checks.
A provider without /responses refuses cleanly with a 4xx in the OpenAI error envelope: the
checks' `refusal: unsupported` makes that `unsupported`; an HTML 404 is a `fail`, since clients
cannot tell it from a broken route. What does not live here: the schemas (data/schemas/response*.json).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jsonschema import Draft202012Validator

from conformance import probes
from conformance.checks.base import Context, Fail, NoVerdict, Unsupported, check
from conformance.checks.completions import counted
from conformance.checks.common import (
    Reply,
    cap_reached,
    error_message,
    excerpt,
    is_int,
    is_openai_error,
    reply_of,
    require_json,
    require_stream,
    schema_fail,
    words,
)
from conformance.checks.stream import count_sequence
from conformance.schemas import validate
from conformance.transport import Exchange, Request

STREAM_END = ("response.completed", "response.incomplete", "response.failed")


def response_of(ctx: Context, ex: Exchange, what: str = "the /responses request") -> dict[str, Any]:
    """The Response body of a 2xx exchange, or the verdict why there is none."""
    body = require_json(ctx, ex, what=what)
    if not isinstance(body.get("output"), list):
        raise Fail(f"the response has no `output` array: received {excerpt(body)}")
    return body


def items_of(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The output items of one type (message, function_call, reasoning)."""
    return [i for i in body.get("output") or [] if isinstance(i, dict) and i.get("type") == kind]


def output_text(body: dict[str, Any]) -> str:
    """The text of the output_text parts of the message items, as the SDKs build `output_text`."""
    parts = [p for m in items_of(body, "message") for p in m.get("content") or [] if isinstance(p, dict)]
    return "".join(p["text"] for p in parts if p.get("type") == "output_text" and isinstance(p.get("text"), str))


def answer_of(body: dict[str, Any]) -> str:
    """The answer text; no verdict ("token cap reached") when max_output_tokens cut it before any text."""
    text = output_text(body)
    if not text.strip() and body.get("status") == "incomplete":
        raise cap_reached("the response")
    return text


def cut_by_cap(body: Any) -> bool:
    """True when max_output_tokens cut this Response (status incomplete for that reason)."""
    details = body.get("incomplete_details") if isinstance(body, dict) else None
    return body.get("status") == "incomplete" and isinstance(details, dict) and details.get("reason") == "max_output_tokens"


@contextmanager
def judged_unless_cut(body: Any, what: str) -> Iterator[None]:
    """common.judged_unless_capped for a Response: a Fail inside becomes `error` "token cap reached"
    when max_output_tokens cut the answer, since what is missing may not have been written yet."""
    try:
        yield
    except Fail as failure:
        if cut_by_cap(body):
            raise cap_reached(what, None, failure.message) from None
        raise


@check("responses.basic")
def responses_basic(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("resp_basic"))
    schema_fail("response", body, "the Response")
    if body.get("object") != "response":
        raise Fail(f"object: received {excerpt(body.get('object'))}; expected 'response'")
    if not items_of(body, "message") or not output_text(body).strip():
        raise Fail(f"no message item with output_text in output: received {excerpt(body.get('output'))}")
    with judged_unless_cut(body, "the answer"):  # a model that never ends is cut, and says so: no verdict
        if body.get("status") != "completed":
            raise Fail(f"status: received {excerpt(body.get('status'))}; expected 'completed' for a short answer")
    return None


@check("responses.usage")
def responses_usage(ctx: Context) -> str | None:
    usage = response_of(ctx, ctx.probe("resp_basic")).get("usage")
    if not isinstance(usage, dict):
        raise Fail(f"usage: received {excerpt(usage)}; expected input_tokens, output_tokens and total_tokens")
    counts = {k: usage.get(k) for k in ("input_tokens", "output_tokens", "total_tokens")}
    if not all(is_int(v) and v >= 0 for v in counts.values()):
        raise Fail(f"usage counts must be non-negative integers: received {excerpt(counts)}")
    if counts["total_tokens"] != counts["input_tokens"] + counts["output_tokens"]:
        raise Fail(f"total_tokens {counts['total_tokens']} is not input_tokens + output_tokens ({excerpt(counts)})")
    for details, field, whole in (("input_tokens_details", "cached_tokens", "input_tokens"), ("output_tokens_details", "reasoning_tokens", "output_tokens")):
        if not isinstance(usage.get(details), dict):
            got = "null" if details in usage else "no such member"
            raise Fail(f"usage.{details}: received {got}; expected an object with {field} (an integer from 0 to {whole})")
        value = usage[details].get(field)
        if not is_int(value) or not 0 <= value <= counts[whole]:
            raise Fail(f"usage.{details}.{field}: received {excerpt(value)}; expected an integer from 0 to {whole} ({counts[whole]})")
    return None


@check("responses.instructions")
def responses_instructions(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("resp_instructions"))
    text = answer_of(body)
    with judged_unless_cut(body, "the answer"):
        if probes.SYSTEM_WORD.lower() not in words(text):
            raise Fail(f"instructions ignored: received {excerpt(text)!r}; expected the word {probes.SYSTEM_WORD}")
    return None


def stream_events(ctx: Context, ex: Exchange) -> list[tuple[str | None, dict[str, Any]]]:
    """(SSE event name, data object) of every event of a Responses stream."""
    stream = require_stream(ctx, ex, what="the streamed /responses request")
    names = [stream.sse.events[i].event for i in stream.chunk_events]
    if not stream.chunks:
        raise Fail("the /responses stream carried no events")
    return list(zip(names, stream.chunks))


@check("responses.stream_events")
def responses_stream_events(ctx: Context) -> str | None:
    events = stream_events(ctx, ctx.probe("resp_stream"))
    for n, (name, data) in enumerate(events):
        errors = [e for e in validate("response_stream_event", data) if e.severity == "must"]
        if errors:
            raise Fail(f"event {n} does not validate: at {errors[0].pointer or '/'} {errors[0].message}", schema_errors=errors)
        if name is not None and name != data.get("type"):
            raise Fail(f"event {n}: the SSE event name {excerpt(name)!r} differs from its type {excerpt(data.get('type'))!r}")
    numbers = [d.get("sequence_number") for _, d in events]
    if not all(is_int(s) for s in numbers) or any(b <= a for a, b in zip(numbers, numbers[1:])):
        raise Fail(f"sequence_number must increase from event to event: received {excerpt(numbers[:12])}")
    types = [d.get("type") for _, d in events]
    if types[0] != "response.created" or types[-1] not in STREAM_END:
        raise Fail(f"the stream runs {types[0]!r} … {types[-1]!r}; expected response.created first and one of {STREAM_END} last")
    return f"{len(events)} events"


@check("responses.stream_reassembly")
def responses_stream_reassembly(ctx: Context) -> str | None:
    events = [d for _, d in stream_events(ctx, ctx.probe("resp_stream"))]
    text = "".join(d["delta"] for d in events if d.get("type") == "response.output_text.delta" and isinstance(d.get("delta"), str))
    final = events[-1].get("response")
    if not isinstance(final, dict):
        raise Fail(f"the last event carries no response: received {excerpt(events[-1])}")
    whole = output_text(final)
    if text != whole:
        raise Fail(f"the output_text deltas give {excerpt(text)!r}, the final response says {excerpt(whole)!r}; expected the same text")
    with judged_unless_cut(final, "the streamed count"):
        if not count_sequence(text, 5):
            raise Fail(f"reassembled text: received {excerpt(text)!r}; expected {probes.COUNT5_TEXT!r}")
    return None


@check("responses.function_call")
def responses_function_call(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("resp_tools", ctx.model_for("tools")))
    calls = items_of(body, "function_call")
    with judged_unless_cut(body, "the function call"):
        if not calls:
            raise Fail(f"no function_call item for a prompt that needs get_weather: received {excerpt(body.get('output'))}")
    for call in calls:
        if not isinstance(call.get("call_id"), str) or not call["call_id"]:
            raise Fail(f"function_call without a call_id: received {excerpt(call)}")
        args = call.get("arguments")
        if not isinstance(args, str):
            raise Fail(f"function_call arguments must be a JSON string: received {type(args).__name__} {excerpt(args)}")
        try:
            decoded = json.loads(args)
        except ValueError:
            raise Fail(f"function_call arguments are not JSON: received {excerpt(args)!r}") from None
        if not isinstance(decoded, dict) or call.get("name") not in probes.TOOLS_BY_NAME:
            raise Fail(f"function_call {excerpt(call.get('name'))} with arguments {excerpt(args)!r}; expected an offered tool and a JSON object")
    return f"{len(calls)} call(s)"


@check("responses.tool_result")
def responses_tool_result(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("resp_tool_result", ctx.model_for("tools")))
    text = answer_of(body)
    with judged_unless_cut(body, "the answer"):
        if "purple hail" not in words(text) and "37" not in text:
            raise Fail(f"the function_call_output was not used: received {excerpt(text)!r}; expected 37 °C or purple hail")
    return None


@check("responses.structured")
def responses_structured(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("resp_json_schema"))
    text = answer_of(body)
    with judged_unless_cut(body, "the JSON answer"):
        try:
            value = json.loads(text)
        except ValueError:
            raise Fail(f"text.format json_schema: the answer is not bare JSON: received {excerpt(text)!r}") from None
    errors = sorted(Draft202012Validator(probes.WEATHER_SCHEMA).iter_errors(value), key=lambda e: e.path)
    if errors:
        raise Fail(f"strict json_schema not honoured: {excerpt(value)} — {errors[0].message}")
    return None


@check("responses.incomplete")
def responses_incomplete(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("resp_capped"))
    if cut_by_cap(body):
        return None
    cap, status, details = probes.RESPONSE_CAP_MIN, body.get("status"), body.get("incomplete_details")
    used = body["usage"].get("output_tokens") if isinstance(body.get("usage"), dict) else None
    numbers = counted(output_text(body))
    if (is_int(used) and used >= cap) or numbers:
        raise Fail(
            f"a 50-number count under max_output_tokens={cap}: received status {excerpt(status)}, incomplete_details "
            f"{excerpt(details)} after {len(numbers)} numbers (output_tokens {excerpt(used)}); expected status "
            "'incomplete' with incomplete_details.reason 'max_output_tokens'"
        )
    # As chat.max_tokens: a model that ended on its own before the cap did not exercise it.
    raise NoVerdict(
        f"the model did not count as asked ({excerpt(output_text(body))!r}, status {excerpt(status)}, output_tokens "
        f"{excerpt(used)}): max_output_tokens={cap} was not exercised"
    )


def _stored_first(ctx: Context, probe: str) -> dict[str, Any]:
    body = response_of(ctx, ctx.probe(probe))
    if body.get("store") is False:
        raise Unsupported("the provider does not store responses (store: false in the response)")
    if not isinstance(body.get("id"), str) or not body["id"]:
        raise Fail(f"the response has no id: received {excerpt(body.get('id'))}")
    return body


def _refused_after_storing(ctx: Context, ex: Exchange, what: str) -> None:
    """A 4xx for a response the provider said it stored is a failure, not a clean refusal."""
    if reply_of(ex) is Reply.CLIENT_ERROR:
        raise Fail(f"{what}: received {ex.status} {error_message(ex)} for a response stored a moment ago (store: true)")


@check("responses.previous_response_id")
def responses_previous_response_id(ctx: Context) -> str | None:
    first = _stored_first(ctx, "resp_remember")
    follow = probes.PROBES["resp_basic"](ctx.model)
    body = {**follow.json, "input": "What is my name? Reply with only the name.", "previous_response_id": first["id"]}
    ex = ctx.send(Request("POST", "/responses", json=body))
    _refused_after_storing(ctx, ex, "previous_response_id")
    reply = response_of(ctx, ex)
    text = answer_of(reply)
    with judged_unless_cut(reply, "the answer"):
        if probes.NAME.lower() not in words(text):
            raise Fail(f"the earlier turn was not seen: received {excerpt(text)!r}; expected the name {probes.NAME}")
    return None


@check("responses.retrieve")
def responses_retrieve(ctx: Context) -> str | None:
    first = _stored_first(ctx, "resp_basic")
    path = f"/responses/{first['id']}"
    got = ctx.send(Request("GET", path))
    _refused_after_storing(ctx, got, "GET /responses/{id}")
    body = response_of(ctx, got, what="GET /responses/{id}")
    if body.get("id") != first["id"] or output_text(body) != output_text(first):
        raise Fail(f"GET {path} returned {excerpt(body)}; expected the stored response")
    gone = require_json(ctx, ctx.send(Request("DELETE", path)), what="DELETE /responses/{id}")
    if gone.get("id") != first["id"] or gone.get("deleted") is not True or gone.get("object") != "response.deleted":
        raise Fail(f"DELETE {path}: received {excerpt(gone)}; expected {{id, object: 'response.deleted', deleted: true}}")
    after = ctx.send(Request("GET", path))
    if after.status != 404 or not is_openai_error(after.json_body):
        raise Fail(f"GET after DELETE: received {after.status} {excerpt(after.text)}; expected a 404 in the OpenAI error envelope")
    return None


@check("responses.error_envelope")
def responses_error_envelope(ctx: Context) -> str | None:
    ex = ctx.probe("resp_bad_request")
    reply = reply_of(ex)
    if reply is not Reply.CLIENT_ERROR:
        require_json(ctx, ex, what="the invalid /responses request")  # no answer: its verdict
        raise Fail(f"an invalid /responses request (input: 42): received {ex.status}; expected a 4xx")
    if not is_openai_error(ex.json_body):
        raise Fail(
            f"{ex.status} with a body that is not the OpenAI error envelope ({excerpt(ex.text)}): clients cannot "
            "read why, and an HTML 404 cannot be told from a broken route"
        )
    return f"{ex.status} {error_message(ex)}"
