"""OpenAI wire shapes: completions, chunks, SSE events, embeddings and models as JSON-ready values.

What lives here: pure functions from the reference model's output (`Completion`s, vectors) to the
exact bodies OpenAI sends: `chat.completion`, the `chat.completion.chunk` sequence (role chunk,
one delta per token piece, finish chunk, optional usage chunk), SSE events and their bytes,
`list` of embeddings, models. What does not: deciding the content (responder.py), bending the
shapes (the quirks package) or HTTP (server.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from conformance.reference.embeddings import float32, to_base64
from conformance.reference.models import CREATED, OWNER, ModelCard
from conformance.reference.responder import Completion
from conformance.reference.tokens import token_logprobs, tokenize

__all__ = [
    "Envelope", "chat_body", "chat_chunks", "dumps", "embeddings_body", "frames", "model_object",
    "models_list", "sse_events", "usage",
]

DONE = "data: [DONE]"


@dataclass(frozen=True)
class Envelope:
    """What every chunk of one response shares."""

    id: str
    created: int
    model: str
    system_fingerprint: str


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """UTF-8 JSON; any lone surrogate becomes a JSON escape so the bytes are always valid."""
    text = json.dumps(value, ensure_ascii=False, indent=2 if pretty else None, separators=None if pretty else (",", ":"))
    return text.encode("utf-8", "backslashreplace")


def usage(prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    """A chat/completions usage object; `completion` already includes the `reasoning` tokens."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _logprobs(text: str | None, top: int | None) -> dict[str, Any] | None:
    if top is None:
        return None
    return {"content": token_logprobs(text, top) if text is not None else None, "refusal": None}


def _wire_call(call: Any) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def chat_body(env: Envelope, completions: Sequence[Completion], use: dict[str, Any], top_logprobs: int | None) -> dict[str, Any]:
    """A non-streamed `chat.completion`. `top_logprobs` is None when logprobs were not asked."""
    choices = []
    for index, c in enumerate(completions):
        message: dict[str, Any] = {"role": "assistant", "content": c.content, "refusal": None, "annotations": []}
        if c.tool_calls:
            message["tool_calls"] = [_wire_call(call) for call in c.tool_calls]
        choices.append(
            {"index": index, "message": message, "logprobs": _logprobs(c.content, top_logprobs), "finish_reason": c.finish_reason}
        )
    return {
        "id": env.id,
        "object": "chat.completion",
        "created": env.created,
        "model": env.model,
        "choices": choices,
        "usage": use,
        "service_tier": "default",
        "system_fingerprint": env.system_fingerprint,
    }


def _choice_chunks(index: int, c: Completion, top_logprobs: int | None) -> list[dict[str, Any]]:
    """The choice entries of one choice's stream, one per chunk."""

    def entry(delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

    first_content = "" if not c.tool_calls else None
    out = [entry({"role": "assistant", "content": first_content, "refusal": None})]
    pieces = tokenize(c.content or "")
    scored = token_logprobs(c.content or "", top_logprobs) if top_logprobs is not None else []
    for k, piece in enumerate(pieces):
        lp = {"content": [scored[k]], "refusal": None} if top_logprobs is not None else None
        out.append(entry({"content": piece}, lp))
    for k, call in enumerate(c.tool_calls):
        head = {"index": k, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        out.append(entry({"tool_calls": [head]}))
        for piece in tokenize(call.arguments):
            out.append(entry({"tool_calls": [{"index": k, "function": {"arguments": piece}}]}))
    out.append(entry({}, None, c.finish_reason))
    return out


def chat_chunks(
    env: Envelope,
    completions: Sequence[Completion],
    use: dict[str, Any],
    top_logprobs: int | None,
    include_usage: bool,
) -> list[dict[str, Any]]:
    """The `chat.completion.chunk`s of a stream, choices interleaved, then the usage chunk if asked."""

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        out = {
            "id": env.id,
            "object": "chat.completion.chunk",
            "created": env.created,
            "model": env.model,
            "service_tier": "default",
            "system_fingerprint": env.system_fingerprint,
            "choices": choices,
        }
        if include_usage:
            out["usage"] = None
        return out

    per_choice = [_choice_chunks(i, c, top_logprobs) for i, c in enumerate(completions)]
    chunks = [chunk([e]) for row in zip_longest(*per_choice) for e in row if e is not None]
    if include_usage:
        chunks.append({**chunk([]), "usage": use})
    return chunks


def sse_events(chunks: Sequence[Any]) -> list[list[str]]:
    """Each chunk as an event (its field lines), then the `[DONE]` event."""
    return [["data: " + dumps(c).decode("utf-8")] for c in chunks] + [[DONE]]


def frames(events: Sequence[Sequence[str]]) -> list[bytes]:
    """Events as bytes: each line LF-terminated, a blank line after each event."""
    return [("".join(line + "\n" for line in event) + "\n").encode("utf-8", "backslashreplace") for event in events]


def embeddings_body(vectors: Sequence[Sequence[float]], model: str, encoding: str, tokens: int) -> dict[str, Any]:
    data = []
    for index, vec in enumerate(vectors):
        rounded = float32(vec)
        data.append({"object": "embedding", "index": index, "embedding": to_base64(rounded) if encoding == "base64" else rounded})
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def model_object(card: ModelCard) -> dict[str, Any]:
    return {"id": card.id, "object": "model", "created": CREATED, "owned_by": OWNER}


def models_list(cards: Sequence[ModelCard]) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(c) for c in cards]}
