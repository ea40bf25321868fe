"""Helpers shared by the checks: turning an exchange into a usable body or a verdict.

The rules here are the suite's general ones, so that every check applies them the same way:
- `reply_of` classifies what came back for a request (no answer, busy, a 2xx, a 4xx...), once,
  for every check and for the property runner;
- for a valid request: no response / timeout / 429 after retries / 502-504 / a 2xx body that
  broke off -> `error` (no verdict reached);
- a clean 4xx with an OpenAI-shaped error body -> `unsupported` where the catalog says the check's
  feature may be refused (`refusal: unsupported` in catalog.yaml), else `fail`;
- any other non-2xx for a valid request -> `fail`;
- a 2xx body that is not a JSON object, or is an error body -> `fail`;
- a stream that reports an error mid-way (OpenAI's own way) -> `error` with the evidence;
- an answer the token cap cut (finish_reason "length") cannot be failed for what it lacks or
  for how it ends: `cap_reached` is the one wording of that `error` ("token cap reached"), and
  `judged_unless_capped` turns such a failure into it (a model that never stops, a tiny
  random-weight model, a verbose reasoning model). Only the checks whose subject is the cap
  (chat.max_tokens, chat.max_completion_tokens) judge cut answers.
Behaviour checks read bodies leniently, the way a tolerant client would; schema strictness
belongs to the wire checks that own each shape.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conformance.chat_stream import ChatStream
from conformance.checks.base import Context, Fail, NoVerdict, Unsupported
from conformance.results import Status
from conformance.schemas import SchemaError, validate
from conformance.transport import NOT_JSON, RATE_LIMITED, UNAVAILABLE, Exchange


class Reply(enum.Enum):
    """What came back for a request, before anyone reads the body."""

    UNSENT = "refused unsent"  # the session's gate: circuit open, token budget spent
    NO_RESPONSE = "no response"  # a transport error before any status
    HUNG = "hung"  # a timeout before any status
    UNFINISHED = "unfinished"  # a status, then the body timed out or never ended
    BUSY = "busy"  # 429 or 502/503/504, still so after the retries
    SUCCESS = "success"  # a 2xx, whole (or cut for size: `truncated`)
    BROKE_OFF = "broke off"  # a 2xx whose connection closed mid-body
    CLIENT_ERROR = "client error"  # any other 4xx
    SERVER_ERROR = "server error"  # any other 5xx
    OTHER = "other status"  # 1xx, 3xx


# No answer a verdict can be taken on, whatever the request was.
NO_ANSWER = frozenset({Reply.UNSENT, Reply.NO_RESPONSE, Reply.HUNG, Reply.BUSY})


def reply_of(ex: Exchange) -> Reply:
    """The one classification of an exchange's outcome (checks and the property runner read it)."""
    error = ex.error or ""
    if ex.refused:
        return Reply.UNSENT
    if ex.status is None:
        return Reply.HUNG if "timeout" in error else Reply.NO_RESPONSE
    if "timeout" in error or "not finished" in error:
        return Reply.UNFINISHED
    if ex.status == RATE_LIMITED or ex.status in UNAVAILABLE:
        return Reply.BUSY
    if 400 <= ex.status < 500:
        return Reply.CLIENT_ERROR
    if ex.status >= 500:
        return Reply.SERVER_ERROR
    if not 200 <= ex.status < 300:
        return Reply.OTHER
    return Reply.BROKE_OFF if ex.error and not ex.truncated else Reply.SUCCESS


def excerpt(value: Any, limit: int = 160) -> str:
    """`value` shown in a message: a string as it is, anything else as JSON; cut at `limit` with "…"."""
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


def unsupported_if_refused(ctx: Context, ex: Exchange, what: str) -> None:
    """Raise `unsupported` when `ex` is a clean refusal (a 4xx with an OpenAI-shaped error body)
    and the catalog says this check's feature may be refused."""
    if ctx.spec.refusal is Status.UNSUPPORTED and reply_of(ex) is Reply.CLIENT_ERROR and is_openai_error(ex.json_body):
        raise Unsupported(f"{what} refused cleanly: {ex.status} {error_message(ex)}")


def _status_verdict(ctx: Context, ex: Exchange, what: str) -> None:
    """Raise the verdict for an exchange of a valid request that gave no usable 2xx response."""
    reply = reply_of(ex)
    if reply in (Reply.UNSENT, Reply.NO_RESPONSE, Reply.HUNG):
        raise NoVerdict(f"no response from the provider: {ex.error}")
    if reply is Reply.UNFINISHED:
        raise NoVerdict(f"the response did not finish: {ex.error}")
    if reply is Reply.BUSY and ex.status == RATE_LIMITED:
        raise NoVerdict(f"rate limited (429) after {ex.retries} retries: {error_message(ex)}")
    if reply is Reply.BUSY:
        raise NoVerdict(f"provider unavailable ({ex.status}) after {ex.retries} retries: {error_message(ex)}")
    if reply is Reply.CLIENT_ERROR:
        unsupported_if_refused(ctx, ex, what)
        if ctx.spec.refusal is Status.UNSUPPORTED:
            raise Fail(
                f"{what} refused with {ex.status}, but the error body is not OpenAI-shaped "
                f"({excerpt(ex.text)}), so clients cannot tell a refusal from a failure"
            )
        raise Fail(f"a valid request was rejected: received {ex.status} {error_message(ex)}; expected 200")
    if reply is Reply.SERVER_ERROR:
        raise Fail(f"server error on a valid request: received {ex.status} {error_message(ex)}")
    if reply is Reply.OTHER:
        raise Fail(f"unexpected status {ex.status} for a valid request")
    if reply is Reply.BROKE_OFF:  # e.g. the connection closed mid-body: what arrived is not the answer
        raise NoVerdict(f"the {ex.status} response broke off before it was complete: {ex.error}")


def require_json(ctx: Context, ex: Exchange, *, what: str = "the request") -> dict[str, Any]:
    """The 2xx JSON object body of an exchange, or the verdict why there is none."""
    if ex.status is None or not 200 <= ex.status < 300 or ex.error:
        _status_verdict(ctx, ex, what)
    if ex.truncated:
        raise Fail(f"response body too large: {ex.error}")
    body = ex.json_body
    if body is NOT_JSON:
        raise Fail(f"the {ex.status} response body is not JSON: {excerpt(ex.text)!r}")
    if not isinstance(body, dict):
        raise Fail(f"the response body is JSON {type(body).__name__}, expected an object: {excerpt(body)}")
    # `"error": null` is no error (a /responses body always carries it), as openai-python reads it.
    if body.get("error") is not None and "choices" not in body and "data" not in body:
        raise Fail(f"HTTP {ex.status} with an error body: {excerpt(body)}")
    return body


def require_stream(ctx: Context, ex: Exchange, *, what: str = "the streamed request") -> ChatStream:
    """The decoded chat stream of a 2xx exchange; a mid-stream error event is `error`, not `fail`."""
    if ex.status is None or not 200 <= ex.status < 300 or (ex.error and not ex.truncated):
        _status_verdict(ctx, ex, what)
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
    """The text of choices[0]; no verdict ("token cap reached") where the cap left it empty."""
    choice = first_choice(body)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    if "content" not in message and not message.get("tool_calls"):
        raise Fail(f"choices[0].message has no content: received {excerpt(message)}")
    text = text_of(message.get("content"))
    if not text.strip() and choice.get("finish_reason") == "length":
        raise cap_reached("the answer")
    return text


def stream_answer(stream: ChatStream) -> str:
    """The text of choice 0 of a stream; no verdict ("token cap reached") where the cap left it empty."""
    text = stream.text(0)
    if not text.strip() and "length" in stream_finishes(stream):
        raise cap_reached("the streamed answer")
    return text


def stream_finishes(stream: ChatStream) -> list[Any]:
    """Every finish_reason the stream's choices carried, in order (null ones included)."""
    return [c.get("finish_reason") for ch in stream.chunks for c in (ch.get("choices") or []) if isinstance(c, dict)]


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


def cap_reached(what: str, ex: Exchange | None = None, instead: str | None = None) -> NoVerdict:
    """The one wording of "the token cap cut this answer, so it has no verdict" (status `error`).

    `what` names what was cut ("the answer", "the tools_auto tool call"); `ex` tells the cap that
    was sent; `instead` is the failure the cut answer would otherwise be, None when the cap came
    before anything was written (a reasoning model spends hidden tokens first)."""
    cap = request_cap(ex) if ex is not None else None
    sent = f"{cap[0]}={cap[1]}" if cap else ("the provider's own limit" if ex is not None else "the token cap")
    cut = f"token cap reached: {what} was cut at {sent} (finish_reason 'length')"
    if instead is None:
        return NoVerdict(f"{cut} before anything was written (raise token_cap for this model)")
    return NoVerdict(
        f"{cut}, so it cannot be judged (raise token_cap for this model); "
        f"judged as cut it would be: {excerpt(instead, 240)}"
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
            raise cap_reached(what, ex, failure.message) from None
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
