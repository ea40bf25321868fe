"""Request validation the way the OpenAI API does it: every bad request is a 400 naming the field.

What lives here: JSON body parsing and the checks of chat-completion and embeddings request
bodies (types, ranges, enums, required members, unknown parameters, message-sequence rules,
tool and response_format schemas), each failure an `ApiError` with OpenAI's message style and a
`param` path such as `messages[0].role`. Validation is complete on purpose: the server has no
catch-all that turns crashes into 4xx, so anything not rejected here must be safe to answer.
What does not: model lookup (server.py, since quirks may change it) or answering.

Hostile input is bounded here, before anything recurses over it or loops on it: a body nested
deeper than `MAX_JSON_DEPTH` is refused at parse time naming the member that holds the deep value
(json, copy.deepcopy and jsonschema all recurse; past ~1000 levels they raise RecursionError),
and every JSON Schema in a request must fit `SCHEMA_LIMITS` (depth, properties, enum values,
subschemas) before jsonschema looks at it, as OpenAI bounds Structured Outputs schemas, and each
of its patterns must be one the server will run (patterns.problem: length, nesting, repetition).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from conformance.reference.errors import ApiError
from conformance.reference import patterns
from conformance.reference.instances import MAX_DEPTH as GENERATOR_DEPTH
from conformance.reference.models import (
    CONTEXT_TOKENS,
    EMBED_DIMENSIONS,
    EMBED_INPUT_TOKENS,
    EMBED_REQUEST_TOKENS,
    MAX_COMPLETION_TOKENS,
)
from conformance.reference.responder import content_text
from conformance.reference.tokens import count_tokens

__all__ = ["MAX_JSON_DEPTH", "SCHEMA_LIMITS", "SchemaLimits", "check_chat", "check_embeddings", "parse_json", "prompt_tokens"]

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
# Arrays and objects nested in one request body (serde_json's default). Real requests stay far below;
# the schemas in them are bounded more tightly by SCHEMA_LIMITS.
MAX_JSON_DEPTH = 128
PARSE_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
    "have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
_ABSENT: Any = object()


# --- messages in OpenAI's words --------------------------------------------------------------


def describe(value: Any) -> str:
    """A JSON value's type the way OpenAI's errors name it ("an integer", "a decimal"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quote(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {describe(value)} instead.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def invalid_value(param: str, value: Any, allowed: tuple[str, ...]) -> ApiError:
    shown = value if isinstance(value, str) else json.dumps(value)
    return ApiError(
        400,
        f"Invalid value: '{shown[:200]}'. Supported values are: {_quote(allowed)}.",
        param=param,
        code="invalid_value",
    )


def unsupported(param: str, message: str | None = None) -> ApiError:
    return ApiError(
        400,
        message or f"Unsupported parameter: '{param}' is not supported with this model.",
        param=param,
        code="unsupported_parameter",
    )


# --- typed accessors ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _string(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False, nullable: bool = True) -> Any:
    value = obj.get(key, _ABSENT)
    if value is _ABSENT or (value is None and nullable and not required):
        if required:
            raise missing(path)
        return None
    if not isinstance(value, str):
        raise invalid_type(path, "a string", value)
    return value


def _boolean(obj: Mapping[str, Any], key: str, path: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid_type(path, "a boolean", value)
    return value


def _number(obj: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = obj.get(key)
    if value is None:
        return
    if not _is_number(value):
        raise invalid_type(key, "a decimal", value)
    if value < low:
        raise ApiError(
            400,
            f"Invalid '{key}': decimal below minimum value. Expected a value >= {low:g}, but got {_shown(value)} instead.",
            param=key,
            code="decimal_below_min_value",
        )
    if value > high:
        raise ApiError(
            400,
            f"Invalid '{key}': decimal above maximum value. Expected a value <= {high:g}, but got {_shown(value)} instead.",
            param=key,
            code="decimal_above_max_value",
        )


def _integer(obj: Mapping[str, Any], key: str, path: str, low: int | None, high: int | None) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise invalid_type(path, "an integer", value)
    if low is not None and value < low:
        raise ApiError(
            400,
            f"Invalid '{path}': integer below minimum value. Expected a value >= {low}, but got {_short(value)} instead.",
            param=path,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise ApiError(
            400,
            f"Invalid '{path}': integer above maximum value. Expected a value <= {high}, but got {_short(value)} instead.",
            param=path,
            code="integer_above_max_value",
        )
    return value


def _short(value: int) -> str:
    """An integer for a message; huge ones (up to the 4300 digits json accepts) abbreviated."""
    return str(value) if abs(value) < 10**30 else f"{'-' if value < 0 else ''}1e{len(str(abs(value))) - 1}"


def _shown(value: float) -> str:
    return _short(value) if isinstance(value, int) else repr(value)


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(path, "an object", value)
    return value


def _array(value: Any, path: str, low: int = 0, high: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(path, "an array", value)
    if len(value) < low:
        if not value:
            raise ApiError(
                400,
                f"Invalid '{path}': empty array. Expected an array with minimum length {low}, "
                "but got an empty array instead.",
                param=path,
                code="empty_array",
            )
        raise ApiError(400, f"Invalid '{path}': array too short.", param=path, code="array_below_min_length")
    if high is not None and len(value) > high:
        raise ApiError(
            400,
            f"Invalid '{path}': array too long. Expected an array with maximum length {high}, "
            f"but got an array with length {len(value)} instead.",
            param=path,
            code="array_above_max_length",
        )
    return value


# --- body --------------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one past the double range (1e400) is refused, not read as infinity,
    which could only be answered as `Infinity`, which is not JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def parse_json(raw: bytes, content_type: str | None) -> Any:
    """The JSON value of a request body; a 400 for a wrong content type, bad JSON or bad Unicode."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        shown = (content_type or "none")[:100]
        raise ApiError(
            400,
            f"Invalid Content-Type header ({shown}), expected application/json. {PARSE_MESSAGE}",
        )
    try:
        value = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:  # well-formed at least as deep as the limit, or it would have failed sooner
        raise _too_deep(raw) from None
    except (ValueError, UnicodeError):
        raise ApiError(400, PARSE_MESSAGE) from None
    if isinstance(value, list | dict) and _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise _too_deep(raw)
    try:
        # Lone surrogates ("\ud800") parse but cannot be answered in UTF-8: refuse them here.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise ApiError(400, PARSE_MESSAGE) from None
    return value


# --- nesting depth -----------------------------------------------------------------------------

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a *valid* JSON text (or a bound <= MAX_JSON_DEPTH on it).

    Counted at C speed and without recursion. Valid matters: strings are removed by a regex that is
    linear only when every string closes.
    """
    opened = raw.count(b"[") + raw.count(b"{")  # strings included: a bound, and the common answer
    if opened <= MAX_JSON_DEPTH:
        return opened
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _text(raw)))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def _deep_path(raw: bytes) -> list[str | int]:
    """The members leading to the first array or object nested deeper than MAX_JSON_DEPTH.

    A token scan that stops there, so it reads only the part json.loads already found well-formed.
    """
    path: list[str | int] = []  # per open container: the current key (object) or index (array)
    key: Any = None
    for token in _TOKEN.finditer(_text(raw)):
        t = token.group()
        if t in "[{":
            if len(path) == MAX_JSON_DEPTH:
                return path
            path.append(0 if t == "[" else "")
        elif t in "]}":
            path.pop()
        elif t == ",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
        elif t == ":":
            path[-1] = key
        else:
            try:
                key = json.loads(t, strict=False)
            except ValueError:  # an odd encoding json.loads detected: the raw token still names it
                key = t[1:-1]
    return path


def _dotted(path: list[str | int]) -> str:
    """`["tools", 0, "function"]` -> `tools[0].function`, OpenAI's way of naming a param."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{str(part)[:64]}" if out else str(part)[:64]
    return out


def _too_deep(raw: bytes) -> ApiError:
    """The 400 for a body nested past MAX_JSON_DEPTH, naming the schema or member that holds it."""
    path = _deep_path(raw)
    limit = f"nested more than {MAX_JSON_DEPTH} levels deep"
    if len(path) >= 4 and path[0] == "tools" and path[2:4] == ["function", "parameters"]:
        param = _dotted(path[:4])
        return ApiError(400, f"Invalid schema for '{param}': the schema is {limit}.", param=param, code="invalid_function_parameters")
    if len(path) >= 3 and path[:3] == ["response_format", "json_schema", "schema"]:
        return ApiError(400, f"Invalid schema for response_format: the schema is {limit}.", param="response_format")
    param = _dotted(path[:2]) if path and isinstance(path[0], str) else None  # no member: the body itself
    where = f"'{param}'" if param else "request body"
    return ApiError(400, f"Invalid {where}: the JSON value is {limit}.", param=param, code="invalid_value")


def _request_object(body: Any, known: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(
            400,
            f"Invalid request body: expected a JSON object, but got {describe(body)} instead.",
            code="invalid_type",
        )
    for key in body:
        if key not in known:
            raise ApiError(
                400, f"Unrecognized request argument supplied: {key[:100]}", param=key[:100], code="unknown_parameter"
            )
    return body


# --- chat ---------------------------------------------------------------------------------------


def check_chat(body: Any) -> None:
    """Raise the ApiError OpenAI would answer to this chat-completion request body, if any."""
    obj = _request_object(body, CHAT_PARAMS)
    _string(obj, "model", "model", required=True, nullable=False)
    if "messages" not in obj:
        raise missing("messages")
    messages = _array(obj["messages"], "messages", low=1)
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
    m = _object(value, path)
    role = m.get("role", _ABSENT)
    if role is _ABSENT:
        raise missing(f"{path}.role")
    if not isinstance(role, str):
        raise invalid_type(f"{path}.role", "a string", role)
    if role not in ROLES:
        raise invalid_value(f"{path}.role", role, ROLES)
    _string(m, "name", f"{path}.name")
    content = m.get("content", _ABSENT)
    if role == "assistant":
        calls = m.get("tool_calls")
        if calls is not None:
            for k, call in enumerate(_array(calls, f"{path}.tool_calls", low=1)):
                _assistant_call(call, f"{path}.tool_calls[{k}]")
        if m.get("function_call") is not None:
            fc = _object(m["function_call"], f"{path}.function_call")
            _string(fc, "name", f"{path}.function_call.name", required=True)
            _string(fc, "arguments", f"{path}.function_call.arguments", required=True)
        _string(m, "refusal", f"{path}.refusal")
        if content in (_ABSENT, None):
            if calls is None and m.get("function_call") is None:
                raise missing(f"{path}.content")
            return
    elif role == "function":
        _string(m, "name", f"{path}.name", required=True)
        if content in (_ABSENT, None):
            return
        if not isinstance(content, str):
            raise invalid_type(f"{path}.content", "a string", content)
        return
    elif role == "tool":
        _string(m, "tool_call_id", f"{path}.tool_call_id", required=True, nullable=False)
    if content is _ABSENT:
        raise missing(f"{path}.content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid_type(f"{path}.content", "a string or an array", content)
    for j, part in enumerate(_array(content, f"{path}.content", low=1)):
        _part(part, f"{path}.content[{j}]", PART_TYPES[role])


def _part(value: Any, path: str, allowed: tuple[str, ...]) -> None:
    part = _object(value, path)
    kind = _string(part, "type", f"{path}.type", required=True, nullable=False)
    if kind not in allowed:
        raise invalid_value(f"{path}.type", kind, allowed)
    if kind in ("text", "refusal"):
        _string(part, kind, f"{path}.{kind}", required=True, nullable=False)
    elif kind == "image_url":
        image = _object(part.get("image_url"), f"{path}.image_url")
        _string(image, "url", f"{path}.image_url.url", required=True, nullable=False)
        detail = _string(image, "detail", f"{path}.image_url.detail")
        if detail is not None and detail not in ("auto", "low", "high"):
            raise invalid_value(f"{path}.image_url.detail", detail, ("auto", "low", "high"))
    elif kind == "input_audio":
        audio = _object(part.get("input_audio"), f"{path}.input_audio")
        _string(audio, "data", f"{path}.input_audio.data", required=True, nullable=False)
        fmt = _string(audio, "format", f"{path}.input_audio.format", required=True, nullable=False)
        if fmt not in ("wav", "mp3"):
            raise invalid_value(f"{path}.input_audio.format", fmt, ("wav", "mp3"))
    else:
        _object(part.get("file"), f"{path}.file")


def _assistant_call(value: Any, path: str) -> None:
    call = _object(value, path)
    _string(call, "id", f"{path}.id", required=True, nullable=False)
    kind = _string(call, "type", f"{path}.type", required=True, nullable=False)
    if kind != "function":
        raise invalid_value(f"{path}.type", kind, ("function",))
    fn = _object(call.get("function"), f"{path}.function")
    _string(fn, "name", f"{path}.function.name", required=True, nullable=False)
    _string(fn, "arguments", f"{path}.function.arguments", required=True, nullable=False)


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
    _number(obj, "temperature", 0, 2)
    _number(obj, "top_p", 0, 1)
    _number(obj, "frequency_penalty", -2, 2)
    _number(obj, "presence_penalty", -2, 2)
    _integer(obj, "n", "n", 1, 128)
    _integer(obj, "seed", "seed", -_INT64, _INT64 - 1)
    for key in ("max_tokens", "max_completion_tokens"):
        value = _integer(obj, key, key, 1, None)
        if value is not None and value > MAX_COMPLETION_TOKENS:
            raise ApiError(
                400,
                f"{key} is too large: {_short(value)}. This model supports at most {MAX_COMPLETION_TOKENS} "
                f"completion tokens, whereas you provided {_short(value)}.",
                param=key,
                code="invalid_value",
            )
    logprobs = _boolean(obj, "logprobs", "logprobs")
    top = _integer(obj, "top_logprobs", "top_logprobs", 0, 20)
    if top is not None and logprobs is not True:
        raise ApiError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
            param="top_logprobs",
            code="invalid_value",
        )
    stop = obj.get("stop")
    if stop is not None and not isinstance(stop, str):
        for k, s in enumerate(_array(stop, "stop", low=1, high=4)):
            if not isinstance(s, str):
                raise invalid_type(f"stop[{k}]", "a string", s)
    bias = obj.get("logit_bias")
    if bias is not None:
        for token, weight in _object(bias, "logit_bias").items():
            if not token.isdigit() or len(token) > 9:
                raise ApiError(400, f"Invalid key in 'logit_bias': {token[:50]}.", param="logit_bias", code="invalid_value")
            if not _is_number(weight) or not -100 <= weight <= 100:
                raise ApiError(
                    400,
                    f"Invalid value for 'logit_bias': bias must be a number between -100 and 100, got {describe(weight)}.",
                    param=f"logit_bias.{token}",
                    code="invalid_value",
                )


def _streaming(obj: Mapping[str, Any]) -> None:
    stream = _boolean(obj, "stream", "stream")
    options = obj.get("stream_options")
    if options is None:
        return
    opts = _object(options, "stream_options")
    _boolean(opts, "include_usage", "stream_options.include_usage")
    _boolean(opts, "include_obfuscation", "stream_options.include_obfuscation")
    if stream is not True:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )


def _misc(obj: Mapping[str, Any]) -> None:
    for key in ("user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention"):
        _string(obj, key, key)
    for key in ("store", "parallel_tool_calls"):
        _boolean(obj, key, key)
    tier = _string(obj, "service_tier", "service_tier")
    if tier is not None and tier not in SERVICE_TIERS:
        raise invalid_value("service_tier", tier, SERVICE_TIERS)
    metadata = obj.get("metadata")
    if metadata is not None:
        meta = _object(metadata, "metadata")
        if len(meta) > 16:
            raise ApiError(400, "Invalid 'metadata': too many properties (at most 16).", param="metadata", code="invalid_value")
        for key, value in meta.items():
            if not isinstance(value, str):
                raise invalid_type(f"metadata.{key[:64]}", "a string", value)
    modalities = obj.get("modalities")
    if modalities is not None:
        for k, mode in enumerate(_array(modalities, "modalities")):
            if mode not in ("text", "audio"):
                raise invalid_value(f"modalities[{k}]", mode, ("text", "audio"))
            if mode == "audio":
                raise unsupported("modalities", "This model does not support the 'audio' modality.")
    for key in ("audio", "reasoning_effort", "verbosity", "web_search_options"):
        if obj.get(key) is not None:
            raise unsupported(key)
    for key in ("prediction", "moderation", "prompt_cache_options"):
        if obj.get(key) is not None:
            _object(obj[key], key)
    functions = obj.get("functions")
    if functions is not None:
        for k, fn in enumerate(_array(functions, "functions", low=1, high=128)):
            _string(_object(fn, f"functions[{k}]"), "name", f"functions[{k}].name", required=True, nullable=False)
    call = obj.get("function_call")
    if call is not None and not isinstance(call, str):
        _string(_object(call, "function_call"), "name", "function_call.name", required=True, nullable=False)
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
    for k, value in enumerate(_array(tools, "tools", low=1, high=128)):
        path = f"tools[{k}]"
        tool = _object(value, path)
        kind = _string(tool, "type", f"{path}.type", required=True, nullable=False)
        if kind != "function":
            raise invalid_value(f"{path}.type", kind, ("function",))
        fn = _object(tool.get("function"), f"{path}.function")
        name = _string(fn, "name", f"{path}.function.name", required=True, nullable=False)
        if not _NAME.fullmatch(name):
            raise ApiError(
                400,
                f"Invalid '{path}.function.name': string does not match pattern. Expected a string that matches "
                "the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                param=f"{path}.function.name",
                code="invalid_value",
            )
        _string(fn, "description", f"{path}.function.description")
        strict = _boolean(fn, "strict", f"{path}.function.strict")
        if fn.get("parameters") is not None:
            params = _object(fn["parameters"], f"{path}.function.parameters")
            problem = _schema_problem(params, strict is True)
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
    kind = _string(choice, "type", "tool_choice.type", required=True, nullable=False)
    if kind != "function":
        raise invalid_value("tool_choice.type", kind, ("function",))
    fn = _object(choice.get("function"), "tool_choice.function")
    name = _string(fn, "name", "tool_choice.function.name", required=True, nullable=False)
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
    rf = _object(value, "response_format")
    kind = _string(rf, "type", "response_format.type", required=True, nullable=False)
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
    spec = _object(rf["json_schema"], "response_format.json_schema")
    name = _string(spec, "name", "response_format.json_schema.name", required=True, nullable=False)
    if not _NAME.fullmatch(name):
        raise ApiError(
            400,
            "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
            param="response_format.json_schema.name",
            code="invalid_value",
        )
    _string(spec, "description", "response_format.json_schema.description")
    strict = _boolean(spec, "strict", "response_format.json_schema.strict")
    schema = spec.get("schema")
    if schema is None:
        return
    schema = _object(schema, "response_format.json_schema.schema")
    problem = _schema_problem(schema, strict is True)
    if problem is None and strict is True and schema.get("type") != "object":
        problem = f"schema must be a JSON Schema of 'type: \"object\"', got 'type: {json.dumps(schema.get('type'))}'."
    if problem:
        raise ApiError(400, f"Invalid schema for response_format '{name}': {problem}", param="response_format")


@dataclass(frozen=True)
class SchemaLimits:
    """How large a JSON Schema in a request may be, so checking it and answering it stay cheap.

    `properties` and `enum_values` are OpenAI's documented Structured Outputs limits (object
    properties and enum values in total). `depth` counts steps into subschemas (properties,
    items, anyOf...), as deep as the reference model generates instances; OpenAI documents 10 levels
    of object nesting for strict schemas, but this applies to every schema. `subschemas` bounds
    the rest (a schema of 100,000 `anyOf` branches has no properties at all).
    """

    depth: int = GENERATOR_DEPTH
    properties: int = 5000
    enum_values: int = 1000
    subschemas: int = 20_000


SCHEMA_LIMITS = SchemaLimits()
# Keywords whose value is a subschema, a list of them, or a map of names to them (draft 2020-12 + legacy).
_ONE_SUBSCHEMA = (
    "items", "additionalItems", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties",
)
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _subschemas(node: Mapping[str, Any], context: tuple[str, ...]) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Each subschema of a schema node with its context (the keywords and names leading to it)."""
    for key in _ONE_SUBSCHEMA:
        if isinstance(node.get(key), Mapping):
            yield node[key], (*context, key)
    for key in _SUBSCHEMA_LISTS:
        if isinstance(node.get(key), list):
            yield from ((sub, (*context, key, str(k))) for k, sub in enumerate(node[key]))
    for key in _SUBSCHEMA_MAPS:
        if isinstance(node.get(key), Mapping):
            yield from ((sub, (*context, key, name)) for name, sub in node[key].items())


def _size_problem(schema: Mapping[str, Any], limits: SchemaLimits = SCHEMA_LIMITS) -> str | None:
    """Why a schema is too large to accept (see SchemaLimits); a walk without recursion."""
    properties = enum_values = subschemas = 0
    stack: list[tuple[Any, tuple[str, ...], int]] = [(schema, (), 0)]
    while stack:
        node, context, depth = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if depth > limits.depth:
            return f"In context={context[:6]}..., the schema exceeds the maximum nesting depth of {limits.depth} levels."
        subschemas += 1
        if subschemas > limits.subschemas:
            return f"the schema has more than {limits.subschemas} subschemas in total."
        if isinstance(node.get("properties"), Mapping):
            properties += len(node["properties"])
            if properties > limits.properties:
                return f"the schema has more than {limits.properties} object properties in total."
        if isinstance(node.get("enum"), list):
            enum_values += len(node["enum"])
            if enum_values > limits.enum_values:
                return f"the schema has more than {limits.enum_values} enum values in total."
        stack += [(sub, where, depth + 1) for sub, where in _subschemas(node, context)]
    return None


def _pattern_problem(schema: Mapping[str, Any]) -> str | None:
    """Why a `pattern` or `patternProperties` name of the schema will not be run (patterns.problem).

    Checked before jsonschema's check_schema, which compiles each pattern with re: a 16 MB
    pattern would take it twenty seconds.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, context = stack.pop()
        if not isinstance(node, Mapping):
            continue
        named = node.get("patternProperties")
        found = [node.get("pattern"), *(named if isinstance(named, Mapping) else ())]
        for pattern in (p for p in found if isinstance(p, str)):
            problem = patterns.problem(pattern)
            if problem:
                return f"In context={context[:6]}, the pattern {patterns.shown(pattern)} {problem}."
        stack += _subschemas(node, context)
    return None


def _schema_problem(schema: Mapping[str, Any], strict: bool) -> str | None:
    """Why a JSON Schema is unusable (too large; not a valid schema; or, for strict mode, not closed)."""
    problem = _size_problem(schema) or _pattern_problem(schema)
    if problem:
        return problem
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:  # noqa: BLE001 - SchemaError, RecursionError...: the schema is invalid either way
        message = getattr(exc, "message", None) or type(exc).__name__
        return f"{str(message)[:300]}"
    return _strict_problem(schema) if strict else None


def _strict_problem(schema: Mapping[str, Any]) -> str | None:
    """Structured Outputs' rule: every object closes (additionalProperties false) and requires all keys."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, context = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False:
                return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
            declared, listed = node.get("properties"), node.get("required")
            props: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
            required: list[Any] = listed if isinstance(listed, list) else []
            absent = [k for k in props if k not in required]
            if absent:
                return (
                    f"In context={context}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{absent[0]}'."
                )
        stack += _subschemas(node, context)
    return None


# --- embeddings -----------------------------------------------------------------------------------


def check_embeddings(body: Any) -> None:
    """Raise the ApiError OpenAI would answer to this embeddings request body, if any."""
    obj = _request_object(body, EMBEDDING_PARAMS)
    _string(obj, "model", "model", required=True, nullable=False)
    if "input" not in obj:
        raise missing("input")
    _input(obj["input"])
    fmt = _string(obj, "encoding_format", "encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise invalid_value("encoding_format", fmt, ("float", "base64"))
    _integer(obj, "dimensions", "dimensions", 1, EMBED_DIMENSIONS)
    _string(obj, "user", "user")


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
        items = [value] if all(_is_int(v) for v in value) else value
    else:
        raise invalid_type("input", "a string or an array", value)
    total = 0
    for k, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise _bad_input("empty string")
            tokens = count_tokens(item)
        elif isinstance(item, list) and item and all(_is_int(t) for t in item):
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
