"""Helpers shared by the checks: turning an exchange into a usable body or a verdict.

The rules here are the suite's general ones, so that every check applies them the same way:
- no response / timeout / 429 after retries / 502-504 / a 2xx body that broke off  -> `error`
  (no verdict reached);
- a clean 4xx with an OpenAI-shaped error body for an optional feature -> `unsupported`;
- any other non-2xx for a valid request -> `fail`;
- a 2xx body that is not a JSON object, or is an error body -> `fail`;
- a stream that reports an error mid-way (OpenAI's own way) -> `error` with the evidence;
- an answer the token cap cut (finish_reason "length") cannot be failed for what it lacks or
  for how it ends: `judged_unless_capped` turns such a failure into `error` "token cap reached"
  (a model that never stops, a tiny random-weight model, a verbose reasoning model). Only the
  checks whose subject is the cap (chat.max_tokens, chat.max_completion_tokens) judge cut answers.
Behaviour checks read bodies leniently, the way a tolerant client would; schema strictness
belongs to the wire checks that own each shape.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conformance.chat_stream import ChatStream
from conformance.checks.base import Fail, NoVerdict, Unsupported
from conformance.schemas import SchemaError, validate
from conformance.transport import NOT_JSON, Exchange

UNAVAILABLE = frozenset({502, 503, 504})


def excerpt(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def is_openai_error(body: Any) -> bool:
    """An error body clients can read: {"error": {"message": str, ...}}."""
    return not [e for e in validate("error", body) if e.severity == "must"]


def error_message(ex: Exchange) -> str:
    body = ex.json_body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:200]
    return excerpt(ex.text, 200)


def _status_verdict(ex: Exchange, optional: bool, what: str) -> None:
    """Raise the verdict for an exchange that did not produce a usable 2xx response."""
    if ex.status is None:
        raise NoVerdict(f"no response from the provider: {ex.error}")
    if ex.error and ("timeout" in ex.error or "not finished" in ex.error):
        raise NoVerdict(f"the response did not finish: {ex.error}")
    if ex.status == 429:
        raise NoVerdict(f"rate limited (429) after {ex.retries} retries: {error_message(ex)}")
    if ex.status in UNAVAILABLE:
        raise NoVerdict(f"provider unavailable ({ex.status}) after {ex.retries} retries: {error_message(ex)}")
    if 400 <= ex.status < 500:
        if optional:
            if is_openai_error(ex.json_body):
                raise Unsupported(f"{what} refused cleanly: {ex.status} {error_message(ex)}")
            raise Fail(
                f"{what} refused with {ex.status}, but the error body is not OpenAI-shaped "
                f"({excerpt(ex.text)}), so clients cannot tell a refusal from a failure"
            )
        raise Fail(f"a valid request was rejected: received {ex.status} {error_message(ex)}; expected 200")
    if ex.status >= 500:
        raise Fail(f"server error on a valid request: received {ex.status} {error_message(ex)}")
    if not 200 <= ex.status < 300:
        raise Fail(f"unexpected status {ex.status} for a valid request")
    if ex.error and not ex.truncated:  # e.g. the connection closed mid-body: what arrived is not the answer
        raise NoVerdict(f"the {ex.status} response broke off before it was complete: {ex.error}")


def require_json(ex: Exchange, *, optional: bool = False, what: str = "the request") -> dict[str, Any]:
    """The 2xx JSON object body of an exchange, or the verdict why there is none."""
    if ex.status is None or not 200 <= ex.status < 300 or ex.error:
        _status_verdict(ex, optional, what)
    if ex.truncated:
        raise Fail(f"response body too large: {ex.error}")
    body = ex.json_body
    if body is NOT_JSON:
        raise Fail(f"the {ex.status} response body is not JSON: {excerpt(ex.text)!r}")
    if not isinstance(body, dict):
        raise Fail(f"the response body is JSON {type(body).__name__}, expected an object: {excerpt(body)}")
    if "error" in body and "choices" not in body and "data" not in body:
        raise Fail(f"HTTP {ex.status} with an error body: {excerpt(body)}")
    return body


def require_stream(ex: Exchange, *, optional: bool = False, what: str = "the streamed request") -> ChatStream:
    """The decoded chat stream of a 2xx exchange; a mid-stream error event is `error`, not `fail`."""
    if ex.status is None or not 200 <= ex.status < 300 or (ex.error and not ex.truncated):
        _status_verdict(ex, optional, what)
    if ex.truncated:
        if "not finished" in (ex.error or ""):
            raise Fail(f"the stream never ended: {ex.error}")
        raise Fail(f"the stream is too large: {ex.error}")
    stream = ex.stream
    if stream.error_event is not None:
        raise NoVerdict(f"the provider reported an error mid-stream: {excerpt(stream.error_event, 300)}")
    return stream


def first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Fail(f"no choices in the response: received choices={excerpt(choices)}")
    return choices[0]


def message_of(body: dict[str, Any]) -> dict[str, Any]:
    message = first_choice(body).get("message")
    if not isinstance(message, dict):
        raise Fail(f"choices[0].message is not an object: {excerpt(message)}")
    return message


def text_of(content: Any) -> str:
    """Message content as text, tolerating the array-of-parts form."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def answer_text(body: dict[str, Any]) -> str:
    """The text of choices[0], failing with "token cap too low" where a capped answer is empty."""
    choice = first_choice(body)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    if "content" not in message and not message.get("tool_calls"):
        raise Fail(f"choices[0].message has no content: received {excerpt(message)}")
    text = text_of(message.get("content"))
    if not text.strip() and choice.get("finish_reason") == "length":
        raise NoVerdict(
            "token cap too low: the answer is empty with finish_reason 'length' "
            "(a reasoning model spends hidden tokens first; raise token_cap for this model)"
        )
    return text


def stream_answer(stream: ChatStream) -> str:
    text = stream.text(0)
    if not text.strip():
        finishes = [c.get("finish_reason") for ch in stream.chunks for c in (ch.get("choices") or []) if isinstance(c, dict)]
        if "length" in finishes:
            raise NoVerdict("token cap too low: the streamed answer is empty with finish_reason 'length'")
    return text


CAP_PARAMS = ("max_completion_tokens", "max_tokens")


def request_cap(ex: Exchange) -> tuple[str, int] | None:
    """The token cap the suite sent with this request, as (parameter, value), or None."""
    body = ex.request_body if isinstance(ex.request_body, dict) else {}
    for param in CAP_PARAMS:
        if type(body.get(param)) is int:
            return param, body[param]
    return None


def _completion_tokens(usage: Any) -> int | None:
    value = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return value if type(value) is int else None


def cut_at_cap(ex: Exchange) -> bool:
    """True when the answer of `ex` (choice 0) ended at the token cap, not where the model ended it:
    finish_reason "length", or (a stream with no finish_reason) usage reaching the cap sent."""
    if not ex.ok:
        return False
    cap = request_cap(ex)
    if ex.stream_requested:
        stream = ex.stream
        finishes = [c.get("finish_reason") for c in _first_choice_entries(stream.chunks)]
        if "length" in finishes:
            return True
        used = [_completion_tokens(c.get("usage")) for c in stream.usage_chunks()]
        return not any(finishes) and cap is not None and any(u is not None and u >= cap[1] for u in used)
    body = ex.json_body
    if not isinstance(body, dict):
        return False
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    return choice.get("finish_reason") == "length"


def _first_choice_entries(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                yield choice


def cap_reached(ex: Exchange, what: str, instead: str) -> NoVerdict:
    """The `error` for an answer the token cap cut: `instead` is the failure it would otherwise be."""
    cap = request_cap(ex)
    sent = f"{cap[0]}={cap[1]}" if cap else "the provider's own limit"
    return NoVerdict(
        f"token cap reached: {what} was cut at {sent} (finish_reason 'length'), so it cannot be judged "
        f"(raise token_cap for this model); judged as cut it would be: {excerpt(instead, 240)}"
    )


@contextmanager
def judged_unless_capped(ex: Exchange, what: str) -> Iterator[None]:
    """Judge the answer of `ex` inside the block; a `Fail` raised there becomes `error` "token cap
    reached" when the token cap cut the answer, since what is missing may not have been written yet.

    Wrap only the judgement of the answer's content (a word, JSON, a call, a finish_reason), never
    wire facts a cut answer shows as well as a whole one (schemas, framing, ids, usage).
    """
    try:
        yield
    except Fail as failure:
        if cut_at_cap(ex):
            raise cap_reached(ex, what, failure.message) from None
        raise


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def words(text: str) -> str:
    """Lower-case letters and digits only, for tolerant comparisons of model output."""
    return re.sub(r"[^0-9a-z]+", " ", normalise(text).lower()).strip()


def schema_fail(schema: str, instance: Any, what: str) -> list[SchemaError]:
    """Validate; raise Fail listing the must-level errors; return the should-level ones."""
    errors = validate(schema, instance)
    must = [e for e in errors if e.severity == "must"]
    if must:
        first = must[0]
        more = f" (+{len(must) - 1} more)" if len(must) > 1 else ""
        raise Fail(
            f"{what} does not validate against {schema}: at {first.pointer or '/'} {first.message}{more}",
            schema_errors=must,
        )
    return [e for e in errors if e.severity != "must"]


def tool_calls_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """tool_calls of choices[0].message, leniently (absent or null -> [])."""
    calls = message_of(body).get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise Fail(f"message.tool_calls is not an array: {excerpt(calls)}")
    return [c for c in calls if isinstance(c, dict)]


def call_name(call: dict[str, Any]) -> str | None:
    fn = call.get("function")
    return fn.get("name") if isinstance(fn, dict) else None


def call_arguments(call: dict[str, Any]) -> Any:
    """Arguments decoded leniently (as a tolerant client would): str -> json.loads, object -> as is."""
    fn = call.get("function")
    args = fn.get("arguments") if isinstance(fn, dict) else None
    for _ in range(2):  # a double-encoded string is decoded once more, as a forgiving client would
        if not isinstance(args, str):
            return args
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return None
    return args


def finish_reason(body: dict[str, Any]) -> Any:
    return first_choice(body).get("finish_reason")


def usage_of(body: dict[str, Any]) -> dict[str, Any]:
    usage = body.get("usage")
    if usage is None:
        raise Fail("no usage in the response: received no `usage` object; expected prompt/completion/total tokens")
    if not isinstance(usage, dict):
        raise Fail(f"usage is not an object: {excerpt(usage)}")
    return usage


def is_int(value: Any) -> bool:
    return type(value) is int
