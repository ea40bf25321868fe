"""Checks of the completions area: the legacy POST /completions (prompt in, text out).

What lives here: reading a completion's text, finish_reason and logprobs (plain and streamed),
and the checks. A provider without /completions refuses cleanly with an OpenAI-shaped 4xx
(`refusal: unsupported`). What does not: the schemas (data/schemas/completion*.json) and the
chat stream's framing rules, which the stream check reuses through ChatStream.
"""

from __future__ import annotations

import re
from typing import Any

from conformance import probes
from conformance.chat_stream import ChatStream
from conformance.checks.base import Context, Fail, NoVerdict, check
from conformance.checks.common import cap_reached, excerpt, is_int, require_json, require_stream, schema_fail, usage_of
from conformance.checks.stream import count_sequence
from conformance.schemas import validate

STOP_AT = "6"


def _choice(ctx: Context, probe: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(body, choices[0]) of a completion whose choices[0].text is a string."""
    body = require_json(ctx, ctx.probe(probe), what="the /completions request")
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if choice is None or not isinstance(choice.get("text"), str):
        raise Fail(f"choices[0].text is not a string: received {excerpt(choices)}; expected a text completion")
    return body, choice


def _not_cut(choice: dict[str, Any], what: str, failure: str) -> Fail:
    """`failure`, unless max_tokens cut the text (then no verdict: "token cap reached")."""
    if choice.get("finish_reason") == "length":
        raise cap_reached(what, None, failure)
    return Fail(failure)


@check("completions.basic")
def completions_basic(ctx: Context) -> str | None:
    body, choice = _choice(ctx, "cmpl_basic")
    schema_fail("completion", body, "the completion")
    if body.get("object") != "text_completion":
        raise Fail(f"object: received {excerpt(body.get('object'))}; expected 'text_completion'")
    usage = usage_of(body)
    counts = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    if not all(is_int(v) for v in counts.values()) or counts["total_tokens"] != counts["prompt_tokens"] + counts["completion_tokens"]:
        raise Fail(f"usage: received {excerpt(counts)}; expected integers with total = prompt + completion")
    if not choice["text"].strip():
        raise _not_cut(choice, "the completion", "choices[0].text is empty")
    return None


def _stream_text(stream: ChatStream) -> tuple[str, list[Any]]:
    """The text of choice 0 of a completion stream, and its finish_reasons."""
    entries = [c for ch in stream.chunks for c in (ch.get("choices") or []) if isinstance(c, dict) and c.get("index", 0) == 0]
    text = "".join(c["text"] for c in entries if isinstance(c.get("text"), str))
    return text, [c.get("finish_reason") for c in entries if c.get("finish_reason") is not None]


@check("completions.stream")
def completions_stream(ctx: Context) -> str | None:
    stream = require_stream(ctx, ctx.probe("cmpl_stream"), what="the streamed /completions request")
    violations = stream.violations()
    if violations:
        raise Fail(f"stream framing: {violations[0].code}: {violations[0].message}", findings=violations)
    for n, chunk in enumerate(stream.chunks):
        errors = [e for e in validate("completion_chunk", chunk) if e.severity == "must"]
        if errors:
            raise Fail(f"chunk {n} does not validate: at {errors[0].pointer or '/'} {errors[0].message}", schema_errors=errors)
    text, finishes = _stream_text(stream)
    if len(finishes) != 1:
        raise Fail(f"choice 0 received finish_reasons {excerpt(finishes)}; expected exactly one")
    if not count_sequence(text, 5):
        failure = f"reassembled text: received {excerpt(text)!r}; expected {probes.COUNT5_TEXT!r}"
        raise _not_cut({"finish_reason": finishes[0]}, "the streamed completion", failure)
    return f"{len(stream.chunks)} chunks"


def counted(text: str) -> list[int]:
    """The numbers in the text when they are a count 1, 2, 3…; [] when the model did not count."""
    numbers = [int(n) for n in re.findall(r"\d+", text) if len(n) < 6]
    return numbers if numbers and numbers == list(range(1, len(numbers) + 1)) else []


@check("completions.max_tokens")
def completions_max_tokens(ctx: Context) -> str | None:
    body, choice = _choice(ctx, "cmpl_length")
    used = usage_of(body).get("completion_tokens")
    reason = choice.get("finish_reason")
    if is_int(used) and used > 5:
        raise Fail(f"max_tokens=5 not enforced: usage.completion_tokens is {used}")
    if reason == "length":
        return None
    numbers = counted(choice["text"])
    if len(numbers) >= 50:
        raise Fail(f"max_tokens=5 ignored: the whole 50-number count came back (finish_reason {excerpt(reason)})")
    if numbers:
        raise Fail(f"max_tokens=5 cut the count after {len(numbers)} numbers but finish_reason is {excerpt(reason)}; expected 'length'")
    # As chat.max_tokens: a model that ended on its own before the cap did not exercise it.
    raise NoVerdict(f"the model did not count as asked ({excerpt(choice['text'])!r}, finish_reason {excerpt(reason)}): the cap was not exercised")


@check("completions.stop")
def completions_stop(ctx: Context) -> str | None:
    _, choice = _choice(ctx, "cmpl_stop")
    numbers = [int(n) for n in re.findall(r"\d+", choice["text"]) if len(n) < 6]
    if numbers[:5] != [1, 2, 3, 4, 5]:
        # As chat.stop: only a model that counted 1..5 was about to write the stop text.
        raise NoVerdict(f"the model did not count as asked ({excerpt(choice['text'])!r}): stop cannot be judged")
    if any(n >= int(STOP_AT) for n in numbers) or STOP_AT in choice["text"]:
        raise Fail(f"stop {STOP_AT!r}: received {excerpt(choice['text'])!r}; expected the text to end before {STOP_AT!r}")
    if choice.get("finish_reason") != "stop":
        failure = f"stop {STOP_AT!r}: finish_reason {excerpt(choice.get('finish_reason'))}; expected 'stop'"
        raise _not_cut(choice, "the count", failure)  # the cap may have come before the stop text
    return None


@check("completions.logprobs")
def completions_logprobs(ctx: Context) -> str | None:
    _, choice = _choice(ctx, "cmpl_logprobs")
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        raise Fail(f"logprobs=2: choices[0].logprobs is {excerpt(lp)}; expected {{tokens, token_logprobs, top_logprobs, text_offset}}")
    fields = {k: lp.get(k) for k in ("tokens", "token_logprobs", "top_logprobs", "text_offset")}
    if not all(isinstance(v, list) for v in fields.values()) or len({len(v) for v in fields.values()}) != 1:
        raise Fail(f"logprobs fields must be lists of one length: received {excerpt(fields)}")
    tokens = fields["tokens"]
    if not tokens or not all(isinstance(t, str) for t in tokens):
        raise Fail(f"logprobs.tokens: received {excerpt(tokens)}; expected the generated tokens")
    if "".join(tokens) != choice["text"]:
        raise Fail(f"logprobs.tokens join to {excerpt(''.join(tokens))!r}, the text is {excerpt(choice['text'])!r}")
    if not all(isinstance(x, (int, float)) and x <= 0 for x in fields["token_logprobs"] if x is not None):
        raise Fail(f"token_logprobs must be numbers <= 0: received {excerpt(fields['token_logprobs'])}")
    return f"{len(tokens)} tokens"
