"""Checks of the chat area: plain completions and the request parameters every client sends."""

from __future__ import annotations

import math
import re

from conformance import probes
from conformance.checks.base import Context, Fail, NoVerdict, check
from conformance.checks.common import (
    answer_text,
    excerpt,
    finish_reason,
    first_choice,
    judged_unless_capped,
    message_of,
    normalise,
    require_json,
    schema_fail,
    words,
)
from conformance.schemas import validate


@check("chat.basic")
def chat_basic(ctx: Context) -> str | None:
    body = require_json(ctx.probe("chat_basic"))
    schema_fail("chat_completion", body, "the chat completion")
    message = message_of(body)
    if not isinstance(message.get("content"), str) or not message["content"].strip():
        if finish_reason(body) == "length":
            answer_text(body)  # raises "token cap too low"
        raise Fail(f"choices[0].message.content is empty: received {excerpt(message.get('content'))}")
    return f"answered {excerpt(message['content'], 60)!r}"


@check("chat.spec_fields")
def chat_spec_fields(ctx: Context) -> str | None:
    body = require_json(ctx.probe("chat_basic"))
    errors = [e for e in validate("chat_completion", body) if e.rule == "x-spec-required"]
    stream_ex = ctx.probe("stream_basic")
    if stream_ex.ok:
        for i, chunk in enumerate(stream_ex.stream.chunks):
            errors += [
                e for e in validate("chat_completion_chunk", chunk) if e.rule == "x-spec-required"
            ]
            if len(errors) > 20:
                break
    if errors:
        where = sorted({f"{e.schema}:{e.pointer or '/'} {e.message}" for e in errors})
        raise Fail(f"spec-required fields missing: {'; '.join(where[:5])}", schema_errors=errors)
    return None


def _word_answer(ctx: Context, probe: str, word: str, what: str) -> str:
    ex = ctx.probe(probe)
    body = require_json(ex, optional=probe == "chat_developer", what=what)
    text = answer_text(body)
    with judged_unless_capped(ex, "the answer"):
        if word.lower() not in words(text).split():
            raise Fail(f"{what} was not followed: received {excerpt(text)!r}; expected the word {word}")
    return f"answered {excerpt(text, 40)!r}"


@check("chat.system_message")
def chat_system_message(ctx: Context) -> str | None:
    return _word_answer(ctx, "chat_system", probes.SYSTEM_WORD, "the system message")


@check("chat.developer_role")
def chat_developer_role(ctx: Context) -> str | None:
    return _word_answer(ctx, "chat_developer", probes.SYSTEM_WORD, "the developer message")


@check("chat.multi_turn")
def chat_multi_turn(ctx: Context) -> str | None:
    return _word_answer(ctx, "chat_multi_turn", probes.NAME, "the earlier turn (the user's name)")


@check("chat.content_parts")
def chat_content_parts(ctx: Context) -> str | None:
    ex = ctx.probe("chat_content_parts")
    body = require_json(ex, optional=True, what="array-of-parts content")
    text = answer_text(body)
    with judged_unless_capped(ex, "the answer"):
        if probes.PARTS_WORD.lower() not in words(text).split():
            raise Fail(
                f"content given as text parts was not understood: received {excerpt(text)!r}; "
                f"expected the word {probes.PARTS_WORD}"
            )
    return None


def _capped(ctx: Context, probe: str, param: str, optional: bool) -> str | None:
    """The cap is this check's subject: a cut answer is judged here, never excused."""
    body = require_json(ctx.probe(probe), optional=optional, what=param)
    cap = ctx.probe(probe).request_body[param]
    reason = finish_reason(body)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    completion = usage.get("completion_tokens")
    if isinstance(completion, (int, float)) and completion > cap:
        raise Fail(f"{param}={cap} not enforced: received completion_tokens={completion}")
    if reason == "length":
        if not isinstance(completion, (int, float)):
            ctx.note("no completion_tokens reported: the cap was judged by finish_reason only")
        return None
    text = message_of(body).get("content")
    numbers = [int(n) for n in re.findall(r"\d{1,6}", text if isinstance(text, str) else "")]
    counted = bool(numbers) and numbers == list(range(1, len(numbers) + 1))
    if counted and len(numbers) >= 50:
        raise Fail(f"{param}={cap} ignored: the whole 50-number answer came back (finish_reason {reason!r})")
    if counted:
        raise Fail(
            f"{param}={cap} cut the answer after {len(numbers)} numbers but finish_reason is {reason!r}; "
            "expected 'length' (clients cannot tell a truncated answer from a complete one)"
        )
    # The model ended on its own before the cap (it did not count as asked): not exercised.
    raise NoVerdict(f"the model did not count as asked ({excerpt(text)!r}, finish_reason {reason!r}): the cap was not exercised")


@check("chat.max_tokens")
def chat_max_tokens(ctx: Context) -> str | None:
    return _capped(ctx, "chat_max_tokens", "max_tokens", optional=False)


@check("chat.max_completion_tokens")
def chat_max_completion_tokens(ctx: Context) -> str | None:
    return _capped(ctx, "chat_max_completion_tokens", "max_completion_tokens", optional=True)


@check("chat.stop")
def chat_stop(ctx: Context) -> str | None:
    ex = ctx.probe("chat_stop")
    body = require_json(ex, what="stop")
    text = answer_text(body)
    numbers = [int(n) for n in re.findall(r"\d+", text) if len(n) < 6]
    if numbers[:5] != [1, 2, 3, 4, 5]:
        # Only a model that counted 1..5 was about to write the stop text; stray digits in some
        # other answer say nothing about stop.
        raise NoVerdict(f"the model did not count as asked ({excerpt(text)!r}): stop cannot be judged")
    if "6" in text or any(n >= 6 for n in numbers):
        raise Fail(f"stop=['6'] not honoured: received {excerpt(text)!r}; expected the text to end before 6")
    with judged_unless_capped(ex, "the count"):  # the cap may have come before the stop text
        if finish_reason(body) != "stop":
            raise Fail(f"stopped by a stop sequence: received finish_reason={finish_reason(body)!r}; expected 'stop'")
    return None


@check("chat.n")
def chat_n(ctx: Context) -> str | None:
    body = require_json(ctx.probe("chat_n"), optional=True, what="n=2")
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise Fail(f"no choices list: {excerpt(choices)}")
    indexes = sorted(c.get("index") for c in choices if isinstance(c, dict) and isinstance(c.get("index"), int))
    if len(choices) != 2 or indexes != [0, 1]:
        raise Fail(f"n=2: received {len(choices)} choice(s) with indexes {indexes}; expected 2 with indexes [0, 1]")
    return None


@check("chat.seed")
def chat_seed(ctx: Context) -> str | None:
    body = require_json(ctx.probe("chat_seed"), optional=True, what="seed")
    answer_text(body)
    return None


@check("chat.unicode")
def chat_unicode(ctx: Context) -> str | None:
    ex = ctx.probe("chat_unicode")
    if ex.status is not None and 200 <= ex.status < 300 and ex.utf8_error:
        raise Fail(f"the response body is not valid UTF-8: {ex.utf8_error}")
    body = require_json(ex, what="unicode text")
    text = normalise(answer_text(body))
    expected = normalise(probes.UNICODE_TEXT)
    if expected in text:
        return None
    if "\ufffd" in text or "Ã" in text:
        raise Fail(f"unicode corrupted: received {excerpt(text)!r}; expected {expected!r}")
    # A model may drop a character; judge corruption by the non-ASCII characters' survival.
    wanted = [ch for ch in expected if ord(ch) > 127 and not ch.isspace()]
    kept = sum(1 for ch in wanted if ch in text)
    with judged_unless_capped(ex, "the echo"):  # the cap may have come before the text's end
        if kept < len(wanted) * 0.9:
            raise Fail(f"unicode not round-tripped: received {excerpt(text)!r}; expected {expected!r}")
    ctx.note("the model did not echo the text exactly, but every non-ASCII character survived")
    return None


@check("chat.logprobs")
def chat_logprobs(ctx: Context) -> str | None:
    body = require_json(ctx.probe("chat_logprobs"), optional=True, what="logprobs")
    logprobs = first_choice(body).get("logprobs")
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("content"), list) or not logprobs["content"]:
        raise Fail(f"logprobs=true accepted but choices[0].logprobs.content is {excerpt(logprobs)}; expected a token list")
    for i, tok in enumerate(logprobs["content"]):
        if not isinstance(tok, dict) or not isinstance(tok.get("token"), str):
            raise Fail(f"logprobs.content[{i}] has no token string: {excerpt(tok)}")
        lp = tok.get("logprob")
        if not isinstance(lp, (int, float)) or isinstance(lp, bool) or math.isnan(lp) or lp > 1e-6:
            raise Fail(f"logprobs.content[{i}].logprob must be a number <= 0: received {excerpt(lp)}")
        top = tok.get("top_logprobs")
        if not isinstance(top, list) or len(top) > 2:
            raise Fail(f"top_logprobs=2: logprobs.content[{i}].top_logprobs is {excerpt(top)}; expected <= 2 entries")
        if not top:
            raise Fail(f"top_logprobs=2: logprobs.content[{i}].top_logprobs is empty")
    return f"{len(logprobs['content'])} tokens with logprobs"
