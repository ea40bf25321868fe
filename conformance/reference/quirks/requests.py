"""Quirks at the request hook points: `chat_request` and `embeddings_request`.

Each hook gets a copy of the validated body and returns the body the model sees, or raises the
ApiError a provider answers instead. The families are tables: parameters silently dropped,
parameters refused with OpenAI's unsupported_parameter wording, roles refused, tool_choice values
treated as "auto". What does not live here: validation itself (validation.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.reference.errors import ApiError
from conformance.reference.quirks.places import drop, register_edits
from conformance.reference.quirks.registry import Hook, HookContext, hook, hooks_from

__all__: list[str] = []

Body = dict[str, Any]

# Parameters silently dropped before the model sees the request.
register_edits(
    drop("ignore_max_tokens", "chat_request", "body", "max_tokens", "max_completion_tokens"),
    drop("ignore_stop", "chat_request", "body", "stop"),
    drop("ignore_n", "chat_request", "body", "n"),
    drop("ignore_logprobs", "chat_request", "body", "logprobs", "top_logprobs"),
    drop("tools_ignored", "chat_request", "body", "tools", "tool_choice", "parallel_tool_calls"),
    drop("tools_parallel_flag_ignored", "chat_request", "body", "parallel_tool_calls"),
    drop("usage_stream_ignored", "chat_request", "body", "stream_options"),
    drop("embeddings_base64_ignored", "embeddings_request", "body", "encoding_format"),
    drop("embeddings_ignore_dimensions", "embeddings_request", "body", "dimensions"),
)

# Parameters refused with OpenAI's 400 unsupported_parameter wording: quirk -> (parameter, advice).
REFUSED: Mapping[str, tuple[str, str]] = {
    "reject_max_completion_tokens": ("max_completion_tokens", " Use 'max_tokens' instead."),
    "reject_seed": ("seed", ""),
    "reject_logprobs": ("logprobs", ""),
}
# Roles refused with 400 invalid_value naming the message: quirk -> (role, the roles it lists instead).
REFUSED_ROLES: Mapping[str, tuple[str, str]] = {
    "reject_developer_role": ("developer", "'system', 'assistant', 'user', 'function', and 'tool'"),
    "tools_reject_tool_role": ("tool", "'system', 'assistant', and 'user'"),
}
# tool_choice values treated as "auto": quirk -> the kind of choice ("none", "required", "named").
CHOICES_AS_AUTO: Mapping[str, str] = {
    "tools_choice_none_ignored": "none",
    "tools_required_as_auto": "required",
    "tools_named_as_auto": "named",
}


def _bad_request(message: str, param: str | None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _messages(body: Mapping[str, Any]) -> list[Any]:
    return body.get("messages") or []


def _refusing(row: tuple[str, str]) -> Hook:
    param, advice = row

    def refuse(body: Body, ctx: HookContext) -> Body:
        if body.get(param) is not None and body.get(param) is not False:  # logprobs: false asks for nothing
            message = f"Unsupported parameter: '{param}' is not supported with this model.{advice}"
            raise _bad_request(message, param, "unsupported_parameter")
        return body

    return refuse


def _refusing_role(row: tuple[str, str]) -> Hook:
    """400 invalid_value naming the first message with the role, the way OpenAI words it."""
    role, supported = row

    def refuse(body: Body, ctx: HookContext) -> Body:
        for i, m in enumerate(_messages(body)):
            if m.get("role") == role:
                message = f"Invalid value: '{role}'. Supported values are: {supported}."
                raise _bad_request(message, f"messages[{i}].role", "invalid_value")
        return body

    return refuse


def _choice_kind(choice: Any) -> str:
    return "named" if isinstance(choice, dict) else str(choice)


def _choosing_auto(kind: str) -> Hook:
    def as_auto(body: Body, ctx: HookContext) -> Body:
        if "tool_choice" in body and _choice_kind(body["tool_choice"]) == kind:
            body["tool_choice"] = "auto"
        return body

    return as_auto


hooks_from("chat_request", REFUSED, _refusing)
hooks_from("chat_request", REFUSED_ROLES, _refusing_role)
hooks_from("chat_request", CHOICES_AS_AUTO, _choosing_auto)


@hook("chat_request", "ignore_system")
def _ignore_system(body: Body, ctx: HookContext) -> Body:
    body["messages"] = [m for m in _messages(body) if m.get("role") not in ("system", "developer")]
    return body


@hook("chat_request", "forget_history")
def _forget_history(body: Body, ctx: HookContext) -> Body:
    messages = _messages(body)
    users = [m for m in messages if m.get("role") == "user"]
    body["messages"] = users[-1:] or messages[-1:]
    return body


@hook("chat_request", "reject_content_parts")
def _reject_content_parts(body: Body, ctx: HookContext) -> Body:
    for i, m in enumerate(_messages(body)):
        if isinstance(m.get("content"), list):
            message = f"Invalid type for 'messages[{i}].content': expected a string, but got an array instead."
            raise _bad_request(message, f"messages[{i}].content", "invalid_type")
    return body


@hook("chat_request", "stringify_content_parts")
def _stringify_content_parts(body: Body, ctx: HookContext) -> Body:
    for m in _messages(body):
        if isinstance(m.get("content"), list):
            m["content"] = str(m["content"])  # the Python repr, as a careless str() does
    return body


@hook("chat_request", "json_object_ignored")
def _json_object_ignored(body: Body, ctx: HookContext) -> Body:
    if (body.get("response_format") or {}).get("type") == "json_object":
        body.pop("response_format")
    return body


@hook("chat_request", "reject_json_schema")
def _reject_json_schema(body: Body, ctx: HookContext) -> Body:
    if (body.get("response_format") or {}).get("type") == "json_schema":
        message = "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
        raise _bad_request(message, "response_format")
    return body


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, int | list) for v in value)


@hook("embeddings_request", "embeddings_reject_dimensions")
def _embeddings_reject_dimensions(body: Body, ctx: HookContext) -> Body:
    if body.get("dimensions") is not None:
        raise _bad_request("This model does not support specifying dimensions.", "dimensions")
    return body


@hook("embeddings_request", "embeddings_reject_tokens")
def _embeddings_reject_tokens(body: Body, ctx: HookContext) -> Body:
    """422 with a FastAPI validation body, as a server typed for string input answers token ids."""
    value = body.get("input")
    if isinstance(value, list) and _is_tokens(value):
        detail = [
            {"type": "string_type", "loc": ["body", "input", "list[constrained-str]", k],
             "msg": "Input should be a valid string", "input": item}
            for k, item in enumerate(value[:8])
        ]
        raise ApiError(422, "Input should be a valid string", body={"detail": detail})
    return body
