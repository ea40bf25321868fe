"""Checks of the usage area: token accounting in chat, streams and embeddings."""

from __future__ import annotations

from typing import Any

from conformance.checks.base import Context, Fail, check
from conformance.checks.stream import validate_chunks
from conformance.checks.common import excerpt, is_int, require_json, require_stream, usage_of

COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def consistency_problem(usage: dict[str, Any], fields: tuple[str, ...] = COUNTS) -> str | None:
    """Why a usage object is not a set of non-negative integers adding up, or None."""
    for name in fields:
        value = usage.get(name)
        if not is_int(value) or value < 0:
            return f"usage.{name} must be a non-negative integer: received {excerpt(value)}"
    if "completion_tokens" in fields and usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]:
        return (
            f"usage.total_tokens={usage['total_tokens']} but prompt_tokens + completion_tokens = "
            f"{usage['prompt_tokens'] + usage['completion_tokens']}"
        )
    return None


@check("usage.present")
def usage_present(ctx: Context) -> str | None:
    usage = usage_of(require_json(ctx, ctx.probe("chat_basic")))
    missing = [k for k in COUNTS if k not in usage]
    if missing:
        raise Fail(f"usage lacks {missing}: received {excerpt(usage)}")
    return None


@check("usage.consistent")
def usage_consistent(ctx: Context) -> str | None:
    for probe in ("chat_basic", "chat_count"):
        problem = consistency_problem(usage_of(require_json(ctx, ctx.probe(probe))))
        if problem:
            raise Fail(f"{probe}: {problem}")
    return None


@check("usage.prompt_scales")
def usage_prompt_scales(ctx: Context) -> str | None:
    short = usage_of(require_json(ctx, ctx.probe("chat_basic"))).get("prompt_tokens")
    long = usage_of(require_json(ctx, ctx.probe("chat_long_prompt"))).get("prompt_tokens")
    if not isinstance(short, (int, float)) or not isinstance(long, (int, float)):
        raise Fail(f"prompt_tokens not numeric: short {excerpt(short)}, long {excerpt(long)}")
    if long <= short + 50:
        raise Fail(f"a prompt ~200 words longer reports prompt_tokens {long} vs {short}; expected clearly more")
    return f"{short} -> {long} prompt tokens"


def _stream_usage(ctx: Context) -> tuple[list[int], list[dict[str, Any]]]:
    stream = require_stream(ctx, ctx.probe("stream_usage"), what="include_usage")
    found = [(n, c) for n, c in enumerate(stream.chunks) if c.get("usage") is not None]
    return [n for n, _ in found], [c for _, c in found]


@check("usage.stream")
def usage_stream(ctx: Context) -> str | None:
    positions, chunks = _stream_usage(ctx)
    if not chunks:
        raise Fail("stream_options.include_usage: no chunk carried usage")
    validate_chunks(ctx.probe("stream_usage").stream, "include_usage stream chunk", under=r"/usage")
    usage = chunks[-1]["usage"]
    if not isinstance(usage, dict):
        raise Fail(f"streamed usage is not an object: {excerpt(usage)}")
    problem = consistency_problem(usage)
    if problem:
        raise Fail(f"streamed {problem}")
    return None


@check("usage.stream_chunk_shape")
def usage_stream_chunk_shape(ctx: Context) -> str | None:
    positions, chunks = _stream_usage(ctx)
    stream = ctx.probe("stream_usage").stream
    if not chunks:
        raise Fail("stream_options.include_usage: no chunk carried usage")
    if len(chunks) > 1:
        raise Fail(f"usage arrived in {len(chunks)} chunks (chunks {positions[:6]}); expected exactly one final chunk")
    if positions[0] != len(stream.chunks) - 1:
        raise Fail(f"the usage chunk is chunk {positions[0]} of {len(stream.chunks)}; expected the last before [DONE]")
    if chunks[0].get("choices") != []:
        raise Fail(f"the usage chunk has choices {excerpt(chunks[0].get('choices'))}; expected []")
    return None


@check("usage.details_shape")
def usage_details_shape(ctx: Context) -> str | None:
    usage = usage_of(require_json(ctx, ctx.probe("chat_basic")))
    present = 0
    for name in ("prompt_tokens_details", "completion_tokens_details"):
        details = usage.get(name)
        if details is None:
            continue
        present += 1
        if not isinstance(details, dict):
            raise Fail(f"usage.{name} must be an object: received {excerpt(details)}")
        for key, value in details.items():
            if value is not None and (not is_int(value) or value < 0):
                raise Fail(f"usage.{name}.{key} must be a non-negative integer: received {excerpt(value)}")
    return None if present else "no details objects (optional)"


@check("usage.embeddings")
def usage_embeddings(ctx: Context) -> str | None:
    usage = usage_of(require_json(ctx, ctx.probe("emb_single")))
    problem = consistency_problem(usage, ("prompt_tokens", "total_tokens"))
    if problem:
        raise Fail(problem)
    if usage["total_tokens"] < usage["prompt_tokens"]:
        raise Fail(f"usage.total_tokens {usage['total_tokens']} < prompt_tokens {usage['prompt_tokens']}")
    if usage["prompt_tokens"] == 0:
        raise Fail("usage.prompt_tokens is 0 for a non-empty input")
    return None
