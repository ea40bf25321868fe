"""Checks of the stream area: SSE framing, chunk shape and the meaning of the chunk sequence."""

from __future__ import annotations

import re
from typing import Any

from conformance import probes
from conformance.chat_stream import ChatStream
from conformance.checks.base import Context, Fail, check
from conformance.checks.common import (
    answer_text,
    excerpt,
    judged_unless_capped,
    require_json,
    require_stream,
    stream_answer,
)
from conformance.schemas import validate

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


def _basic(ctx: Context) -> ChatStream:
    return require_stream(ctx, ctx.probe("stream_basic"))


def choice_entries(stream: ChatStream) -> list[tuple[int, int, dict[str, Any]]]:
    """(chunk number, choice index, choice object) for every choice entry of every chunk."""
    out = []
    for n, chunk in enumerate(stream.chunks):
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and isinstance(choice.get("index"), int):
                    out.append((n, choice["index"], choice))
    return out


@check("stream.content_type")
def stream_content_type(ctx: Context) -> str | None:
    ex = ctx.probe("stream_basic")
    require_stream(ctx, ex)
    media = ex.content_type.split(";", 1)[0].strip().lower()
    if media != "text/event-stream":
        raise Fail(f"streamed response content-type: received {ex.content_type!r}; expected 'text/event-stream'")
    charset = re.search(r"charset\s*=\s*\"?([^\";]+)", ex.content_type, re.I)
    if charset and charset.group(1).strip().lower() not in ("utf-8", "utf8"):
        raise Fail(f"event streams are always UTF-8: received charset {charset.group(1)!r}")
    return None


@check("stream.framing")
def stream_framing(ctx: Context) -> str | None:
    stream = _basic(ctx)
    violations = [f for f in stream.violations() if f.code != "empty_data_event"]
    if violations:
        first = violations[0]
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        raise Fail(f"stream framing: {first.code}: {first.message}{more}", findings=violations)
    if not stream.chunks:
        raise Fail("the stream carried no chunks")
    return f"{len(stream.chunks)} chunks, [DONE] last"


@check("stream.no_empty_events")
def stream_no_empty_events(ctx: Context) -> str | None:
    stream = _basic(ctx)
    empty = [f for f in stream.findings if f.code == "empty_data_event"]
    # `data: : keepalive` is a keep-alive put in a data field: a comment only when the line
    # itself starts with ':'.
    keepalive = [
        f for f in stream.findings
        if f.code == "invalid_json" and f.event_index is not None
        and 0 <= f.event_index < len(stream.sse.events)
        and stream.sse.events[f.event_index].data.lstrip().startswith(":")
    ]
    if empty or keepalive:
        what = f"{len(empty)} empty data event(s)" if empty else f"{len(keepalive)} keep-alive(s) sent as data"
        raise Fail(
            f"{what}; keep-alives must be comments (a line starting with ':'), "
            "openai-python json-decodes every data event",
            findings=empty + keepalive,
        )
    return None


def validate_chunks(stream: ChatStream, what: str = "chunk", under: str = "") -> None:
    """Fail on the first chunk with a must-level schema error; `under` (a regex on the JSON
    pointer) keeps a check to its own part of the chunk, e.g. the tool-call deltas."""
    for n, chunk in enumerate(stream.chunks):
        errors = [
            e for e in validate("chat_completion_chunk", chunk) if e.severity == "must" and re.match(under, e.pointer)
        ]
        if errors:
            e = errors[0]
            raise Fail(f"{what} {n} does not validate: at {e.pointer or '/'} {e.message}", schema_errors=errors)


@check("stream.chunk_schema")
def stream_chunk_schema(ctx: Context) -> str | None:
    stream = _basic(ctx)
    if not stream.chunks:
        raise Fail("the stream carried no chunks")
    validate_chunks(stream)
    return f"{len(stream.chunks)} chunks valid"


@check("stream.consistent_ids")
def stream_consistent_ids(ctx: Context) -> str | None:
    stream = _basic(ctx)
    for field in ("id", "created", "model"):
        values = [c.get(field) for c in stream.chunks]
        distinct = list(dict.fromkeys(map(repr, values)))
        if len(distinct) > 1:
            raise Fail(f"`{field}` changes across chunks: received {excerpt(distinct[:4])}; expected one value")
    return None


@check("stream.role_first")
def stream_role_first(ctx: Context) -> str | None:
    stream = _basic(ctx)
    seen: set[int] = set()
    for n, index, choice in choice_entries(stream):
        if index in seen:
            continue
        seen.add(index)
        delta = choice.get("delta")
        role = delta.get("role") if isinstance(delta, dict) else None
        if role != "assistant":
            raise Fail(f"the first delta of choice {index} (chunk {n}) has role {role!r}; expected 'assistant'")
    if not seen:
        raise Fail("no chunk carried a choice")
    return None


@check("stream.finish_reason")
def stream_finish_reason(ctx: Context) -> str | None:
    stream = _basic(ctx)
    entries = choice_entries(stream)
    if not entries:
        raise Fail("no chunk carried a choice")
    for index in sorted({i for _, i, _ in entries}):
        mine = [(n, c) for n, i, c in entries if i == index]
        finishes = [(n, c.get("finish_reason")) for n, c in mine if c.get("finish_reason") is not None]
        if not finishes:
            raise Fail(f"choice {index} never received a finish_reason")
        if len(finishes) > 1:
            raise Fail(f"choice {index} received {len(finishes)} finish_reasons (chunks {[n for n, _ in finishes][:6]}); expected exactly one")
        n, reason = finishes[0]
        if reason not in FINISH_REASONS:
            raise Fail(f"choice {index} finish_reason {reason!r} is not one of {FINISH_REASONS}")
        later = [m for m, c in mine if m > n and _has_content(c)]
        if later:
            raise Fail(f"choice {index} got content in chunk {later[0]} after its finish_reason (chunk {n})")
    return None


def _has_content(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    return isinstance(delta, dict) and bool(delta.get("content") or delta.get("tool_calls"))


def count_sequence(text: str, upto: int = 10) -> bool:
    """True when the text is the numbers 1..upto in order, separated by anything but digits."""
    return [int(n) for n in re.findall(r"\d+", text)] == list(range(1, upto + 1))


@check("stream.reassembly")
def stream_reassembly(ctx: Context) -> str | None:
    text = stream_answer(_basic(ctx))
    with judged_unless_capped(ctx.probe("stream_basic"), "the streamed count"):
        if not count_sequence(text):
            raise Fail(
                f"reassembled stream text: received {excerpt(text)!r}; expected the numbers {probes.COUNT_TEXT!r} "
                "(duplicated, cumulative or dropped deltas?)"
            )
    return None


@check("stream.usage_default")
def stream_usage_default(ctx: Context) -> str | None:
    stream = _basic(ctx)
    for n, chunk in enumerate(stream.chunks):
        if chunk.get("choices") == []:
            raise Fail(f"chunk {n} has choices [] without include_usage: code that reads choices[0] crashes")
        if chunk.get("usage") is not None:
            raise Fail(f"chunk {n} carries usage {excerpt(chunk.get('usage'))} although include_usage was not asked")
    return None


@check("stream.equivalence")
def stream_equivalence(ctx: Context) -> str | None:
    what = "seed (for a reproducible comparison)"
    streamed = stream_answer(require_stream(ctx, ctx.probe("equiv_stream"), what=what))
    plain = answer_text(require_json(ctx, ctx.probe("equiv_plain"), what=what))
    if " ".join(streamed.split()) != " ".join(plain.split()):
        raise Fail(f"streamed {excerpt(streamed)!r} differs from non-streamed {excerpt(plain)!r} at temperature 0, seed 7")
    return None
