"""Quirks at the model's hook points: `completions` (what the model produces) and `chat_usage`.

A `completions` hook maps the responder's list of `Completion`s to another; the families are
tables: a change of every answer's text, a change of every tool call. A `chat_usage` hook changes
the usage object that bodies and streams alike report. What does not live here: the wire shapes
(render.py) or changes made after rendering (responses.py, chunks.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from conformance.reference.quirks.places import json_or_text, put, register_edits
from conformance.reference.quirks.registry import Hook, HookContext, hook, hooks_from
from conformance.reference.responder import FALLBACK, ChatRequest, Completion, ToolCall, respond
from conformance.reference.tokens import tokenize

__all__: list[str] = []

Completions = list[Completion]
_RUN_ON = " and so on"  # what a model that never emits its end-of-text token goes on writing
_CONTEXT_TOKENS = 512  # where an uncapped answer ends: the (small) context of such a model


def _ascii_only(text: str) -> str:
    return "".join(ch if ord(ch) < 128 else "?" for ch in text)


def _mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def _invalid_arguments(call: ToolCall) -> ToolCall:
    """The first string argument (or "city") becomes the number 12345."""
    args = json_or_text(call.arguments)
    args = args if isinstance(args, dict) else {}
    key = next((k for k, v in args.items() if isinstance(v, str)), "city")
    return replace(call, arguments=json.dumps({**args, key: 12345}))


# Every answer's text changed: quirk -> the change.
TEXT_CHANGES: Mapping[str, Callable[[str], str]] = {
    "mangle_unicode": _ascii_only,
    "latin1_mojibake": _mojibake,
}
# Every tool call changed: quirk -> the change.
CALL_CHANGES: Mapping[str, Callable[[ToolCall], ToolCall]] = {
    "tools_args_double_encoded": lambda call: replace(call, arguments=json.dumps(call.arguments)),
    "tools_empty_id": lambda call: replace(call, id=""),
    "tools_invalid_args": _invalid_arguments,
}


def _changing_text(change: Callable[[str], str]) -> Hook:
    def changed(completions: Completions, ctx: HookContext) -> Completions:
        return [c if c.content is None else replace(c, content=change(c.content)) for c in completions]

    return changed


def _changing_calls(change: Callable[[ToolCall], ToolCall]) -> Hook:
    def changed(completions: Completions, ctx: HookContext) -> Completions:
        return [replace(c, tool_calls=tuple(change(t) for t in c.tool_calls)) for c in completions]

    return changed


hooks_from("completions", TEXT_CHANGES, _changing_text)
hooks_from("completions", CALL_CHANGES, _changing_calls)


@hook("completions", "finish_reason_nonstandard")
def _finish_reason_nonstandard(completions: Completions, ctx: HookContext) -> Completions:
    return [replace(c, finish_reason="eos") for c in completions]


@hook("completions", "never_stops")
def _never_stops(completions: Completions, ctx: HookContext) -> Completions:
    """Every answer runs on past its end until the token cap cuts it (finish_reason "length").

    A stop sequence still ends an answer (that is the engine's doing, not the model's), and tool
    calls stay whole: an engine's tool-call parser drops whatever the model wrote after them.
    """
    request = ChatRequest.from_body(ctx.request or {})
    cap = request.max_tokens if request.max_tokens is not None else _CONTEXT_TOKENS
    unstopped = respond(replace(request, stop=(), max_tokens=None))

    def run_on(done: Completion, whole: Completion) -> Completion:
        if done.finish_reason == "length" or done.tool_calls:
            return replace(done, finish_reason="length")
        if done.content != whole.content and request.stop:
            return done  # a stop sequence ended it before the cap
        pieces = tokenize((done.content or "") + _RUN_ON * max(cap, 1))
        return replace(done, content="".join(pieces[:cap]), finish_reason="length")

    return [run_on(done, whole) for done, whole in zip(completions, unstopped)]


@hook("completions", "tools_no_parallel")
def _tools_no_parallel(completions: Completions, ctx: HookContext) -> Completions:
    return [replace(c, tool_calls=c.tool_calls[:1]) for c in completions]


@hook("completions", "tools_finish_stop")
def _tools_finish_stop(completions: Completions, ctx: HookContext) -> Completions:
    return [replace(c, finish_reason="stop") if c.tool_calls else c for c in completions]


@hook("completions", "tools_duplicate_ids")
def _tools_duplicate_ids(completions: Completions, ctx: HookContext) -> Completions:
    out = []
    for c in completions:
        shared = c.tool_calls[0].id if c.tool_calls else ""
        out.append(replace(c, tool_calls=tuple(replace(t, id=shared) for t in c.tool_calls)))
    return out


@hook("completions", "tools_ignore_result")
def _tools_ignore_result(completions: Completions, ctx: HookContext) -> Completions:
    messages = (ctx.request or {}).get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        return [Completion(FALLBACK) for _ in completions]
    return completions


def _format(ctx: HookContext) -> str | None:
    rf = (ctx.request or {}).get("response_format")
    return rf.get("type") if isinstance(rf, Mapping) else None


@hook("completions", "json_schema_ignored")
def _json_schema_ignored(completions: Completions, ctx: HookContext) -> Completions:
    if _format(ctx) != "json_schema":
        return completions
    other = json.dumps({"response": FALLBACK, "format": "free"})
    return [replace(c, content=other) if c.content else c for c in completions]


@hook("completions", "json_fenced")
def _json_fenced(completions: Completions, ctx: HookContext) -> Completions:
    if _format(ctx) not in ("json_object", "json_schema"):
        return completions
    return [replace(c, content=f"```json\n{c.content}\n```") if c.content else c for c in completions]


# --- usage ------------------------------------------------------------------------------------------

Usage = dict[str, Any]

register_edits(put("usage_details_wrong", "chat_usage", "body", "prompt_tokens_details", 5))


@hook("chat_usage", "usage_total_wrong")
def _usage_total_wrong(use: Usage, ctx: HookContext) -> Usage:
    use["total_tokens"] = use["prompt_tokens"] + use["completion_tokens"] + 7
    return use


@hook("chat_usage", "usage_prompt_constant")
def _usage_prompt_constant(use: Usage, ctx: HookContext) -> Usage:
    use["prompt_tokens"] = 10
    use["total_tokens"] = 10 + use["completion_tokens"]
    return use


@hook("chat_usage", "usage_float_tokens")
def _usage_float_tokens(use: Usage, ctx: HookContext) -> Usage:
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        use[key] = float(use[key])
    return use


@hook("chat_usage", "vendor_fields")
def _vendor_usage(use: Usage, ctx: HookContext) -> Usage:
    use.update({"queue_time": 0.0125, "prompt_time": 0.002, "completion_time": 0.01, "total_time": 0.012})
    return use
