"""Quirks: named deviations a real provider has been seen to make, switchable on the reference server.

What lives here: the hook points the server calls (identity without quirks), one small named hook
per quirk registered with `@hook(point, name)`, `QuirkSet` (the active quirks, applied in the
order given) and `load_quirks()` (the data in quirks.yaml: kind, one-line description, where it
was seen, and the checks it must flip). What does not: the server plumbing that calls the hook
points (server.py) or the checks themselves.

Hook points, in the order a request meets them (each hook is `(value, ctx) -> value`):

    resolve_model       ModelCard | None for the requested id (ctx.kind: "chat" | "embeddings")
    auth_required       True -> False skips the API-key check
    chat_request        the validated request body (a copy; may raise ApiError)
    completions         list[Completion] from the responder
    chat_usage          the usage object (used by bodies and streams alike)
    chat_response       the non-streamed body dict
    chat_chunks         the list of chunk dicts of a stream
    sse_events          list of events, each a list of field lines ("data: {...}"), [DONE] last
    sse_bytes           the events as bytes, one item per event (line endings, blank lines)
    stream_headers      response headers of a stream
    stream_delays       seconds to wait before each sse_bytes item
    embeddings_request  the validated embeddings body (a copy; may raise ApiError)
    embedding_vectors   list of vectors (before encoding)
    embeddings_response the embeddings body dict
    models_list         GET /models body;  model_retrieve: GET /models/{id} body (may raise)
    error_reply         ErrorReply (status, body, headers) of every error response

The registry is filled once, at import, by the decorators below; nothing mutates it afterwards.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib.resources
import json
import random
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from conformance.reference import render
from conformance.reference.embeddings import to_base64
from conformance.reference.errors import ApiError, ErrorReply
from conformance.reference.models import ModelCard, default_model
from conformance.reference.responder import FALLBACK, ChatRequest, Completion, respond
from conformance.reference.tokens import count_tokens, tokenize

__all__ = ["HOOK_POINTS", "Context", "QuirkSet", "QuirkSpec", "UnknownQuirkError", "load_quirks"]

HOOK_POINTS = (
    "resolve_model", "auth_required", "chat_request", "completions", "chat_usage", "chat_response",
    "chat_chunks", "sse_events", "sse_bytes", "stream_headers", "stream_delays", "embeddings_request",
    "embedding_vectors", "embeddings_response", "models_list", "model_retrieve", "error_reply",
)
KINDS = ("benign", "deviation")

Hook = Callable[[Any, "Context"], Any]
_REGISTRY: dict[str, list[tuple[str, Hook]]] = {}


@dataclass(frozen=True)
class Context:
    """What a hook may read besides the value it transforms."""

    request: Mapping[str, Any] | None = None  # the request body the model saw (after chat_request hooks)
    usage: Mapping[str, Any] | None = None
    kind: str = ""  # "chat" | "embeddings" (resolve_model)


@dataclass(frozen=True)
class QuirkSpec:
    name: str
    kind: str  # benign | deviation
    description: str
    cite: str
    breaks: Mapping[str, str] = field(default_factory=dict)  # check id -> status it must get


class UnknownQuirkError(ValueError):
    pass


def hook(point: str, name: str) -> Callable[[Hook], Hook]:
    """Register `fn` as quirk `name`'s hook at `point` (a quirk may hook several points)."""
    if point not in HOOK_POINTS:
        raise ValueError(f"unknown hook point {point!r}")

    def register(fn: Hook) -> Hook:
        _REGISTRY.setdefault(name, []).append((point, fn))
        return fn

    return register


@functools.cache
def load_quirks() -> tuple[QuirkSpec, ...]:
    """The quirks of quirks.yaml, in file order."""
    text = importlib.resources.files(__package__).joinpath("quirks.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return tuple(
        QuirkSpec(q["name"], q["kind"], q["description"], q.get("cite") or "", dict(q.get("breaks") or {}))
        for q in data["quirks"]
    )


def registered_names() -> frozenset[str]:
    return frozenset(_REGISTRY)


class QuirkSet:
    """The active quirks; `apply(point, value, ctx)` runs their hooks at one point, in order."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = tuple(dict.fromkeys(names))
        known = [q.name for q in load_quirks()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UnknownQuirkError(f"unknown quirk(s) {', '.join(map(repr, unknown))}; valid quirks: {', '.join(known)}")
        self.names = names
        self._hooks = {p: [fn for n in names for (q, fn) in _REGISTRY.get(n, ()) if q == p] for p in HOOK_POINTS}

    def apply(self, point: str, value: Any, ctx: Context | None = None) -> Any:
        for fn in self._hooks[point]:
            value = fn(value, ctx or Context())
        return value

    def __bool__(self) -> bool:
        return bool(self.names)

    def __repr__(self) -> str:
        return f"QuirkSet({list(self.names)!r})"


# --- helpers -----------------------------------------------------------------------------------


def _bad_request(message: str, param: str | None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _messages(body: Mapping[str, Any]) -> list[Any]:
    return body.get("messages") or []


def _format(ctx: Context) -> str | None:
    rf = (ctx.request or {}).get("response_format")
    return rf.get("type") if isinstance(rf, Mapping) else None


def _include_usage(ctx: Context) -> bool:
    options = (ctx.request or {}).get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _entries(chunks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(chunk, choice entry) for every choice entry of every chunk."""
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                yield chunk, choice


def _deltas(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for _, choice in _entries(chunks):
        if isinstance(choice.get("delta"), dict):
            yield choice["delta"]


def _content_chunks(chunks: list[dict[str, Any]], index: int = 0) -> list[dict[str, Any]]:
    return [
        chunk
        for chunk, choice in _entries(chunks)
        if choice.get("index") == index and (choice.get("delta") or {}).get("content")
    ]


def _tool_deltas(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (call for _, _, call in _calls_by_choice(chunks))


def _argument_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chunks whose only tool-call content is an arguments piece (not the call's first delta)."""
    out = []
    for chunk in chunks:
        calls = [c for d in _deltas([chunk]) for c in d.get("tool_calls") or []]
        if calls and all("id" not in c and "arguments" in (c.get("function") or {}) for c in calls):
            out.append(chunk)
    return out


def _calls_by_choice(chunks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], tuple[Any, Any], dict[str, Any]]]:
    """(chunk, (choice index, call index), tool-call delta) for every tool-call delta."""
    for chunk, choice in _entries(chunks):
        for call in (choice.get("delta") or {}).get("tool_calls") or []:
            if isinstance(call, dict):
                yield chunk, (choice.get("index"), call.get("index")), call


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # arguments cut by max_tokens stay text
        return text


def _message_bodies(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for choice in body.get("choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            yield choice["message"]


def _data_events(events: list[list[str]]) -> list[int]:
    return [i for i, e in enumerate(events) if len(e) == 1 and e[0].startswith("data: {")]


def _message_of(body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return str(body["error"].get("message", ""))
    return json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body


# --- models --------------------------------------------------------------------------------------


@hook("models_list", "models_no_object")
def _models_no_object(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body.pop("object", None)
    return body


@hook("models_list", "models_unlisted")
def _models_unlisted(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body["data"] = [{"id": "some-other-model", "object": "model", "created": 1_700_000_000, "owned_by": "someone"}]
    return body


@hook("model_retrieve", "models_retrieve_404")
def _models_retrieve_404(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    raise ApiError(404, f"The model '{body.get('id')}' does not exist", code="model_not_found")


# --- chat: request ---------------------------------------------------------------------------------


@hook("chat_request", "ignore_system")
def _ignore_system(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body["messages"] = [m for m in _messages(body) if m.get("role") not in ("system", "developer")]
    return body


def _reject_role(body: dict[str, Any], role: str, supported: str) -> dict[str, Any]:
    """400 invalid_value naming the first message with `role`, the way OpenAI words it."""
    for i, m in enumerate(_messages(body)):
        if m.get("role") == role:
            raise _bad_request(
                f"Invalid value: '{role}'. Supported values are: {supported}.", f"messages[{i}].role", "invalid_value"
            )
    return body


@hook("chat_request", "reject_developer_role")
def _reject_developer_role(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return _reject_role(body, "developer", "'system', 'assistant', 'user', 'function', and 'tool'")


@hook("chat_request", "forget_history")
def _forget_history(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    messages = _messages(body)
    users = [m for m in messages if m.get("role") == "user"]
    body["messages"] = users[-1:] or messages[-1:]
    return body


# Parameters silently dropped before the model sees the request (point, quirk -> parameters).
_IGNORED: dict[tuple[str, str], tuple[str, ...]] = {
    ("chat_request", "ignore_max_tokens"): ("max_tokens", "max_completion_tokens"),
    ("chat_request", "ignore_stop"): ("stop",),
    ("chat_request", "ignore_n"): ("n",),
    ("chat_request", "ignore_logprobs"): ("logprobs", "top_logprobs"),
    ("chat_request", "tools_ignored"): ("tools", "tool_choice", "parallel_tool_calls"),
    ("chat_request", "tools_parallel_flag_ignored"): ("parallel_tool_calls",),
    ("chat_request", "usage_stream_ignored"): ("stream_options",),
    ("embeddings_request", "embeddings_base64_ignored"): ("encoding_format",),
    ("embeddings_request", "embeddings_ignore_dimensions"): ("dimensions",),
}
# Parameters refused with OpenAI's 400 unsupported_parameter wording (quirk -> parameter, advice).
_REFUSED: dict[str, tuple[str, str]] = {
    "reject_max_completion_tokens": ("max_completion_tokens", " Use 'max_tokens' instead."),
    "reject_seed": ("seed", ""),
    "reject_logprobs": ("logprobs", ""),
}


def _dropping(keys: tuple[str, ...]) -> Hook:
    def drop(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        for key in keys:
            body.pop(key, None)
        return body

    return drop


def _refusing(param: str, advice: str) -> Hook:
    def refuse(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        if body.get(param) is not None and body.get(param) is not False:  # logprobs: false asks for nothing
            raise _bad_request(
                f"Unsupported parameter: '{param}' is not supported with this model.{advice}", param, "unsupported_parameter"
            )
        return body

    return refuse


for (_point, _name), _keys in _IGNORED.items():
    hook(_point, _name)(_dropping(_keys))
for _name, (_param, _advice) in _REFUSED.items():
    hook("chat_request", _name)(_refusing(_param, _advice))

@hook("chat_request", "reject_content_parts")
def _reject_content_parts(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for i, m in enumerate(_messages(body)):
        if isinstance(m.get("content"), list):
            raise _bad_request(
                f"Invalid type for 'messages[{i}].content': expected a string, but got an array instead.",
                f"messages[{i}].content",
                "invalid_type",
            )
    return body


@hook("chat_request", "stringify_content_parts")
def _stringify_content_parts(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for m in _messages(body):
        if isinstance(m.get("content"), list):
            m["content"] = str(m["content"])  # the Python repr, as a careless str() does
    return body


@hook("chat_request", "tools_choice_none_ignored")
def _tools_choice_none_ignored(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if body.get("tool_choice") == "none":
        body["tool_choice"] = "auto"
    return body


@hook("chat_request", "tools_required_as_auto")
def _tools_required_as_auto(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if body.get("tool_choice") == "required":
        body["tool_choice"] = "auto"
    return body


@hook("chat_request", "tools_named_as_auto")
def _tools_named_as_auto(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if isinstance(body.get("tool_choice"), dict):
        body["tool_choice"] = "auto"
    return body


@hook("chat_request", "tools_reject_tool_role")
def _tools_reject_tool_role(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return _reject_role(body, "tool", "'system', 'assistant', and 'user'")


@hook("chat_request", "json_object_ignored")
def _json_object_ignored(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if (body.get("response_format") or {}).get("type") == "json_object":
        body.pop("response_format")
    return body


@hook("chat_request", "reject_json_schema")
def _reject_json_schema(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if (body.get("response_format") or {}).get("type") == "json_schema":
        raise _bad_request(
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
            "response_format",
        )
    return body


# --- chat: what the model produces -------------------------------------------------------------------


@hook("completions", "finish_reason_nonstandard")
def _finish_reason_nonstandard(completions: list[Completion], ctx: Context) -> list[Completion]:
    return [replace(c, finish_reason="eos") for c in completions]


_RUN_ON = " and so on"  # what a model that never emits its end-of-text token goes on writing
_CONTEXT_TOKENS = 512  # where an uncapped answer ends: the (small) context of such a model


@hook("completions", "never_stops")
def _never_stops(completions: list[Completion], ctx: Context) -> list[Completion]:
    """Every answer runs on past its end until the token cap cuts it (finish_reason "length").

    A stop sequence still ends an answer (that is the engine's doing, not the model's), and tool
    calls stay whole: an engine's tool-call parser drops whatever the model wrote after them.
    """
    request = ChatRequest.from_body(ctx.request or {})
    cap = request.max_tokens if request.max_tokens is not None else _CONTEXT_TOKENS
    unstopped = respond(replace(request, stop=(), max_tokens=None))

    def run_on(done: Completion, whole: Completion) -> Completion:
        if done.finish_reason == "length" or done.tool_calls:
            return replace(done, finish_reason="length")
        if done.content != whole.content and request.stop:
            return done  # a stop sequence ended it before the cap
        pieces = tokenize((done.content or "") + _RUN_ON * max(cap, 1))
        return replace(done, content="".join(pieces[:cap]), finish_reason="length")

    return [run_on(done, whole) for done, whole in zip(completions, unstopped)]


@hook("completions", "mangle_unicode")
def _mangle_unicode(completions: list[Completion], ctx: Context) -> list[Completion]:
    def ascii_only(text: str | None) -> str | None:
        return None if text is None else "".join(ch if ord(ch) < 128 else "?" for ch in text)

    return [replace(c, content=ascii_only(c.content)) for c in completions]


@hook("completions", "latin1_mojibake")
def _latin1_mojibake(completions: list[Completion], ctx: Context) -> list[Completion]:
    def mojibake(text: str | None) -> str | None:
        return None if text is None else text.encode("utf-8").decode("latin-1")

    return [replace(c, content=mojibake(c.content)) for c in completions]


@hook("completions", "tools_no_parallel")
def _tools_no_parallel(completions: list[Completion], ctx: Context) -> list[Completion]:
    return [replace(c, tool_calls=c.tool_calls[:1]) for c in completions]


@hook("completions", "tools_args_double_encoded")
def _tools_args_double_encoded(completions: list[Completion], ctx: Context) -> list[Completion]:
    return [
        replace(c, tool_calls=tuple(replace(t, arguments=json.dumps(t.arguments)) for t in c.tool_calls))
        for c in completions
    ]


@hook("completions", "tools_finish_stop")
def _tools_finish_stop(completions: list[Completion], ctx: Context) -> list[Completion]:
    return [replace(c, finish_reason="stop") if c.tool_calls else c for c in completions]


@hook("completions", "tools_duplicate_ids")
def _tools_duplicate_ids(completions: list[Completion], ctx: Context) -> list[Completion]:
    out = []
    for c in completions:
        shared = c.tool_calls[0].id if c.tool_calls else ""
        out.append(replace(c, tool_calls=tuple(replace(t, id=shared) for t in c.tool_calls)))
    return out


@hook("completions", "tools_empty_id")
def _tools_empty_id(completions: list[Completion], ctx: Context) -> list[Completion]:
    return [replace(c, tool_calls=tuple(replace(t, id="") for t in c.tool_calls)) for c in completions]


@hook("completions", "tools_ignore_result")
def _tools_ignore_result(completions: list[Completion], ctx: Context) -> list[Completion]:
    messages = _messages(ctx.request or {})
    if messages and messages[-1].get("role") == "tool":
        return [Completion(FALLBACK) for _ in completions]
    return completions


@hook("completions", "tools_invalid_args")
def _tools_invalid_args(completions: list[Completion], ctx: Context) -> list[Completion]:
    def broken(arguments: str) -> str:
        args = _json_or_text(arguments)
        args = args if isinstance(args, dict) else {}
        key = next((k for k, v in args.items() if isinstance(v, str)), "city")
        return json.dumps({**args, key: 12345})

    return [replace(c, tool_calls=tuple(replace(t, arguments=broken(t.arguments)) for t in c.tool_calls)) for c in completions]


@hook("completions", "json_schema_ignored")
def _json_schema_ignored(completions: list[Completion], ctx: Context) -> list[Completion]:
    if _format(ctx) != "json_schema":
        return completions
    return [replace(c, content=json.dumps({"response": FALLBACK, "format": "free"})) if c.content else c for c in completions]


@hook("completions", "json_fenced")
def _json_fenced(completions: list[Completion], ctx: Context) -> list[Completion]:
    if _format(ctx) not in ("json_object", "json_schema"):
        return completions
    return [replace(c, content=f"```json\n{c.content}\n```") if c.content else c for c in completions]


# --- chat: usage --------------------------------------------------------------------------------


@hook("chat_usage", "usage_total_wrong")
def _usage_total_wrong(use: dict[str, Any], ctx: Context) -> dict[str, Any]:
    use["total_tokens"] = use["prompt_tokens"] + use["completion_tokens"] + 7
    return use


@hook("chat_usage", "usage_prompt_constant")
def _usage_prompt_constant(use: dict[str, Any], ctx: Context) -> dict[str, Any]:
    use["prompt_tokens"] = 10
    use["total_tokens"] = 10 + use["completion_tokens"]
    return use


@hook("chat_usage", "usage_details_wrong")
def _usage_details_wrong(use: dict[str, Any], ctx: Context) -> dict[str, Any]:
    use["prompt_tokens_details"] = 5
    return use


@hook("chat_usage", "usage_float_tokens")
def _usage_float_tokens(use: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        use[key] = float(use[key])
    return use


@hook("chat_usage", "vendor_fields")
def _vendor_usage(use: dict[str, Any], ctx: Context) -> dict[str, Any]:
    use.update({"queue_time": 0.0125, "prompt_time": 0.002, "completion_time": 0.01, "total_time": 0.012})
    return use


# --- chat: non-streamed body ---------------------------------------------------------------------


@hook("chat_response", "chat_wrong_object")
def _chat_wrong_object(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body["object"] = "text_completion"
    return body


@hook("chat_response", "content_missing")
def _content_missing(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for message in _message_bodies(body):
        message.pop("content", None)
    return body


@hook("chat_response", "role_missing")
def _role_missing(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for message in _message_bodies(body):
        message.pop("role", None)
    return body


@hook("chat_response", "usage_missing")
def _usage_missing(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body.pop("usage", None)
    return body


@hook("chat_response", "tools_args_object")
def _tools_args_object(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for message in _message_bodies(body):
        for call in message.get("tool_calls") or []:
            call["function"]["arguments"] = _json_or_text(call["function"]["arguments"])
    return body


@hook("chat_response", "tools_type_missing")
def _tools_type_missing(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for message in _message_bodies(body):
        for call in message.get("tool_calls") or []:
            call.pop("type", None)
    return body


@hook("chat_response", "tool_content_empty_string")
def _tool_content_empty_string(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for message in _message_bodies(body):
        if message.get("tool_calls") and message.get("content") is None:
            message["content"] = ""
    return body


@hook("chat_response", "vendor_fields")
def _vendor_body(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body["x_groq"] = {"id": "req_ref_vendor"}
    body["provider"] = "ref"
    for choice in body.get("choices") or []:
        choice["extra"] = {"native_finish_reason": choice.get("finish_reason")}
    return body


@hook("chat_response", "no_system_fingerprint")
def _no_fingerprint_body(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body.pop("system_fingerprint", None)
    return body


@hook("chat_response", "logprobs_absent")
def _logprobs_absent_body(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for choice in body.get("choices") or []:
        if choice.get("logprobs") is None:
            choice.pop("logprobs", None)
    return body


@hook("chat_response", "refusal_absent")
def _refusal_absent_body(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for message in _message_bodies(body):
        message.pop("refusal", None)
    return body


# --- chat: stream chunks -----------------------------------------------------------------------------


@hook("chat_chunks", "stream_chunk_object")
def _stream_chunk_object(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for chunk in chunks:
        chunk["object"] = "chat.completion"
    return chunks


@hook("chat_chunks", "stream_inconsistent_ids")
def _stream_inconsistent_ids(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for n, chunk in enumerate(chunks):
        chunk["id"] = f"{chunk.get('id')}-{n}"
    return chunks


@hook("chat_chunks", "stream_no_role")
def _stream_no_role(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for delta in _deltas(chunks):
        delta.pop("role", None)
    return chunks


@hook("chat_chunks", "stream_finish_every_chunk")
def _stream_finish_every_chunk(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for _, choice in _entries(chunks):
        if choice.get("finish_reason") is None:
            choice["finish_reason"] = "stop"
    return chunks


@hook("chat_chunks", "stream_no_finish_reason")
def _stream_no_finish_reason(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for _, choice in _entries(chunks):
        choice["finish_reason"] = None
    return chunks


@hook("chat_chunks", "stream_cumulative_deltas")
def _stream_cumulative_deltas(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    so_far: dict[Any, str] = {}
    for _, choice in _entries(chunks):
        delta = choice.get("delta") or {}
        if delta.get("content"):
            so_far[choice.get("index")] = delta["content"] = so_far.get(choice.get("index"), "") + delta["content"]
    return chunks


@hook("chat_chunks", "stream_drop_chunk")
def _stream_drop_chunk(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    content = _content_chunks(chunks)
    return [c for c in chunks if c is not content[1]] if len(content) > 1 else chunks


@hook("chat_chunks", "stream_usage_unasked")
def _stream_usage_unasked(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    if _include_usage(ctx) or not chunks:
        return chunks
    head = {k: v for k, v in chunks[0].items() if k not in ("choices", "usage")}
    return [*chunks, {**head, "choices": [], "usage": dict(ctx.usage or {})}]


@hook("chat_chunks", "usage_stream_in_choices")
def _usage_stream_in_choices(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for chunk in chunks:
        if chunk.get("choices") == [] and chunk.get("usage"):
            chunk["choices"] = [{"index": 0, "delta": {}}]
    return chunks


@hook("chat_chunks", "usage_stream_every_chunk")
def _usage_stream_every_chunk(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    if not _include_usage(ctx):
        return chunks
    prompt = int((ctx.usage or {}).get("prompt_tokens", 0))
    generated = 0
    for chunk in chunks:
        if chunk.get("usage") is not None:
            continue
        for delta in _deltas([chunk]):
            pieces = [delta.get("content") or ""]
            pieces += [(c.get("function") or {}).get("arguments") or "" for c in delta.get("tool_calls") or []]
            generated += sum(count_tokens(p) for p in pieces if isinstance(p, str))
        chunk["usage"] = render.usage(prompt, generated)
    return chunks


@hook("chat_chunks", "one_char_deltas")
def _one_char_deltas(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    out = []
    for chunk in chunks:
        choices = chunk.get("choices") or []
        text = choices[0].get("delta", {}).get("content") if len(choices) == 1 else None
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
def _single_chunk(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    first: dict[Any, dict[str, Any]] = {}
    out = []
    for chunk in chunks:
        choices = chunk.get("choices") or []
        choice = choices[0] if len(choices) == 1 else None
        if choice is None or not choice.get("delta", {}).get("content"):
            out.append(chunk)
            continue
        keep = first.get(choice.get("index"))
        if keep is None:
            first[choice.get("index")] = choice
            out.append(chunk)
            continue
        keep["delta"]["content"] += choice["delta"]["content"]
        if isinstance(keep.get("logprobs"), dict) and isinstance(choice.get("logprobs"), dict):
            keep["logprobs"]["content"] += choice["logprobs"]["content"]
    return out


@hook("chat_chunks", "tools_args_object")
def _tools_args_object_stream(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    pieces = _argument_chunks(chunks)
    full: dict[tuple[Any, Any], str] = {}
    for _, key, call in _calls_by_choice(pieces):
        full[key] = full.get(key, "") + call["function"]["arguments"]
    for _, key, call in _calls_by_choice(chunks):
        if "id" in call:
            call["function"]["arguments"] = _json_or_text(full.get(key, "") or "{}")
    return [c for c in chunks if not any(c is p for p in pieces)]


@hook("chat_chunks", "tools_type_missing")
def _tools_type_missing_stream(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for call in _tool_deltas(chunks):
        call.pop("type", None)
    return chunks


@hook("chat_chunks", "tools_stream_no_index")
def _tools_stream_no_index(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for call in _tool_deltas(chunks):
        call.pop("index", None)
    return chunks


@hook("chat_chunks", "tools_stream_id_every_delta_changing")
def _tools_stream_id_every_delta_changing(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for n, call in enumerate(_tool_deltas(chunks)):
        call["id"] = f"call_{n:04d}{(call.get('id') or 'x')[-20:]}"
    return chunks


@hook("chat_chunks", "tools_stream_name_fragments")
def _tools_stream_name_fragments(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    out = []
    for chunk in chunks:
        out.append(chunk)
        for call in [c for c in _tool_deltas([chunk]) if "id" in c and "name" in (c.get("function") or {})]:
            name = call["function"].pop("name")
            cut = name.find("_") + 1 or max(len(name) // 2, 1)
            for piece in (name[:cut], name[cut:]):
                if piece:
                    extra = copy.deepcopy(chunk)
                    extra["choices"][0]["delta"] = {"tool_calls": [{"index": call.get("index"), "function": {"name": piece}}]}
                    out.append(extra)
    return out


@hook("chat_chunks", "tools_args_single_piece")
def _tools_args_single_piece(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    keep: dict[tuple[Any, Any], dict[str, Any]] = {}
    dropped = []
    for chunk, key, call in _calls_by_choice(_argument_chunks(chunks)):
        if key not in keep:
            keep[key] = call
        else:
            keep[key]["function"]["arguments"] += call["function"]["arguments"]
            dropped.append(chunk)
    return [c for c in chunks if not any(c is d for d in dropped)]


@hook("chat_chunks", "tool_content_empty_string")
def _tool_content_empty_string_stream(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for delta in _deltas(chunks):
        if "role" in delta and delta.get("content") is None:
            delta["content"] = ""
    return chunks


@hook("chat_chunks", "vendor_fields")
def _vendor_chunks(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for chunk in chunks:
        chunk["x_groq"] = {"id": "req_ref_vendor"}
        chunk["provider"] = "ref"
        for choice in chunk.get("choices") or []:
            choice["extra"] = {}
    return chunks


@hook("chat_chunks", "no_system_fingerprint")
def _no_fingerprint_chunks(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for chunk in chunks:
        chunk.pop("system_fingerprint", None)
    return chunks


@hook("chat_chunks", "logprobs_absent")
def _logprobs_absent_chunks(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for _, choice in _entries(chunks):
        if choice.get("logprobs") is None:
            choice.pop("logprobs", None)
    return chunks


@hook("chat_chunks", "refusal_absent")
def _refusal_absent_chunks(chunks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    for delta in _deltas(chunks):
        delta.pop("refusal", None)
    return chunks


# --- SSE: events (field lines) --------------------------------------------------------------------


@hook("sse_events", "stream_no_done")
def _stream_no_done(events: list[list[str]], ctx: Context) -> list[list[str]]:
    return [e for e in events if e != [render.DONE]]


@hook("sse_events", "stream_data_after_done")
def _stream_data_after_done(events: list[list[str]], ctx: Context) -> list[list[str]]:
    data = _data_events(events)
    return [*events, list(events[data[-1]])] if data else events


@hook("sse_events", "stream_invalid_json")
def _stream_invalid_json(events: list[list[str]], ctx: Context) -> list[list[str]]:
    data = _data_events(events)
    if data:
        k = data[len(data) // 2]
        events[k] = [events[k][0][: len(events[k][0]) // 2]]
    return events


@hook("sse_events", "stream_empty_data_event")
def _stream_empty_data_event(events: list[list[str]], ctx: Context) -> list[list[str]]:
    return [*events[: len(events) // 2], ["data: "], *events[len(events) // 2 :]]


@hook("sse_events", "stream_keepalive_in_data")
def _stream_keepalive_in_data(events: list[list[str]], ctx: Context) -> list[list[str]]:
    return [*events[: len(events) // 2], ["data: : keepalive"], *events[len(events) // 2 :]]


@hook("sse_events", "stream_error_event")
def _stream_error_event(events: list[list[str]], ctx: Context) -> list[list[str]]:
    error = {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                       "type": "server_error", "param": None, "code": None}}
    return [*events[:3], ["data: " + json.dumps(error)]]


@hook("sse_events", "sse_comments")
def _sse_comments(events: list[list[str]], ctx: Context) -> list[list[str]]:
    out = [[": OPENROUTER PROCESSING"]]
    for k, event in enumerate(events):
        if k:
            out.append([": keepalive"])
        out.append(event)
    return out


@hook("sse_events", "sse_no_space")
def _sse_no_space(events: list[list[str]], ctx: Context) -> list[list[str]]:
    return [[("data:" + line[6:]) if line.startswith("data: ") else line for line in e] for e in events]


@hook("sse_events", "sse_multiline_data")
def _sse_multiline_data(events: list[list[str]], ctx: Context) -> list[list[str]]:
    out = []
    for event in events:
        lines = []
        for line in event:
            if line.startswith("data: {"):
                pretty = json.dumps(json.loads(line[6:]), ensure_ascii=False, indent=1)
                lines += ["data: " + part for part in pretty.split("\n")]
            else:
                lines.append(line)
        out.append(lines)
    return out


@hook("sse_events", "sse_id_retry")
def _sse_id_retry(events: list[list[str]], ctx: Context) -> list[list[str]]:
    out = [[f"id: {n}", *event] for n, event in enumerate(events)]
    if out:
        out[0] = ["retry: 3000", *out[0]]
    return out


# --- SSE: bytes (line endings and blank lines) ----------------------------------------------------------


@hook("sse_bytes", "sse_crlf")
def _sse_crlf(frames: list[bytes], ctx: Context) -> list[bytes]:
    return [f.replace(b"\n", b"\r\n") for f in frames]


@hook("sse_bytes", "sse_cr")
def _sse_cr(frames: list[bytes], ctx: Context) -> list[bytes]:
    return [f.replace(b"\n", b"\r") for f in frames]


_DOUBLE_EOL = re.compile(rb"(\r\n|\r|\n)\1\Z")


@hook("sse_bytes", "stream_single_newline")
def _stream_single_newline(frames: list[bytes], ctx: Context) -> list[bytes]:
    return [_DOUBLE_EOL.sub(rb"\1", f) for f in frames]


@hook("sse_bytes", "stream_no_trailing_blank_line")
def _stream_no_trailing_blank_line(frames: list[bytes], ctx: Context) -> list[bytes]:
    return [*frames[:-1], _DOUBLE_EOL.sub(rb"\1", frames[-1])] if frames else frames


@hook("stream_headers", "stream_content_type_json")
def _stream_content_type_json(headers: dict[str, str], ctx: Context) -> dict[str, str]:
    headers["content-type"] = "application/json"
    return headers


@hook("stream_delays", "slow_first_token")
def _slow_first_token(delays: list[float], ctx: Context) -> list[float]:
    return [delays[0] + 0.3, *delays[1:]] if delays else delays


# --- embeddings -------------------------------------------------------------------------------------


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, int | list) for v in value)


@hook("embeddings_request", "embeddings_reject_dimensions")
def _embeddings_reject_dimensions(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if body.get("dimensions") is not None:
        raise _bad_request("This model does not support specifying dimensions.", "dimensions")
    return body


@hook("embeddings_request", "embeddings_reject_tokens")
def _embeddings_reject_tokens(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    value = body.get("input")
    if isinstance(value, list) and _is_tokens(value):
        detail = [
            {"type": "string_type", "loc": ["body", "input", "list[constrained-str]", k], "msg": "Input should be a valid string", "input": item}
            for k, item in enumerate(value[:8])
        ]
        raise ApiError(422, "Input should be a valid string", body={"detail": detail})
    return body


# Its own entropy source: the global `random` is reseeded by Hypothesis while a fuzz check runs in
# the same process, which would make this "noise" repeat exactly.
_NOISE = random.SystemRandom()


@hook("embedding_vectors", "embeddings_nondeterministic")
def _embeddings_nondeterministic(vectors: list[list[float]], ctx: Context) -> list[list[float]]:
    noisy = []
    for vec in vectors:
        moved = [x + _NOISE.uniform(-0.05, 0.05) for x in vec]
        norm = sum(x * x for x in moved) ** 0.5 or 1.0
        noisy.append([x / norm for x in moved])
    return noisy


@hook("embedding_vectors", "embeddings_random")
def _embeddings_random(vectors: list[list[float]], ctx: Context) -> list[list[float]]:
    value = (ctx.request or {}).get("input")
    inputs = [value] if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], int)) else value
    out = []
    for vec, item in zip(vectors, inputs or []):
        rng = random.Random(json.dumps(item))  # seeded by the whole input: deterministic, no semantics
        moved = [rng.gauss(0, 1) for _ in vec]
        norm = sum(x * x for x in moved) ** 0.5 or 1.0
        out.append([x / norm for x in moved])
    return out or vectors


@hook("embeddings_response", "embeddings_reversed")
def _embeddings_reversed(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body["data"] = list(reversed(body["data"]))
    for index, item in enumerate(body["data"]):
        item["index"] = index
    return body


@hook("embeddings_response", "embeddings_base64_float64")
def _embeddings_base64_float64(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for item in body["data"]:
        if isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"])
            floats = [v for (v,) in struct.iter_unpack("<f", raw)]
            item["embedding"] = to_base64(floats, "d")
    return body


@hook("embeddings_response", "embeddings_nested")
def _embeddings_nested(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for item in body["data"]:
        if isinstance(item.get("embedding"), list):
            item["embedding"] = [item["embedding"]]
    return body


@hook("embeddings_response", "embeddings_no_index")
def _embeddings_no_index(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for item in body["data"]:
        item.pop("index", None)
    return body


@hook("embeddings_response", "embeddings_no_usage")
def _embeddings_no_usage(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body.pop("usage", None)
    return body


@hook("embeddings_response", "vendor_fields")
def _vendor_embeddings(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body["provider"] = "ref"
    body["usage"] = {**body.get("usage", {}), "queue_time": 0.001}
    return body


@hook("models_list", "vendor_fields")
def _vendor_models(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    for model in body.get("data") or []:
        model["active"] = True
        model["context_window"] = 131072
    return body


# --- errors ---------------------------------------------------------------------------------------


@hook("auth_required", "auth_ignored")
def _auth_ignored(required: bool, ctx: Context) -> bool:
    return False


@hook("resolve_model", "unknown_model_200")
def _unknown_model_200(card: ModelCard | None, ctx: Context) -> ModelCard | None:
    return card if card is not None else default_model(ctx.kind)


@hook("error_reply", "auth_500")
def _auth_500(reply: ErrorReply, ctx: Context) -> ErrorReply:
    return replace(reply, status=500) if reply.status == 401 else reply


@hook("error_reply", "unknown_model_400")
def _unknown_model_400(reply: ErrorReply, ctx: Context) -> ErrorReply:
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    if reply.status == 404 and isinstance(error, dict) and error.get("code") == "model_not_found":
        return replace(reply, status=400)
    return reply


@hook("error_reply", "errors_detail_shape")
def _errors_detail_shape(reply: ErrorReply, ctx: Context) -> ErrorReply:
    return replace(reply, body={"detail": _message_of(reply.body)})


@hook("error_reply", "errors_string")
def _errors_string(reply: ErrorReply, ctx: Context) -> ErrorReply:
    return replace(reply, body={"error": _message_of(reply.body)})


@hook("error_reply", "bad_request_500")
def _bad_request_500(reply: ErrorReply, ctx: Context) -> ErrorReply:
    return replace(reply, status=500) if reply.status == 400 else reply


@hook("error_reply", "bad_request_422")
def _bad_request_422(reply: ErrorReply, ctx: Context) -> ErrorReply:
    return replace(reply, status=422) if reply.status == 400 else reply


@hook("error_reply", "bad_request_no_param")
def _bad_request_no_param(reply: ErrorReply, ctx: Context) -> ErrorReply:
    if reply.status == 400 and isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict):
        return replace(reply, body={"error": {**reply.body["error"], "param": None}})
    return reply


@hook("error_reply", "stream_error_200")
def _stream_error_200(reply: ErrorReply, ctx: Context) -> ErrorReply:
    if reply.status >= 400 and (ctx.request or {}).get("stream") is True:
        raw = b"data: " + render.dumps(reply.body) + b"\n\n"
        return replace(reply, status=200, raw=raw, media_type="text/event-stream; charset=utf-8")
    return reply


@hook("error_reply", "errors_with_200")
def _errors_with_200(reply: ErrorReply, ctx: Context) -> ErrorReply:
    return replace(reply, status=200) if reply.status >= 400 else reply


@hook("error_reply", "error_extra_fields")
def _error_extra_fields(reply: ErrorReply, ctx: Context) -> ErrorReply:
    if isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict):
        extra = {"request_id": "req_ref_error", "status": reply.status, "metadata": {"provider_name": "ref"}}
        return replace(reply, body={**reply.body, "error": {**reply.body["error"], **extra}})
    return reply

