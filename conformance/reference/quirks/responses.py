"""Quirks at the hook points of non-streamed bodies: `chat_response`, `models_list`,
`model_retrieve`, `embedding_vectors` and `embeddings_response`.

Each hook changes a rendered body (or, for `embedding_vectors`, the vectors before encoding). The
"remove a key" / "set a key" family is the `register_edits` table below. What does not live here:
streamed chunks (chunks.py) or error bodies (errors.py).
"""

from __future__ import annotations

import base64
import json
import random
import struct
from typing import Any

from conformance.reference.embeddings import to_base64
from conformance.reference.errors import ApiError
from conformance.reference.quirks.places import drop, drop_null, json_or_text, message_bodies, put, register_edits
from conformance.reference.quirks.registry import HookContext, hook

__all__: list[str] = []

Body = dict[str, Any]
Vectors = list[list[float]]

register_edits(
    drop("models_no_object", "models_list", "body", "object"),
    put("chat_wrong_object", "chat_response", "body", "object", "text_completion"),
    drop("content_missing", "chat_response", "messages", "content"),
    drop("role_missing", "chat_response", "messages", "role"),
    drop("usage_missing", "chat_response", "body", "usage"),
    drop("tools_type_missing", "chat_response", "message_tool_calls", "type"),
    drop("no_system_fingerprint", "chat_response", "body", "system_fingerprint"),
    drop_null("logprobs_absent", "chat_response", "choices", "logprobs"),
    drop("refusal_absent", "chat_response", "messages", "refusal"),
    drop("embeddings_no_index", "embeddings_response", "items", "index"),
    drop("embeddings_no_usage", "embeddings_response", "body", "usage"),
)


# --- models ------------------------------------------------------------------------------------------


@hook("models_list", "models_unlisted")
def _models_unlisted(body: Body, ctx: HookContext) -> Body:
    body["data"] = [{"id": "some-other-model", "object": "model", "created": 1_700_000_000, "owned_by": "someone"}]
    return body


@hook("model_retrieve", "models_retrieve_404")
def _models_retrieve_404(body: Body, ctx: HookContext) -> Body:
    raise ApiError(404, f"The model '{body.get('id')}' does not exist", code="model_not_found")


@hook("models_list", "vendor_fields")
def _vendor_models(body: Body, ctx: HookContext) -> Body:
    for model in body.get("data") or []:
        model["active"] = True
        model["context_window"] = 131072
    return body


# --- chat ----------------------------------------------------------------------------------------------


@hook("chat_response", "tools_args_object")
def _tools_args_object(body: Body, ctx: HookContext) -> Body:
    for message in message_bodies(body):
        for call in message.get("tool_calls") or []:
            call["function"]["arguments"] = json_or_text(call["function"]["arguments"])
    return body


@hook("chat_response", "tool_content_empty_string")
def _tool_content_empty_string(body: Body, ctx: HookContext) -> Body:
    for message in message_bodies(body):
        if message.get("tool_calls") and message.get("content") is None:
            message["content"] = ""
    return body


@hook("chat_response", "vendor_fields")
def _vendor_body(body: Body, ctx: HookContext) -> Body:
    body["x_groq"] = {"id": "req_ref_vendor"}
    body["provider"] = "ref"
    for choice in body.get("choices") or []:
        choice["extra"] = {"native_finish_reason": choice.get("finish_reason")}
    return body


# --- embeddings ------------------------------------------------------------------------------------------

# Its own entropy source: the global `random` is reseeded by Hypothesis while a fuzz check runs in
# the same process, which would make this "noise" repeat exactly.
_NOISE = random.SystemRandom()


def _unit(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


@hook("embedding_vectors", "embeddings_nondeterministic")
def _embeddings_nondeterministic(vectors: Vectors, ctx: HookContext) -> Vectors:
    return [_unit([x + _NOISE.uniform(-0.05, 0.05) for x in vec]) for vec in vectors]


@hook("embedding_vectors", "embeddings_random")
def _embeddings_random(vectors: Vectors, ctx: HookContext) -> Vectors:
    value = (ctx.request or {}).get("input")
    one = isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], int))
    inputs = [value] if one else value
    out = []
    for vec, item in zip(vectors, inputs or []):
        rng = random.Random(json.dumps(item))  # seeded by the whole input: deterministic, no semantics
        out.append(_unit([rng.gauss(0, 1) for _ in vec]))
    return out or vectors


@hook("embeddings_response", "embeddings_reversed")
def _embeddings_reversed(body: Body, ctx: HookContext) -> Body:
    body["data"] = list(reversed(body["data"]))
    for index, item in enumerate(body["data"]):
        item["index"] = index
    return body


@hook("embeddings_response", "embeddings_base64_float64")
def _embeddings_base64_float64(body: Body, ctx: HookContext) -> Body:
    for item in body["data"]:
        if isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"])
            floats = [v for (v,) in struct.iter_unpack("<f", raw)]
            item["embedding"] = to_base64(floats, "d")
    return body


@hook("embeddings_response", "embeddings_nested")
def _embeddings_nested(body: Body, ctx: HookContext) -> Body:
    for item in body["data"]:
        if isinstance(item.get("embedding"), list):
            item["embedding"] = [item["embedding"]]
    return body


@hook("embeddings_response", "vendor_fields")
def _vendor_embeddings(body: Body, ctx: HookContext) -> Body:
    body["provider"] = "ref"
    body["usage"] = {**body.get("usage", {}), "queue_time": 0.001}
    return body
