"""Quirks at the `chat_chunks` hook point: the list of chunk dicts of a stream, before framing.

The "remove a key" / "set a key" family is the `register_edits` table below; the other hooks
regroup, split, drop or add chunks. What does not live here: SSE framing (sse.py) or what the
model answers (completions.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from conformance.reference import render
from conformance.reference.quirks.places import (
    calls_by_choice,
    chunk_choices,
    deltas,
    drop,
    drop_null,
    fill_null,
    json_or_text,
    put,
    register_edits,
    tool_deltas,
)
from conformance.reference.quirks.registry import HookContext, hook
from conformance.reference.tokens import count_tokens

__all__: list[str] = []

Chunks = list[dict[str, Any]]

register_edits(
    put("stream_chunk_object", "chat_chunks", "chunks", "object", "chat.completion"),
    drop("stream_no_role", "chat_chunks", "deltas", "role"),
    fill_null("stream_finish_every_chunk", "chat_chunks", "chunk_choices", "finish_reason", "stop"),
    put("stream_no_finish_reason", "chat_chunks", "chunk_choices", "finish_reason", None),
    drop("tools_type_missing", "chat_chunks", "tool_deltas", "type"),
    drop("tools_stream_no_index", "chat_chunks", "tool_deltas", "index"),
    drop("no_system_fingerprint", "chat_chunks", "chunks", "system_fingerprint"),
    drop_null("logprobs_absent", "chat_chunks", "chunk_choices", "logprobs"),
    drop("refusal_absent", "chat_chunks", "deltas", "refusal"),
)


def _without(chunks: Chunks, dropped: Chunks) -> Chunks:
    """`chunks` less the very objects in `dropped` (chunks are dicts: equal is not the same)."""
    gone = {id(c) for c in dropped}
    return [c for c in chunks if id(c) not in gone]


def _content_chunks(chunks: Chunks, index: int = 0) -> Chunks:
    return [chunk for chunk, choice in chunk_choices(chunks) if choice.get("index") == index and (choice.get("delta") or {}).get("content")]


def _argument_chunks(chunks: Chunks) -> Chunks:
    """Chunks whose only tool-call content is an arguments piece (not the call's first delta)."""
    out = []
    for chunk in chunks:
        calls = [c for d in deltas([chunk]) for c in d.get("tool_calls") or []]
        if calls and all("id" not in c and "arguments" in (c.get("function") or {}) for c in calls):
            out.append(chunk)
    return out


def _include_usage(ctx: HookContext) -> bool:
    options = (ctx.request or {}).get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _only_choice(chunk: dict[str, Any]) -> dict[str, Any] | None:
    choices = chunk.get("choices") or []
    return choices[0] if len(choices) == 1 else None


# --- ids, content and finish ---------------------------------------------------------------------------


@hook("chat_chunks", "stream_inconsistent_ids")
def _stream_inconsistent_ids(chunks: Chunks, ctx: HookContext) -> Chunks:
    for n, chunk in enumerate(chunks):
        chunk["id"] = f"{chunk.get('id')}-{n}"
    return chunks


@hook("chat_chunks", "stream_cumulative_deltas")
def _stream_cumulative_deltas(chunks: Chunks, ctx: HookContext) -> Chunks:
    so_far: dict[Any, str] = {}
    for _, choice in chunk_choices(chunks):
        delta = choice.get("delta") or {}
        if delta.get("content"):
            so_far[choice.get("index")] = delta["content"] = so_far.get(choice.get("index"), "") + delta["content"]
    return chunks


@hook("chat_chunks", "stream_drop_chunk")
def _stream_drop_chunk(chunks: Chunks, ctx: HookContext) -> Chunks:
    content = _content_chunks(chunks)
    return _without(chunks, content[1:2])


@hook("chat_chunks", "one_char_deltas")
def _one_char_deltas(chunks: Chunks, ctx: HookContext) -> Chunks:
    out = []
    for chunk in chunks:
        choice = _only_choice(chunk)
        text = choice.get("delta", {}).get("content") if choice is not None else None
        if not text or len(text) == 1:
            out.append(chunk)
            continue
        for k, ch in enumerate(text):
            piece = copy.deepcopy(chunk)
            piece["choices"][0]["delta"]["content"] = ch
            if k:
                piece["choices"][0]["logprobs"] = None
            out.append(piece)
    return out


@hook("chat_chunks", "single_chunk")
def _single_chunk(chunks: Chunks, ctx: HookContext) -> Chunks:
    first: dict[Any, dict[str, Any]] = {}
    out = []
    for chunk in chunks:
        choice = _only_choice(chunk)
        if choice is None or not choice.get("delta", {}).get("content"):
            out.append(chunk)
            continue
        keep = first.setdefault(choice.get("index"), choice)
        if keep is choice:
            out.append(chunk)
            continue
        keep["delta"]["content"] += choice["delta"]["content"]
        if isinstance(keep.get("logprobs"), dict) and isinstance(choice.get("logprobs"), dict):
            keep["logprobs"]["content"] += choice["logprobs"]["content"]
    return out


# --- usage ---------------------------------------------------------------------------------------------


@hook("chat_chunks", "stream_usage_unasked")
def _stream_usage_unasked(chunks: Chunks, ctx: HookContext) -> Chunks:
    if _include_usage(ctx) or not chunks:
        return chunks
    head = {k: v for k, v in chunks[0].items() if k not in ("choices", "usage")}
    return [*chunks, {**head, "choices": [], "usage": dict(ctx.usage or {})}]


@hook("chat_chunks", "usage_stream_in_choices")
def _usage_stream_in_choices(chunks: Chunks, ctx: HookContext) -> Chunks:
    for chunk in chunks:
        if chunk.get("choices") == [] and chunk.get("usage"):
            chunk["choices"] = [{"index": 0, "delta": {}}]
    return chunks


def _generated_tokens(chunk: dict[str, Any]) -> int:
    """Tokens of a chunk's content and tool-call argument pieces."""
    count = 0
    for delta in deltas([chunk]):
        pieces = [delta.get("content") or ""]
        pieces += [(c.get("function") or {}).get("arguments") or "" for c in delta.get("tool_calls") or []]
        count += sum(count_tokens(p) for p in pieces if isinstance(p, str))
    return count


@hook("chat_chunks", "usage_stream_every_chunk")
def _usage_stream_every_chunk(chunks: Chunks, ctx: HookContext) -> Chunks:
    if not _include_usage(ctx):
        return chunks
    prompt = int((ctx.usage or {}).get("prompt_tokens", 0))
    generated = 0
    for chunk in chunks:
        if chunk.get("usage") is None:
            generated += _generated_tokens(chunk)
            chunk["usage"] = render.usage(prompt, generated)
    return chunks


# --- tool calls ------------------------------------------------------------------------------------------


@hook("chat_chunks", "tools_args_object")
def _tools_args_object_stream(chunks: Chunks, ctx: HookContext) -> Chunks:
    """Each call's arguments as one JSON object in its first delta; the argument pieces dropped."""
    pieces = _argument_chunks(chunks)
    full: dict[tuple[Any, Any], str] = {}
    for _, key, call in calls_by_choice(pieces):
        full[key] = full.get(key, "") + call["function"]["arguments"]
    for _, key, call in calls_by_choice(chunks):
        if "id" in call:
            call["function"]["arguments"] = json_or_text(full.get(key, "") or "{}")
    return _without(chunks, pieces)


@hook("chat_chunks", "tools_args_single_piece")
def _tools_args_single_piece(chunks: Chunks, ctx: HookContext) -> Chunks:
    keep: dict[tuple[Any, Any], dict[str, Any]] = {}
    dropped = []
    for chunk, key, call in calls_by_choice(_argument_chunks(chunks)):
        if key not in keep:
            keep[key] = call
        else:
            keep[key]["function"]["arguments"] += call["function"]["arguments"]
            dropped.append(chunk)
    return _without(chunks, dropped)


@hook("chat_chunks", "tools_stream_id_every_delta_changing")
def _tools_stream_id_every_delta_changing(chunks: Chunks, ctx: HookContext) -> Chunks:
    for n, call in enumerate(tool_deltas(chunks)):
        call["id"] = f"call_{n:04d}{(call.get('id') or 'x')[-20:]}"
    return chunks


@hook("chat_chunks", "tools_stream_name_fragments")
def _tools_stream_name_fragments(chunks: Chunks, ctx: HookContext) -> Chunks:
    out = []
    for chunk in chunks:
        out.append(chunk)
        for call in [c for c in tool_deltas([chunk]) if "id" in c and "name" in (c.get("function") or {})]:
            name = call["function"].pop("name")
            cut = name.find("_") + 1 or max(len(name) // 2, 1)
            for piece in (name[:cut], name[cut:]):
                if piece:
                    extra = copy.deepcopy(chunk)
                    extra["choices"][0]["delta"] = {"tool_calls": [{"index": call.get("index"), "function": {"name": piece}}]}
                    out.append(extra)
    return out


@hook("chat_chunks", "tool_content_empty_string")
def _tool_content_empty_string_stream(chunks: Chunks, ctx: HookContext) -> Chunks:
    for delta in deltas(chunks):
        if "role" in delta and delta.get("content") is None:
            delta["content"] = ""
    return chunks


@hook("chat_chunks", "vendor_fields")
def _vendor_chunks(chunks: Chunks, ctx: HookContext) -> Chunks:
    for chunk in chunks:
        chunk["x_groq"] = {"id": "req_ref_vendor"}
        chunk["provider"] = "ref"
        for choice in chunk.get("choices") or []:
            choice["extra"] = {}
    return chunks
