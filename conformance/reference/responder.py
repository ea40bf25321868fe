"""The reference "model": a deterministic, rule-based responder for chat requests.

What lives here: `ChatRequest` (the parts of a validated request the model reads), `Completion`
(what it produces per choice) and `respond()`, a pure function implementing the rule table of
docs/design.md ("Models and prompts the reference server answers"), then `stop`, `max_tokens`
and `n`. It answers the suite's prompts the way a capable real model would. What does not: HTTP,
validation, usage and the wire shape of responses (server.py, validation.py, render.py).

Rules, first match wins: tool calls (tools offered, tool_choice not none, last message not a tool
result), then text: tool result, vision (an image in the last user message: vision.py), system word, user word, name recall, count, echo, fallback; then
`response_format` turns the text into JSON (json_object) or a schema instance (json_schema).

The requests `respond()` refuses are those whose schema needs an instance too large to generate
(instances.TooComplex) or whose patterns spend the request's regex budget or will not be run
(patterns.PatternRefused); each is an ApiError naming the schema's param, like validation's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.reference import vision
from conformance.reference.errors import ApiError
from conformance.reference.instances import MISSING, Hint, TooComplex, instance_for
from conformance.reference.models import MAX_COMPLETION_TOKENS
from conformance.reference.patterns import PatternRefused
from conformance.reference.tokens import count_tokens, tokenize

__all__ = [
    "FALLBACK", "ChatRequest", "Completion", "Message", "Tool", "ToolCall", "content_text", "find_cities",
    "last_user_text", "respond",
]

FALLBACK = "Hello! How can I help you today?"

_WORD_RULE = re.compile(r"reply with only the word\s*[:\-]?\s*[\"'“‘*`]*([^\s\"'”’*`.,!?;:]+)", re.IGNORECASE)
_NAME_QUESTION = re.compile(r"what is my name", re.IGNORECASE)
_NAME_GIVEN = re.compile(r"my name is\s+([^\W\d_][\w'’\-]*)", re.IGNORECASE)
_COUNT = re.compile(r"count from\s+(-?\d{1,12})\s+to\s+(-?\d{1,12})\b", re.IGNORECASE)
_ECHO = re.compile(r"<<<(.*?)>>>", re.DOTALL)
_KEY_VALUE = re.compile(r"key\s+[\"'“]([^\"'”]+)[\"'”]\s+whose value is\s+[\"'“]([^\"'”]*)[\"'”]", re.IGNORECASE)
# The words are captured in a lookahead so "in Paris and in Tokyo" does not swallow "in Tokyo".
_CITY_AFTER = re.compile(r"(?:\b(?i:in|and)\b|,)\s+(?=([^\W\d_][\w'’\-]*(?:[ \t]+[^\W\d_][\w'’\-]*)*))")
_NOT_CITIES = frozenset(
    "I A An The It My Your Our Their This That These Those Both Each Then Also Please Call Use Reply "
    "Return Respond What How When Where Why Celsius Fahrenheit English French Spanish German Italian "
    "Japanese Chinese JSON".split()
)
_FUNCTION_WORDS = frozenset("and or the a an of to in with for is are its their my your".split())
_EXAMPLE = re.compile(r"\b(?:e\.g\.|for example|such as)[,:]?\s*[\"'“]?([^\"'”,;)\n]+?)[\"'”]?\s*(?:[,;)\n]|$)", re.IGNORECASE)
_COUNT_LIMIT = 1000


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON text, as on the wire


@dataclass(frozen=True)
class Message:
    role: str
    text: str  # string content, or the text parts joined with "\n"
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    images: tuple[str, ...] = ()  # URLs of its image parts


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: str = "none"  # "none" | "auto" | "required" | "named"
    named_tool: str | None = None
    parallel_tool_calls: bool = True
    response_format: str = "text"  # "text" | "json_object" | "json_schema"
    json_schema: Any = None
    n: int = 1
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ChatRequest:
        """The model's view of a request body the server has validated (quirks may have edited it)."""
        messages = tuple(_message(m) for m in body.get("messages") or [] if isinstance(m, Mapping))
        tools = tuple(
            Tool(t["function"]["name"], t["function"].get("parameters") or {})
            for t in body.get("tools") or []
            if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
        )
        choice = body.get("tool_choice")
        named = None
        if isinstance(choice, Mapping):
            named = (choice.get("function") or {}).get("name")
            choice = "named"
        elif choice not in ("none", "auto", "required"):
            choice = "auto" if tools else "none"
        declared = body.get("response_format")
        rf: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
        stop = body.get("stop")
        stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
        cap = body.get("max_completion_tokens")
        if cap is None:
            cap = body.get("max_tokens")
        return cls(
            messages=messages,
            tools=tools,
            tool_choice=choice,
            named_tool=named,
            parallel_tool_calls=body.get("parallel_tool_calls") is not False,
            response_format=rf.get("type") or "text",
            json_schema=(rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None,
            n=body.get("n") or 1,
            stop=stops,
            max_tokens=cap,
        )


@dataclass(frozen=True)
class Completion:
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"

    @property
    def tokens(self) -> int:
        """Completion tokens: the content plus each call's name and arguments."""
        calls = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in self.tool_calls)
        return count_tokens(self.content or "") + calls


def content_text(content: Any) -> str:
    """Message content as the model reads it: a string, or its text parts joined with newlines."""
    if isinstance(content, str):
        return content
    texts = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, Mapping) and part.get("type") in ("text", "refusal"):
            value = part.get(part["type"])
            if isinstance(value, str):
                texts.append(value)
    return "\n".join(texts)


def _message(m: Mapping[str, Any]) -> Message:
    calls = tuple(
        ToolCall(str(c.get("id", "")), str(c["function"].get("name", "")), str(c["function"].get("arguments", "")))
        for c in m.get("tool_calls") or []
        if isinstance(c, Mapping) and isinstance(c.get("function"), Mapping)
    )
    tool_call_id = m.get("tool_call_id")
    return Message(
        role=str(m.get("role", "")),
        text=content_text(m.get("content")),
        tool_call_id=tool_call_id if isinstance(tool_call_id, str) else None,
        tool_calls=calls,
        images=vision.image_urls(m.get("content")),
    )


# --- the rules -----------------------------------------------------------------------------


def respond(request: ChatRequest) -> list[Completion]:
    """One completion per choice (request.n), deterministic for a given request."""
    planned = _tool_plan(request)
    text = None if planned else _formatted(request, _text_answer(request))
    fingerprint = _fingerprint(request)
    calls = tuple(ToolCall(_call_id(fingerprint, 0, k), name, json.dumps(args, ensure_ascii=False)) for k, (name, args) in enumerate(planned))
    first = _limited(Completion(text, calls, "tool_calls" if calls else "stop"), request)
    out = [first]
    for index in range(1, max(request.n, 1)):  # the same answer; only the call ids differ
        ids = (replace(call, id=_call_id(fingerprint, index, k)) for k, call in enumerate(first.tool_calls))
        out.append(replace(first, tool_calls=tuple(ids)))
    return out


def last_user_text(request: ChatRequest) -> str:
    return next((m.text for m in reversed(request.messages) if m.role == "user"), "")


def _text_answer(request: ChatRequest) -> str:
    messages = request.messages
    if messages and messages[-1].role == "tool":
        return _tool_result_answer(messages)
    last = next((m for m in reversed(messages) if m.role == "user"), None)
    if last is not None and last.images:
        return vision.answer(last.text, last.images)
    for m in messages:
        if m.role in ("system", "developer") and (found := _WORD_RULE.search(m.text)):
            return found.group(1)
    user = last_user_text(request)
    if found := _WORD_RULE.search(user):
        return found.group(1)
    if _NAME_QUESTION.search(user):
        earlier = [m.text for m in messages[:-1] if m.role == "user"]
        for text in reversed(earlier):
            if found := _NAME_GIVEN.search(text):
                return found.group(1)
    if found := _COUNT.search(user):
        return _count(int(found.group(1)), int(found.group(2)))
    if found := _ECHO.search(user):
        return found.group(1)
    return FALLBACK


def _tool_result_answer(messages: Sequence[Message]) -> str:
    results: list[Message] = []
    for m in reversed(messages):
        if m.role != "tool":
            break
        results.insert(0, m)
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    groups: dict[str, list[str]] = {}
    for m in results:
        groups.setdefault(names.get(m.tool_call_id or "", "get_weather"), []).append(m.text)
    return " ".join(f"The {name} tool returned: {'; '.join(texts)}" for name, texts in groups.items())


def _count(start: int, end: int) -> str:
    step = 1 if end >= start else -1
    numbers = range(start, end + step, step)[:_COUNT_LIMIT]
    return " ".join(str(n) for n in numbers)


def _formatted(request: ChatRequest, text: str) -> str:
    if request.response_format == "json_object":
        pairs = {k: v for k, v in _KEY_VALUE.findall(_prompt_text(request))}
        return json.dumps(pairs or {"response": text}, ensure_ascii=False)
    if request.response_format == "json_schema":
        schema = request.json_schema if request.json_schema is not None else {}
        return json.dumps(_instance(schema, _prompt_hint(request), "response_format", "response_format", None), ensure_ascii=False)
    return text


def _prompt_text(request: ChatRequest) -> str:
    """What hints are read from: the last user message first, then the rest of the conversation."""
    user = last_user_text(request)
    rest = [m.text for m in request.messages if m.role in ("user", "system", "developer") and m.text != user]
    return "\n".join([user, *rest])


# --- tools ---------------------------------------------------------------------------------


def find_cities(text: str) -> list[str]:
    """Capitalised words after "in", "and" or a comma ("in Paris and in Tokyo" -> Paris, Tokyo)."""
    out: list[str] = []
    for found in _CITY_AFTER.finditer(text):
        words = []
        for word in found.group(1).split():
            if not word[0].isupper() or (len(word) > 1 and word.isupper()) or word in _NOT_CITIES:
                break
            words.append(word)
        city = " ".join(words)
        if city and city not in out:
            out.append(city)
    return out


def _city_property(tool: Tool) -> str | None:
    props = tool.parameters.get("properties") if isinstance(tool.parameters, Mapping) else None
    if not isinstance(props, Mapping):
        return None
    for key in ("city", "location"):
        sub = props.get(key)
        if isinstance(sub, Mapping) and (sub.get("type") == "string" or "string" in (sub.get("type") or [])):
            return key
    return None


def _tool_plan(request: ChatRequest) -> list[tuple[str, Any]]:
    """(function name, arguments object) for each call the model makes; [] for a text answer."""
    if not request.tools or request.tool_choice == "none":
        return []
    if request.messages and request.messages[-1].role == "tool":
        return []
    cities = find_cities(last_user_text(request))
    hint = _prompt_hint(request)
    if request.tool_choice == "named":
        tool = next((t for t in request.tools if t.name == request.named_tool), None)
        return [(tool.name, _arguments(request, tool, hint))] if tool else []
    calls: list[tuple[str, Any]] = []
    city_tool = next((t for t in request.tools if _city_property(t)), None)
    if city_tool is not None:
        for city in cities:
            calls.append((city_tool.name, _arguments(request, city_tool, _prompt_hint(request, city))))
    if not calls and request.tool_choice == "required":
        first = request.tools[0]
        calls.append((first.name, _arguments(request, first, hint)))
    return calls[:1] if not request.parallel_tool_calls else calls


def _arguments(request: ChatRequest, tool: Tool, hint: Hint) -> Any:
    index = next(k for k, t in enumerate(request.tools) if t is tool)
    param = f"tools[{index}].function.parameters"
    return _instance(tool.parameters, hint, param, f"function '{tool.name}'", "invalid_function_parameters")


def _instance(schema: Any, hint: Hint, param: str, what: str, code: str | None) -> Any:
    """An instance of a request's schema; a 400 naming `param` (as validation would) when it is too
    large, or when its patterns spend the regex budget."""
    try:
        return instance_for(schema, hint)
    except (TooComplex, PatternRefused) as exc:
        raise ApiError(400, f"Invalid schema for {what}: {exc}.", param=param, code=code) from None


def _fingerprint(request: ChatRequest) -> str:
    text = repr((request.messages, request.tools, request.tool_choice, request.named_tool))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _call_id(fingerprint: str, choice: int, k: int) -> str:
    """`call_` + 24 random-looking characters, fixed by the request, unique per call."""
    digest = int.from_bytes(hashlib.sha256(f"{fingerprint}:{choice}:{k}".encode()).digest(), "big")
    chars = []
    for _ in range(24):
        digest, r = divmod(digest, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[r])
    return "call_" + "".join(chars)


# --- hints: values the prompt gives for schema properties ------------------------------------


def _prompt_hint(request: ChatRequest, city: str | None = None) -> Hint:
    text = _prompt_text(request)
    folded = _folded(text)
    cities = [city] if city else find_cities(last_user_text(request)) or find_cities(text)

    def hint(name: str, schema: Mapping[str, Any]) -> Any:
        key = name.lower()
        if key in ("city", "location", "town", "place", "destination") and cities:
            return cities[0]
        if key in ("cities", "locations", "towns", "places") and cities:
            return list(cities)
        enum = schema.get("enum")
        if isinstance(enum, list):
            for value in enum:
                if not isinstance(value, str) or not value or not _may_occur(value, folded):
                    continue
                if re.search(rf"\b{re.escape(value)}\b", text, re.IGNORECASE):
                    return value
            return MISSING
        found = _value_near_name(name, schema, text, folded)
        if found is not MISSING:
            return found
        description = schema.get("description")
        if isinstance(description, str) and (example := _EXAMPLE.search(description)):
            return example.group(1).strip()
        return MISSING

    return hint


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    return {t for t in declared if isinstance(t, str)} if isinstance(declared, list) else set()


def _folded(text: str) -> str:
    """`text` for `_may_occur`: case-folded, with İ and ı as i (re's IGNORECASE matches them to i)."""
    return text.replace("İ", "i").replace("ı", "i").casefold()


def _may_occur(word: str, folded: str) -> bool:
    """False only when `word` cannot match anywhere in the text case-insensitively.

    A substring test first, because compiling a regex per property name is what made a schema of
    5000 properties take seconds. Exact for ASCII words: the only other characters re's IGNORECASE
    matches with ASCII letters (İ ı ſ K) fold to them in `folded`; other words are always tried.
    """
    return not word.isascii() or word.casefold() in folded


def _value_near_name(name: str, schema: Mapping[str, Any], text: str, folded: str) -> Any:
    parts = [part for part in re.split(r"[_\-\s]+", name) if part]
    if not parts:
        return MISSING
    label = r"\b(?i:" + r"[ _\-]?".join(re.escape(part) for part in parts) + r")\b"
    named = all(_may_occur(part, folded) for part in parts)

    def near(pattern: str) -> re.Match[str] | None:
        return re.search(label + pattern, text) if named else None

    types = _types(schema)
    quoted = near(r"\s*(?i:is|are|was|=|:|of|should be)?\s*[\"“']([^\"”'\n]{1,200})[\"”']")
    if quoted and (not types or "string" in types):
        return quoted.group(1)
    if types & {"integer", "number"}:
        found = near(r"\D{0,20}?(-?\d{1,15}(?:\.\d{1,15})?)")
        if found is None and "temp" in name.lower():
            found = re.search(r"(-?\d{1,15}(?:\.\d{1,15})?)\s*(?:degrees|°|deg\b)", text, re.IGNORECASE)
        if found:
            number = found.group(1)
            return float(number) if "." in number or "integer" not in types else int(number)
    if "string" in types or not types:
        found = near(r"\s*(?i:is|=|:)?\s+([A-Z][\w'’\-]*(?:[ \t]+[A-Z][\w'’\-]*)*|[\w'’\-]+)")
        if found and found.group(1).lower() not in _FUNCTION_WORDS:
            return found.group(1)
    return MISSING


# --- stop, max_tokens ----------------------------------------------------------------------


def _limited(completion: Completion, request: ChatRequest) -> Completion:
    content, finish = completion.content, completion.finish_reason
    if content is not None and request.stop:
        cuts = [content.find(s) for s in request.stop if s and s in content]
        if cuts:
            content, finish = content[: min(cuts)], "stop"
    cap = request.max_tokens if request.max_tokens is not None else MAX_COMPLETION_TOKENS  # the model's own limit
    if content is not None:
        pieces = tokenize(content)
        if len(pieces) > cap:
            return replace(completion, content="".join(pieces[:cap]), finish_reason="length")
        cap -= len(pieces)
    calls: list[ToolCall] = []
    for call in completion.tool_calls:
        cost = count_tokens(call.name) + count_tokens(call.arguments)
        if cost <= cap:
            calls.append(call)
            cap -= cost
            continue
        kept = "".join(tokenize(call.arguments)[: max(cap - count_tokens(call.name), 0)])
        calls.append(replace(call, arguments=kept))
        return replace(completion, content=content, tool_calls=tuple(calls), finish_reason="length")
    return replace(completion, content=content, finish_reason=finish)

