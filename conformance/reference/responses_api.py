"""POST /v1/responses requests: validation, and translation to the chat request the model answers.

What lives here: `check_responses()` (the 400s OpenAI gives for a malformed Responses body, for
the members this server reads), `ResponsesTurn` and `to_chat()` (input string or items,
instructions, function tools, tool_choice, text.format and max_output_tokens as the equivalent
chat body, after the turns of a stored previous response). The chat body then goes through the
chat validation (validation.check_chat) and the same responder, so both endpoints answer alike.
What does not: the Response object and its stream events (responses_render.py), storage and HTTP
(surface.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conformance.reference.accounting import EFFORTS
from conformance.reference.fields import (
    request_object,
    as_array, as_object, invalid_type, invalid_value, read_boolean, read_integer, read_string,
)

__all__ = ["RESPONSES_PARAMS", "check_responses", "to_chat"]

RESPONSES_PARAMS = frozenset(
    "model input instructions tools tool_choice parallel_tool_calls text max_output_tokens store previous_response_id "
    "stream stream_options reasoning metadata temperature top_p user safety_identifier prompt_cache_key truncation "
    "include background service_tier max_tool_calls top_logprobs conversation prompt prompt_cache_retention".split()
)
_ROLES = ("user", "assistant", "system", "developer")
_PART_TYPES = ("input_text", "input_image", "output_text", "refusal", "input_file")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")


def check_responses(body: Any) -> Mapping[str, Any]:
    """The body as a validated object; raises the ApiError OpenAI would answer otherwise."""
    request_object(body, RESPONSES_PARAMS, unknown=lambda key: f"Unknown parameter: '{key}'.")
    for key in ("instructions", "previous_response_id", "user", "safety_identifier", "prompt_cache_key"):
        read_string(body, key, key)
    for key in ("store", "stream", "parallel_tool_calls", "background"):
        read_boolean(body, key, key)
    read_integer(body, "max_output_tokens", "max_output_tokens", 16, None)
    value = body.get("input")
    if value is not None and not isinstance(value, str):
        for k, item in enumerate(as_array(value, "input")):
            _item(item, f"input[{k}]")
    _tools(body)
    _text(body)
    reasoning = body.get("reasoning")
    if reasoning is not None:
        effort = read_string(as_object(reasoning, "reasoning"), "effort", "reasoning.effort")
        if effort is not None and effort not in EFFORTS:
            raise invalid_value("reasoning.effort", effort, tuple(EFFORTS))
    return body


def _item(value: Any, path: str) -> None:
    item = as_object(value, path)
    kind = read_string(item, "type", f"{path}.type") or "message"
    if kind not in _ITEM_TYPES:
        raise invalid_value(f"{path}.type", kind, _ITEM_TYPES)
    if kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            read_string(item, key, f"{path}.{key}", required=True, nullable=False)
    elif kind == "function_call_output":
        read_string(item, "call_id", f"{path}.call_id", required=True, nullable=False)
        if not isinstance(item.get("output"), (str, list)):
            raise invalid_type(f"{path}.output", "a string or an array", item.get("output"))
    elif kind == "message":
        role = read_string(item, "role", f"{path}.role", required=True, nullable=False)
        if role not in _ROLES:
            raise invalid_value(f"{path}.role", role, _ROLES)
        content = item.get("content")
        if not isinstance(content, str):
            for j, part in enumerate(as_array(content, f"{path}.content")):
                _part(part, f"{path}.content[{j}]")


def _part(value: Any, path: str) -> None:
    part = as_object(value, path)
    kind = read_string(part, "type", f"{path}.type", required=True, nullable=False)
    if kind not in _PART_TYPES:
        raise invalid_value(f"{path}.type", kind, _PART_TYPES)
    if kind in ("input_text", "output_text"):
        read_string(part, "text", f"{path}.text", required=True, nullable=False)
    elif kind == "input_image":
        read_string(part, "image_url", f"{path}.image_url")
        detail = read_string(part, "detail", f"{path}.detail")
        if detail is not None and detail not in ("auto", "low", "high"):
            raise invalid_value(f"{path}.detail", detail, ("auto", "low", "high"))


def _tools(body: Mapping[str, Any]) -> None:
    tools = body.get("tools")
    for k, value in enumerate(as_array(tools, "tools") if tools is not None else ()):
        tool = as_object(value, f"tools[{k}]")
        kind = read_string(tool, "type", f"tools[{k}].type", required=True, nullable=False)
        if kind != "function":
            raise invalid_value(f"tools[{k}].type", kind, ("function",))
        read_string(tool, "name", f"tools[{k}].name", required=True, nullable=False)
        if tool.get("parameters") is not None:
            as_object(tool["parameters"], f"tools[{k}].parameters")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        read_string(choice, "name", "tool_choice.name", required=choice.get("type") == "function")
    elif choice is not None and choice not in ("none", "auto", "required"):
        raise invalid_value("tool_choice", choice, ("none", "auto", "required"))


def _text(body: Mapping[str, Any]) -> None:
    text = body.get("text")
    if text is None:
        return
    fmt = as_object(text, "text").get("format")
    if fmt is None:
        return
    kind = read_string(as_object(fmt, "text.format"), "type", "text.format.type", required=True, nullable=False)
    if kind not in ("text", "json_object", "json_schema"):
        raise invalid_value("text.format.type", kind, ("text", "json_object", "json_schema"))
    if kind == "json_schema":
        read_string(fmt, "name", "text.format.name", required=True, nullable=False)
        as_object(fmt.get("schema"), "text.format.schema")


# --- translation -------------------------------------------------------------------------------


def _chat_part(part: Mapping[str, Any]) -> dict[str, Any] | None:
    if part.get("type") in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    return None


def _chat_content(content: Any, role: str) -> Any:
    if isinstance(content, str):
        return content
    parts = [p for p in (_chat_part(part) for part in content) if p is not None]
    if role != "user":  # chat allows only text parts there
        return "\n".join(p["text"] for p in parts if p["type"] == "text")
    return parts or ""


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Responses input (a string or validated items) as chat messages."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    messages: list[dict[str, Any]] = []
    for item in value or []:
        kind = item.get("type") or "message"
        if kind == "message":
            messages.append({"role": item["role"], "content": _chat_content(item["content"], item["role"])})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function", "function": {"name": item["name"], "arguments": item["arguments"]}}
            if messages and messages[-1].get("tool_calls") and messages[-1].get("content") is None:
                messages[-1]["tool_calls"].append(call)  # parallel calls: one assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"] if isinstance(item["output"], str) else _chat_content(item["output"], "tool")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
    return messages


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping):
        return {"type": "function", "function": {"name": choice.get("name")}} if choice.get("type") == "function" else "auto"
    return choice


def _format(body: Mapping[str, Any]) -> Any:
    fmt = (body.get("text") or {}).get("format")
    if not isinstance(fmt, Mapping) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
    return {"type": "json_schema", "json_schema": schema}


def to_chat(body: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chat body equivalent to a validated Responses body, after the stored `history` messages."""
    messages = [dict(m) for m in history] + input_messages(body.get("input"))
    if isinstance(body.get("instructions"), str):
        messages = [{"role": "developer", "content": body["instructions"]}, *messages]
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    tools = [
        {"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters", "strict") if t.get(k) is not None}}
        for t in body.get("tools") or []
    ]
    if tools:
        chat["tools"] = tools
        for key, value in (("tool_choice", _tool_choice(body.get("tool_choice"))), ("parallel_tool_calls", body.get("parallel_tool_calls"))):
            if value is not None:
                chat[key] = value
    if (fmt := _format(body)) is not None:
        chat["response_format"] = fmt
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "metadata"):
        if body.get(key) is not None:
            chat[key] = body[key]
    return chat
