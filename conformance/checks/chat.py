"""Checks of the chat area: plain completions and the request parameters every client sends,
and the property check chat.unicode_fuzz (generated Unicode text echoed back)."""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, Any

from conformance import probes
from conformance.checks.base import Context, Fail, NoVerdict, check
from conformance.checks.common import (
    answer_text,
    cap_reached,
    excerpt,
    finish_reason,
    first_choice,
    judged_unless_capped,
    message_of,
    normalise,
    require_json,
    require_stream,
    schema_fail,
    stream_answer,
    stream_finishes,
    words,
)
from conformance.checks.property import Judgement, PropertyRun, Verdict, judged
from conformance.providers import ModelConfig
from conformance.schemas import validate
from conformance.transport import Exchange, Request

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

SURVIVAL = 0.9  # the share of an echo's significant characters that must come back (wording is tolerated)


@check("chat.basic")
def chat_basic(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("chat_basic"))
    schema_fail("chat_completion", body, "the chat completion")
    message = message_of(body)
    if not isinstance(message.get("content"), str) or not message["content"].strip():
        if finish_reason(body) == "length":
            answer_text(body)  # raises "token cap reached" (empty at the cap)
        raise Fail(f"choices[0].message.content is empty: received {excerpt(message.get('content'))}")
    return f"answered {excerpt(message['content'], 60)!r}"


@check("chat.spec_fields")
def chat_spec_fields(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("chat_basic"))
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
    body = require_json(ctx, ex, what=what)
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
    body = require_json(ctx, ex, what="array-of-parts content")
    text = answer_text(body)
    with judged_unless_capped(ex, "the answer"):
        if probes.PARTS_WORD.lower() not in words(text).split():
            raise Fail(
                f"content given as text parts was not understood: received {excerpt(text)!r}; "
                f"expected the word {probes.PARTS_WORD}"
            )
    return None


def _capped(ctx: Context, probe: str, param: str) -> str | None:
    """The cap is this check's subject: a cut answer is judged here, never excused."""
    body = require_json(ctx, ctx.probe(probe), what=param)
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
    return _capped(ctx, "chat_max_tokens", "max_tokens")


@check("chat.max_completion_tokens")
def chat_max_completion_tokens(ctx: Context) -> str | None:
    return _capped(ctx, "chat_max_completion_tokens", "max_completion_tokens")


@check("chat.stop")
def chat_stop(ctx: Context) -> str | None:
    ex = ctx.probe("chat_stop")
    body = require_json(ctx, ex, what="stop")
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
    body = require_json(ctx, ctx.probe("chat_n"), what="n=2")
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise Fail(f"no choices list: {excerpt(choices)}")
    indexes = sorted(c.get("index") for c in choices if isinstance(c, dict) and isinstance(c.get("index"), int))
    if len(choices) != 2 or indexes != [0, 1]:
        raise Fail(f"n=2: received {len(choices)} choice(s) with indexes {indexes}; expected 2 with indexes [0, 1]")
    return None


@check("chat.seed")
def chat_seed(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("chat_seed"), what="seed")
    answer_text(body)
    return None


@check("chat.unicode")
def chat_unicode(ctx: Context) -> str | None:
    ex = ctx.probe("chat_unicode")
    if ex.status is not None and 200 <= ex.status < 300 and ex.utf8_error:
        raise Fail(f"the response body is not valid UTF-8: {ex.utf8_error}")
    body = require_json(ctx, ex, what="unicode text")
    text = normalise(answer_text(body))
    expected = normalise(probes.UNICODE_TEXT)
    if expected in text:
        return None
    if "\ufffd" in text or "Ã" in text:
        raise Fail(f"unicode corrupted: received {excerpt(text)!r}; expected {expected!r}")
    with judged_unless_capped(ex, "the echo"):  # the cap may have come before the text's end
        if not survived(expected, text):
            raise Fail(f"unicode not round-tripped: received {excerpt(text)!r}; expected {expected!r}")
    ctx.note("the model did not echo the text exactly, but every non-ASCII character survived")
    return None


@check("chat.logprobs")
def chat_logprobs(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("chat_logprobs"), what="logprobs")
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


def _significant(text: str) -> list[str]:
    """The characters whose loss means corruption: non-ASCII, not whitespace, not a C1 control."""
    return [ch for ch in normalise(text) if ord(ch) > 127 and not ch.isspace() and not 0x80 <= ord(ch) <= 0x9F]


def survived(expected: str, received: str) -> bool:
    """Whether an echo kept its text although the model re-worded it or dropped a character:
    SURVIVAL (90 %) of the significant characters of `expected` are in `received`."""
    wanted, got = _significant(expected), normalise(received)
    return not wanted or sum(1 for ch in wanted if ch in got) >= len(wanted) * SURVIVAL


# --- chat.unicode_fuzz: generated Unicode text echoed back, streamed and not ------------------------


def _chars(low: int, high: int, categories: tuple[str, ...] | None = None) -> SearchStrategy[str]:
    from hypothesis import strategies as st

    return st.characters(min_codepoint=low, max_codepoint=high, categories=categories)


@functools.cache
def unicode_texts() -> SearchStrategy[str]:
    """Short texts mixing ASCII, astral planes, combining marks, RTL, controls and BMP scripts."""
    from hypothesis import strategies as st

    ascii_ = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789.,;:!?'\"()-_/"), min_size=1, max_size=6)
    astral = st.one_of(
        _chars(0x1F300, 0x1FAFF, ("So",)),  # pictographs, emoji
        _chars(0x1D400, 0x1D7FF, ("Lu", "Ll", "Nd")),  # mathematical alphanumerics
        _chars(0x20000, 0x2A6DF, ("Lo",)),  # CJK extension B
        _chars(0x10330, 0x1034A, ("Lo", "Nl")),  # Gothic
    )
    combining = st.builds(
        lambda base, marks: base + "".join(marks),
        st.sampled_from("aeiouyAEOnczs"),
        st.lists(_chars(0x0300, 0x036F), min_size=1, max_size=3),
    )
    rtl = st.text(st.one_of(_chars(0x05D0, 0x05EA), _chars(0x0621, 0x064A, ("Lo",))), min_size=1, max_size=6)
    control = _chars(0x01, 0x1F) | _chars(0x7F, 0x9F)  # C0 and C1 controls, never NUL
    bmp = st.one_of(_chars(0x4E00, 0x9FFF), _chars(0x0400, 0x04FF, ("Lu", "Ll")), st.sampled_from("éßçøåñü—…€£¥"))
    return st.lists(
        st.one_of(ascii_, astral, combining, rtl, control, bmp, st.just(" ")), min_size=1, max_size=12
    ).map("".join).filter(lambda s: s.strip() != "")


def _echo_problem(ex: Exchange, expected: str, received: str, capped: bool) -> str | None:
    """Why `received` is not `expected` echoed (wording tolerated: text around it, dropped controls)."""
    surrogates = [f"U+{ord(ch):04X}" for ch in received if 0xD800 <= ord(ch) <= 0xDFFF]
    if surrogates:
        return f"lone surrogate(s) {surrogates[:4]} in the text: a surrogate pair was split or mis-encoded"
    if "\ufffd" in received:
        return f"U+FFFD replacement character in the text: bytes were corrupted ({excerpt(received)!r})"
    want = normalise(expected)
    if want in normalise(received) or survived(want, received):
        return None  # the model re-worded or dropped controls, but no character was corrupted
    problem = f"the text was not echoed intact: received {excerpt(received, 300)!r}; expected {excerpt(want, 300)!r}"
    if capped:
        raise cap_reached("the echo", ex, problem)
    return problem


def _echo_request(model: ModelConfig, text: str, stream: bool) -> Request:
    body: dict[str, Any] = {
        "model": model.name,
        "messages": [{"role": "user", "content": probes.ECHO_PROMPT.format(text)}],
        model.cap_param: max(model.token_cap, 192),
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
    return Request("POST", "/chat/completions", json=body, stream=stream)


def _plain_echo_problem(ctx: Context, ex: Exchange, text: str) -> str | None:
    if ex.ok and ex.utf8_error:
        return f"the response body is not valid UTF-8: {ex.utf8_error}"
    body = require_json(ctx, ex, what="generated Unicode text")
    problem = _echo_problem(ex, text, answer_text(body), finish_reason(body) == "length")
    return f"not streamed: {problem}" if problem else None


def _streamed_echo_problem(ctx: Context, ex: Exchange, text: str) -> str | None:
    if ex.ok and ex.utf8_error:
        return f"the event stream is not valid UTF-8: {ex.utf8_error}"
    stream = require_stream(ctx, ex, what="generated Unicode text, streamed")
    problem = _echo_problem(ex, text, stream_answer(stream), "length" in stream_finishes(stream))
    return f"streamed: {problem}" if problem else None


@check("chat.unicode_fuzz")
def chat_unicode_fuzz(ctx: Context) -> str | None:
    model = ctx.model_for("chat")
    run = PropertyRun(ctx)

    def judge(text: str) -> Judgement:
        plain = run.send(_echo_request(model, text, stream=False))
        first = judged(lambda: _plain_echo_problem(ctx, plain, text), (plain,))
        if first.verdict is Verdict.FAIL or plain.status is None:
            return first
        streamed = run.send(_echo_request(model, text, stream=True))
        second = judged(lambda: _streamed_echo_problem(ctx, streamed, text), (plain, streamed))
        if second.verdict is Verdict.FAIL or first.verdict is Verdict.PASS:
            return second
        return Judgement(Verdict.UNJUDGED, first.message, second.exchanges)

    return run.run(unicode_texts(), judge, "generated Unicode text echoed back")
