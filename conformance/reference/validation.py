"""Request validation the way the OpenAI API does it: every bad request is a 400 naming the field.

What lives here: the checks of chat-completion and embeddings request bodies (members known and
required, types, ranges, enums, message-sequence rules, tools, tool_choice, response_format), each
failure an `ApiError` with OpenAI's message style and a `param` path such as `messages[0].role`.
Validation is complete on purpose: the server has no catch-all that turns crashes into 4xx, so
anything not rejected here must be safe to answer.
What does not: parsing the body (json_body.py), reading one field (fields.py), judging the JSON
Schemas a request brings (schema_limits.py), model lookup (server.py, since quirks may change it)
or answering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from conformance.reference.accounting import EFFORTS
from conformance.reference.errors import ApiError
from conformance.reference.fields import (
    request_object,
    ABSENT,
    as_array,
    as_object,
    describe,
    invalid_type,
    invalid_value,
    is_int,
    is_number,
    missing,
    read_boolean,
    read_integer,
    read_number,
    read_string,
    short,
    unsupported,
)
from conformance.reference.models import (
    CONTEXT_TOKENS,
    EMBED_DIMENSIONS,
    EMBED_INPUT_TOKENS,
    EMBED_REQUEST_TOKENS,
    MAX_COMPLETION_TOKENS,
)
from conformance.reference.responder import content_text
from conformance.reference.schema_limits import schema_problem
from conformance.reference.tokens import count_tokens

__all__ = ["check_chat", "check_embeddings", "prompt_tokens"]

CHAT_PARAMS = frozenset(
    "audio frequency_penalty function_call functions logit_bias logprobs max_completion_tokens max_tokens "
    "messages metadata modalities model moderation n parallel_tool_calls prediction presence_penalty "
    "prompt_cache_key prompt_cache_options prompt_cache_retention reasoning_effort response_format "
    "safety_identifier seed service_tier stop store stream stream_options temperature tool_choice tools "
    "top_logprobs top_p user verbosity web_search_options".split()
)
EMBEDDING_PARAMS = frozenset({"input", "model", "encoding_format", "dimensions", "user"})
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
PART_TYPES = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_INT64 = 2**63
_MAX_TOKEN_ID = 2**31 - 1
_MAX_INPUTS = 2048


# --- chat ---------------------------------------------------------------------------------------


def check_chat(body: Any) -> None:
    """Raise the ApiError OpenAI would answer to this chat-completion request body, if any."""
    obj = request_object(body, CHAT_PARAMS, "messages")
    messages = as_array(obj["messages"], "messages", low=1)
    for i, message in enumerate(messages):
        _message(message, f"messages[{i}]")
    _tool_sequence(messages)
    _sampling(obj)
    _streaming(obj)
    _misc(obj)
    tool_names = _tools(obj)
    _tool_choice(obj, tool_names)
    _response_format(obj, messages)
    tokens = prompt_tokens(messages)
    if tokens > CONTEXT_TOKENS:
        raise ApiError(
            400,
            f"This model's maximum context length is {CONTEXT_TOKENS} tokens. However, your messages resulted "
            f"in {tokens} tokens. Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        )


def prompt_tokens(messages: list[Any]) -> int:
    """Prompt tokens of a message list: the tokens of each message's text, plus 3 per message."""
    return sum(count_tokens(content_text(m.get("content"))) + 3 for m in messages if isinstance(m, Mapping))


def _message(value: Any, path: str) -> None:
    m = as_object(value, path)
    role = m.get("role", ABSENT)
    if role is ABSENT:
        raise missing(f"{path}.role")
    if not isinstance(role, str):
        raise invalid_type(f"{path}.role", "a string", role)
    if role not in ROLES:
        raise invalid_value(f"{path}.role", role, ROLES)
    read_string(m, "name", f"{path}.name")
    content = m.get("content", ABSENT)
    if role == "assistant":
        calls = m.get("tool_calls")
        if calls is not None:
            for k, call in enumerate(as_array(calls, f"{path}.tool_calls", low=1)):
                _assistant_call(call, f"{path}.tool_calls[{k}]")
        if m.get("function_call") is not None:
            fc = as_object(m["function_call"], f"{path}.function_call")
            read_string(fc, "name", f"{path}.function_call.name", required=True)
            read_string(fc, "arguments", f"{path}.function_call.arguments", required=True)
        read_string(m, "refusal", f"{path}.refusal")
        if content in (ABSENT, None):
            if calls is None and m.get("function_call") is None:
                raise missing(f"{path}.content")
            return
    elif role == "function":
        read_string(m, "name", f"{path}.name", required=True)
        if content in (ABSENT, None):
            return
        if not isinstance(content, str):
            raise invalid_type(f"{path}.content", "a string", content)
        return
    elif role == "tool":
        read_string(m, "tool_call_id", f"{path}.tool_call_id", required=True, nullable=False)
    if content is ABSENT:
        raise missing(f"{path}.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid_type(f"{path}.content", "a string or an array", content)
    for j, part in enumerate(as_array(content, f"{path}.content", low=1)):
        _part(part, f"{path}.content[{j}]", PART_TYPES[role])


def _part(value: Any, path: str, allowed: tuple[str, ...]) -> None:
    part = as_object(value, path)
    kind = read_string(part, "type", f"{path}.type", required=True, nullable=False)
    if kind not in allowed:
        raise invalid_value(f"{path}.type", kind, allowed)
    if kind in ("text", "refusal"):
        read_string(part, kind, f"{path}.{kind}", required=True, nullable=False)
    elif kind == "image_url":
        image = as_object(part.get("image_url"), f"{path}.image_url")
        read_string(image, "url", f"{path}.image_url.url", required=True, nullable=False)
        detail = read_string(image, "detail", f"{path}.image_url.detail")
        if detail is not None and detail not in ("auto", "low", "high"):
            raise invalid_value(f"{path}.image_url.detail", detail, ("auto", "low", "high"))
    elif kind == "input_audio":
        audio = as_object(part.get("input_audio"), f"{path}.input_audio")
        read_string(audio, "data", f"{path}.input_audio.data", required=True, nullable=False)
        fmt = read_string(audio, "format", f"{path}.input_audio.format", required=True, nullable=False)
        if fmt not in ("wav", "mp3"):
            raise invalid_value(f"{path}.input_audio.format", fmt, ("wav", "mp3"))
    else:
        as_object(part.get("file"), f"{path}.file")


def _assistant_call(value: Any, path: str) -> None:
    call = as_object(value, path)
    read_string(call, "id", f"{path}.id", required=True, nullable=False)
    kind = read_string(call, "type", f"{path}.type", required=True, nullable=False)
    if kind != "function":
        raise invalid_value(f"{path}.type", kind, ("function",))
    fn = as_object(call.get("function"), f"{path}.function")
    read_string(fn, "name", f"{path}.function.name", required=True, nullable=False)
    read_string(fn, "arguments", f"{path}.function.arguments", required=True, nullable=False)


def _tool_sequence(messages: list[Any]) -> None:
    """Tool messages answer the calls of the assistant message just before them, all of them."""
    pending: list[str] = []
    owner = -1
    for i, m in enumerate(messages):
        if m["role"] == "tool":
            if owner < 0:
                raise ApiError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    param=f"messages[{i}].role",
                )
            if m["tool_call_id"] not in pending:
                raise ApiError(
                    400,
                    f"Invalid parameter: 'tool_call_id' of '{m['tool_call_id'][:100]}' not found in 'tool_calls' "
                    "of previous message.",
                    param=f"messages[{i}].tool_call_id",
                )
            pending.remove(m["tool_call_id"])
            continue
        _unanswered(pending, owner)
        owner, pending = -1, []
        if m["role"] == "assistant" and m.get("tool_calls"):
            owner, pending = i, [c["id"] for c in m["tool_calls"]]
    _unanswered(pending, owner)


def _unanswered(pending: list[str], owner: int) -> None:
    if pending:
        raise ApiError(
            400,
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)[:300]}",
            param=f"messages[{owner}].tool_calls",
        )


def _sampling(obj: Mapping[str, Any]) -> None:
    read_number(obj, "temperature", 0, 2)
    read_number(obj, "top_p", 0, 1)
    read_number(obj, "frequency_penalty", -2, 2)
    read_number(obj, "presence_penalty", -2, 2)
    read_integer(obj, "n", "n", 1, 128)
    read_integer(obj, "seed", "seed", -_INT64, _INT64 - 1)
    _max_tokens(obj)
    _logprobs(obj)
    _stop(obj)
    _logit_bias(obj)


def _max_tokens(obj: Mapping[str, Any]) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = read_integer(obj, key, key, 1, None)
        if value is not None and value > MAX_COMPLETION_TOKENS:
            raise ApiError(
                400,
                f"{key} is too large: {short(value)}. This model supports at most {MAX_COMPLETION_TOKENS} "
                f"completion tokens, whereas you provided {short(value)}.",
                param=key,
                code="invalid_value",
            )


def _logprobs(obj: Mapping[str, Any]) -> None:
    logprobs = read_boolean(obj, "logprobs", "logprobs")
    top = read_integer(obj, "top_logprobs", "top_logprobs", 0, 20)
    if top is not None and logprobs is not True:
        raise ApiError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
            param="top_logprobs",
            code="invalid_value",
        )


def _stop(obj: Mapping[str, Any]) -> None:
    stop = obj.get("stop")
    if stop is not None and not isinstance(stop, str):
        for k, s in enumerate(as_array(stop, "stop", low=1, high=4)):
            if not isinstance(s, str):
                raise invalid_type(f"stop[{k}]", "a string", s)


def _logit_bias(obj: Mapping[str, Any]) -> None:
    bias = obj.get("logit_bias")
    if bias is None:
        return
    for token, weight in as_object(bias, "logit_bias").items():
        if not token.isdigit() or len(token) > 9:
            raise ApiError(400, f"Invalid key in 'logit_bias': {token[:50]}.", param="logit_bias", code="invalid_value")
        if not is_number(weight) or not -100 <= weight <= 100:
            raise ApiError(
                400,
                f"Invalid value for 'logit_bias': bias must be a number between -100 and 100, got {describe(weight)}.",
                param=f"logit_bias.{token}",
                code="invalid_value",
            )


def _streaming(obj: Mapping[str, Any]) -> None:
    stream = read_boolean(obj, "stream", "stream")
    options = obj.get("stream_options")
    if options is None:
        return
    opts = as_object(options, "stream_options")
    read_boolean(opts, "include_usage", "stream_options.include_usage")
    read_boolean(opts, "include_obfuscation", "stream_options.include_obfuscation")
    if stream is not True:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )


def _misc(obj: Mapping[str, Any]) -> None:
    for key in ("user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention"):
        read_string(obj, key, key)
    for key in ("store", "parallel_tool_calls"):
        read_boolean(obj, key, key)
    tier = read_string(obj, "service_tier", "service_tier")
    if tier is not None and tier not in SERVICE_TIERS:
        raise invalid_value("service_tier", tier, SERVICE_TIERS)
    metadata = obj.get("metadata")
    if metadata is not None:
        meta = as_object(metadata, "metadata")
        if len(meta) > 16:
            raise ApiError(400, "Invalid 'metadata': too many properties (at most 16).", param="metadata", code="invalid_value")
        for key, value in meta.items():
            if not isinstance(value, str):
                raise invalid_type(f"metadata.{key[:64]}", "a string", value)
    modalities = obj.get("modalities")
    if modalities is not None:
        for k, mode in enumerate(as_array(modalities, "modalities")):
            if mode not in ("text", "audio"):
                raise invalid_value(f"modalities[{k}]", mode, ("text", "audio"))
            if mode == "audio":
                raise unsupported("modalities", "This model does not support the 'audio' modality.")
    effort = read_string(obj, "reasoning_effort", "reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise invalid_value("reasoning_effort", effort, tuple(EFFORTS))
    for key in ("audio", "verbosity", "web_search_options"):
        if obj.get(key) is not None:
            raise unsupported(key)
    for key in ("prediction", "moderation", "prompt_cache_options"):
        if obj.get(key) is not None:
            as_object(obj[key], key)
    _legacy_functions(obj)


def _legacy_functions(obj: Mapping[str, Any]) -> None:
    """`functions` and `function_call`, the deprecated forerunners of tools and tool_choice."""
    functions = obj.get("functions")
    if functions is not None:
        for k, fn in enumerate(as_array(functions, "functions", low=1, high=128)):
            read_string(as_object(fn, f"functions[{k}]"), "name", f"functions[{k}].name", required=True, nullable=False)
    call = obj.get("function_call")
    if call is not None and not isinstance(call, str):
        read_string(as_object(call, "function_call"), "name", "function_call.name", required=True, nullable=False)
    elif isinstance(call, str) and call not in ("none", "auto"):
        raise invalid_value("function_call", call, ("none", "auto"))


def _tools(obj: Mapping[str, Any]) -> list[str]:
    tools = obj.get("tools")
    if tools is None:
        if obj.get("parallel_tool_calls") is not None:
            raise ApiError(
                400,
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.",
                param="parallel_tool_calls",
                code="invalid_value",
            )
        return []
    names = []
    for k, value in enumerate(as_array(tools, "tools", low=1, high=128)):
        path = f"tools[{k}]"
        tool = as_object(value, path)
        kind = read_string(tool, "type", f"{path}.type", required=True, nullable=False)
        if kind != "function":
            raise invalid_value(f"{path}.type", kind, ("function",))
        fn = as_object(tool.get("function"), f"{path}.function")
        name = read_string(fn, "name", f"{path}.function.name", required=True, nullable=False)
        if not _NAME.fullmatch(name):
            raise ApiError(
                400,
                f"Invalid '{path}.function.name': string does not match pattern. Expected a string that matches "
                "the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                param=f"{path}.function.name",
                code="invalid_value",
            )
        read_string(fn, "description", f"{path}.function.description")
        strict = read_boolean(fn, "strict", f"{path}.function.strict")
        if fn.get("parameters") is not None:
            params = as_object(fn["parameters"], f"{path}.function.parameters")
            problem = schema_problem(params, strict is True)
            if problem:
                raise ApiError(
                    400,
                    f"Invalid schema for function '{name}': {problem}",
                    param=f"{path}.function.parameters",
                    code="invalid_function_parameters",
                )
        names.append(name)
    return names


def _tool_choice(obj: Mapping[str, Any], tool_names: list[str]) -> None:
    choice = obj.get("tool_choice")
    if choice is None:
        return
    if not tool_names:
        raise ApiError(
            400,
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            param="tool_choice",
            code="invalid_value",
        )
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise invalid_value("tool_choice", choice, ("none", "auto", "required"))
        return
    if not isinstance(choice, dict):
        raise invalid_type("tool_choice", "a string or an object", choice)
    kind = read_string(choice, "type", "tool_choice.type", required=True, nullable=False)
    if kind != "function":
        raise invalid_value("tool_choice.type", kind, ("function",))
    fn = as_object(choice.get("function"), "tool_choice.function")
    name = read_string(fn, "name", "tool_choice.function.name", required=True, nullable=False)
    if name not in tool_names:
        raise ApiError(
            400,
            f"Invalid value for 'tool_choice': function '{name[:100]}' is not one of the functions in 'tools'.",
            param="tool_choice",
            code="invalid_value",
        )


def _response_format(obj: Mapping[str, Any], messages: list[Any]) -> None:
    value = obj.get("response_format")
    if value is None:
        return
    rf = as_object(value, "response_format")
    kind = read_string(rf, "type", "response_format.type", required=True, nullable=False)
    kinds = ("text", "json_object", "json_schema")
    if kind not in kinds:
        raise invalid_value("response_format.type", kind, kinds)
    if kind == "json_object" and not any("json" in content_text(m.get("content")).lower() for m in messages):
        raise ApiError(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            param="messages",
        )
    if kind != "json_schema":
        return
    if "json_schema" not in rf:
        raise missing("response_format.json_schema")
    spec = as_object(rf["json_schema"], "response_format.json_schema")
    name = read_string(spec, "name", "response_format.json_schema.name", required=True, nullable=False)
    if not _NAME.fullmatch(name):
        raise ApiError(
            400,
            "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    read_string(spec, "description", "response_format.json_schema.description")
    strict = read_boolean(spec, "strict", "response_format.json_schema.strict")
    schema = spec.get("schema")
    if schema is None:
        return
    schema = as_object(schema, "response_format.json_schema.schema")
    problem = schema_problem(schema, strict is True)
    if problem is None and strict is True and schema.get("type") != "object":
        problem = f"schema must be a JSON Schema of 'type: \"object\"', got 'type: {json.dumps(schema.get('type'))}'."
    if problem:
        raise ApiError(400, f"Invalid schema for response_format '{name}': {problem}", param="response_format")


# --- embeddings -----------------------------------------------------------------------------------


def check_embeddings(body: Any) -> None:
    """Raise the ApiError OpenAI would answer to this embeddings request body, if any."""
    obj = request_object(body, EMBEDDING_PARAMS, "input")
    _input(obj["input"])
    fmt = read_string(obj, "encoding_format", "encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise invalid_value("encoding_format", fmt, ("float", "base64"))
    read_integer(obj, "dimensions", "dimensions", 1, EMBED_DIMENSIONS)
    read_string(obj, "user", "user")


def _bad_input(detail: str = "") -> ApiError:
    return ApiError(
        400,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
        + (f" ({detail})" if detail else ""),
        param="input",
    )


def _input(value: Any) -> None:
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list):
        if not value:
            raise _bad_input("empty array")
        if len(value) > _MAX_INPUTS:
            raise _bad_input(f"at most {_MAX_INPUTS} inputs")
        items = [value] if all(is_int(v) for v in value) else value
    else:
        raise invalid_type("input", "a string or an array", value)
    total = 0
    for k, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise _bad_input("empty string")
            tokens = count_tokens(item)
        elif isinstance(item, list) and item and all(is_int(t) for t in item):
            if any(t < 0 or t > _MAX_TOKEN_ID for t in item):
                raise _bad_input("token ids must be between 0 and 2147483647")
            tokens = len(item)
        else:
            raise _bad_input("every input must be a non-empty string or a non-empty array of token ids")
        if tokens > EMBED_INPUT_TOKENS:
            raise ApiError(
                400,
                f"This model's maximum context length is {EMBED_INPUT_TOKENS} tokens, however you requested "
                f"{tokens} tokens in input {k}. Please reduce your prompt.",
                param="input",
                code="context_length_exceeded",
            )
        total += tokens
        if total > EMBED_REQUEST_TOKENS:
            raise ApiError(
                400,
                f"Requested {total} tokens or more, max {EMBED_REQUEST_TOKENS} tokens per request: the tokens of all "
                "inputs together are too many. Please reduce the number or the length of the inputs.",
                param="input",
                code="max_tokens_per_request",
            )
