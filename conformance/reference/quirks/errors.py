"""Quirks at the hook points of authentication, model lookup and errors: `auth_required`,
`resolve_model` and `error_reply` (the ErrorReply of every error response).

The families are tables: a status sent instead of another, the whole body replaced by the message
under one key. What does not live here: the errors themselves (validation.py, server.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from conformance.reference import render
from conformance.reference.errors import ErrorReply
from conformance.reference.models import ModelCard, default_model
from conformance.reference.quirks.registry import Hook, HookContext, hook, hooks_from

__all__: list[str] = []

# A status sent instead of others: quirk -> (the statuses it replaces, the status sent).
STATUS_SWAPS: Mapping[str, tuple[Collection[int], int]] = {
    "auth_500": ((401,), 500),
    "bad_request_500": ((400,), 500),
    "bad_request_422": ((400,), 422),
    "errors_with_200": (range(400, 600), 200),
}
# The error body replaced by {key: the error's message}: quirk -> key.
MESSAGE_ONLY_BODIES: Mapping[str, str] = {
    "errors_detail_shape": "detail",  # FastAPI's {"detail": "..."}
    "errors_string": "error",  # {"error": "..."}: a string, not an object
}


def _message_of(body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return str(body["error"].get("message", ""))
    return json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body


def _swapping(row: tuple[Collection[int], int]) -> Hook:
    replaced, sent = row

    def swap(reply: ErrorReply, ctx: HookContext) -> ErrorReply:
        return replace(reply, status=sent) if reply.status in replaced else reply

    return swap


def _message_only(key: str) -> Hook:
    def reshape(reply: ErrorReply, ctx: HookContext) -> ErrorReply:
        return replace(reply, body={key: _message_of(reply.body)})

    return reshape


hooks_from("error_reply", STATUS_SWAPS, _swapping)
hooks_from("error_reply", MESSAGE_ONLY_BODIES, _message_only)


def _error_object(reply: ErrorReply) -> dict[str, Any] | None:
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    return error if isinstance(error, dict) else None


@hook("auth_required", "auth_ignored")
def _auth_ignored(required: bool, ctx: HookContext) -> bool:
    return False


@hook("resolve_model", "unknown_model_200")
def _unknown_model_200(card: ModelCard | None, ctx: HookContext) -> ModelCard | None:
    return card if card is not None else default_model(ctx.kind)


@hook("error_reply", "unknown_model_400")
def _unknown_model_400(reply: ErrorReply, ctx: HookContext) -> ErrorReply:
    error = _error_object(reply)
    if reply.status == 404 and error is not None and error.get("code") == "model_not_found":
        return replace(reply, status=400)
    return reply


@hook("error_reply", "bad_request_no_param")
def _bad_request_no_param(reply: ErrorReply, ctx: HookContext) -> ErrorReply:
    error = _error_object(reply)
    if reply.status == 400 and error is not None:
        return replace(reply, body={"error": {**error, "param": None}})
    return reply


@hook("error_reply", "stream_error_200")
def _stream_error_200(reply: ErrorReply, ctx: HookContext) -> ErrorReply:
    if reply.status >= 400 and (ctx.request or {}).get("stream") is True:
        raw = b"data: " + render.dumps(reply.body) + b"\n\n"
        return replace(reply, status=200, raw=raw, media_type="text/event-stream; charset=utf-8")
    return reply


@hook("error_reply", "error_extra_fields")
def _error_extra_fields(reply: ErrorReply, ctx: HookContext) -> ErrorReply:
    error = _error_object(reply)
    if error is not None:
        extra = {"request_id": "req_ref_error", "status": reply.status, "metadata": {"provider_name": "ref"}}
        return replace(reply, body={**reply.body, "error": {**error, **extra}})
    return reply
