"""The legacy POST /v1/completions and POST /v1/images/generations: validation and wire shapes.

What lives here: `check_completions()` and `completion_choices()` (each prompt answered by the
chat responder as one user message; `stop`, `max_tokens` -> finish_reason length, `n`, integer
`logprobs` -> {tokens, token_logprobs, top_logprobs, text_offset}), `completion_body()` and
`completion_chunks()` (one chunk per token, finish_reason on a choice's last chunk, a usage chunk
when asked); `check_images()`, `image_size()` and `images_body()` (n PNGs of the requested size,
b64_json or a URL this server serves). What does not: HTTP and storage (surface.py).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from conformance import images
from conformance.reference.errors import ApiError
from conformance.reference.fields import (
    request_object,
    as_array, invalid_type, invalid_value, missing, read_boolean, read_integer, read_string,
)
from conformance.reference.responder import ChatRequest, Completion, Message, respond
from conformance.reference.tokens import token_logprobs, tokenize

__all__ = [
    "check_completions", "check_images", "completion_body", "completion_chunks", "completion_choices", "image_png",
    "image_size", "images_body",
]

COMPLETION_PARAMS = frozenset(
    "model prompt max_tokens stop n stream stream_options logprobs echo temperature top_p seed user suffix best_of "
    "frequency_penalty presence_penalty logit_bias".split()
)
IMAGE_PARAMS = frozenset("model prompt n size response_format quality style background output_format user moderation".split())
IMAGE_SIDES = range(16, 2049)
MAX_IMAGES = 10


def check_completions(body: Any) -> Mapping[str, Any]:
    """The validated legacy completions body; raises the ApiError OpenAI would answer otherwise."""
    obj = request_object(body, COMPLETION_PARAMS)
    prompt = obj.get("prompt")
    if prompt is None:
        raise missing("prompt")
    if not isinstance(prompt, str):
        for k, item in enumerate(as_array(prompt, "prompt", low=1, high=64)):
            if not isinstance(item, str):
                raise invalid_type(f"prompt[{k}]", "a string", item)
    read_integer(obj, "max_tokens", "max_tokens", 0, 16_384)
    read_integer(obj, "n", "n", 1, 16)
    read_integer(obj, "logprobs", "logprobs", 0, 5)
    read_boolean(obj, "stream", "stream")
    read_boolean(obj, "echo", "echo")
    stop = obj.get("stop")
    if stop is not None and not isinstance(stop, str):
        for k, item in enumerate(as_array(stop, "stop", high=4)):
            if not isinstance(item, str):
                raise invalid_type(f"stop[{k}]", "a string", item)
    return obj


def prompts(body: Mapping[str, Any]) -> list[str]:
    value = body.get("prompt")
    return [value] if isinstance(value, str) else list(value or [])


def completion_choices(body: Mapping[str, Any]) -> list[Completion]:
    """The completions of every prompt, n each, in the order of the choices' indexes."""
    stop = body.get("stop")
    out: list[Completion] = []
    for text in prompts(body):
        request = ChatRequest(
            messages=(Message("user", text),),
            n=body.get("n") or 1,
            stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
            max_tokens=body.get("max_tokens", 16),
        )
        out += respond(request)
    return out


def legacy_logprobs(text: str, top: int | None, offset: int = 0) -> dict[str, Any] | None:
    """The integer form's logprobs object for `text` (None when not asked)."""
    if top is None:
        return None
    entries = token_logprobs(text, top)
    offsets, at = [], offset
    for piece in tokenize(text):
        offsets.append(at)
        at += len(piece)
    return {
        "tokens": [e["token"] for e in entries],
        "token_logprobs": [e["logprob"] for e in entries],
        "top_logprobs": [{alt["token"]: alt["logprob"] for alt in e["top_logprobs"]} for e in entries],
        "text_offset": offsets,
    }


def completion_body(envelope: Any, choices: Sequence[Completion], use: Any, top: int | None) -> dict[str, Any]:
    return {
        "id": envelope.id, "object": "text_completion", "created": envelope.created, "model": envelope.model,
        "system_fingerprint": envelope.system_fingerprint,
        "choices": [
            {"index": i, "text": c.content or "", "logprobs": legacy_logprobs(c.content or "", top), "finish_reason": c.finish_reason}
            for i, c in enumerate(choices)
        ],
        "usage": use,
    }


def completion_chunks(envelope: Any, choices: Sequence[Completion], use: Any, top: int | None, include_usage: bool) -> list[dict[str, Any]]:
    """One chunk per token per choice, the choice's finish_reason on its last chunk, then usage if asked."""
    head = {"id": envelope.id, "object": "text_completion", "created": envelope.created, "model": envelope.model}
    chunks = []
    for i, c in enumerate(choices):
        pieces, at = tokenize(c.content or "") or [""], 0
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            entry = {"index": i, "text": piece, "logprobs": legacy_logprobs(piece, top, at), "finish_reason": c.finish_reason if last else None}
            chunks.append({**head, "choices": [entry]})
            at += len(piece)
    if include_usage:
        chunks.append({**head, "choices": [], "usage": use})
    return chunks


# --- images ------------------------------------------------------------------------------------


def image_size(body: Mapping[str, Any]) -> tuple[int, int]:
    """The requested WIDTHxHEIGHT (default 1024x1024)."""
    size = body.get("size") or "1024x1024"
    width, _, height = size.partition("x") if size != "auto" else ("1024", "x", "1024")
    return int(width), int(height)


def check_images(body: Any) -> Mapping[str, Any]:
    """The validated image generation body; raises the ApiError OpenAI would answer otherwise."""
    obj = request_object(body, IMAGE_PARAMS)
    read_string(obj, "prompt", "prompt", required=True, nullable=False)
    read_integer(obj, "n", "n", 1, MAX_IMAGES)
    fmt = read_string(obj, "response_format", "response_format")
    if fmt is not None and fmt not in ("url", "b64_json"):
        raise invalid_value("response_format", fmt, ("url", "b64_json"))
    size = read_string(obj, "size", "size")
    if size is not None and size != "auto":
        width, x, height = size.partition("x")
        if not (x and width.isdigit() and height.isdigit() and int(width) in IMAGE_SIDES and int(height) in IMAGE_SIDES):
            raise ApiError(
                400, f"Invalid 'size': '{size[:40]}'. Expected WIDTHxHEIGHT, each side 16 to 2048 pixels, or 'auto'.",
                param="size", code="invalid_value",
            )
    return obj


def image_png(prompt: str, index: int, size: tuple[int, int]) -> bytes:
    """A PNG of `size`: the colour the prompt names (conformance.images.COLOURS), else one derived from it."""
    named = next((c for c in images.COLOURS if c in prompt.lower()), None)
    if named is None:
        named = list(images.COLOURS)[hashlib.sha256(f"{prompt}\0{index}".encode("utf-8", "surrogatepass")).digest()[0] % len(images.COLOURS)]
    image = Image.new("RGB", size, images.COLOURS[named])
    return images.encode(image, "png")


def images_body(created: int, pngs: Sequence[bytes], urls: Sequence[str] | None, prompt: str) -> dict[str, Any]:
    """The ImagesResponse: b64_json of each PNG, or its URL; usage counts the prompt's tokens."""
    data = [{"url": u} for u in urls] if urls is not None else [{"b64_json": base64.b64encode(p).decode("ascii")} for p in pngs]
    tokens = len(tokenize(prompt))
    return {
        "created": created, "data": data, "output_format": "png",
        "usage": {"input_tokens": tokens, "input_tokens_details": {"text_tokens": tokens, "image_tokens": 0},
                  "output_tokens": 0, "total_tokens": tokens},
    }
