"""Checks of the reasoning area: reasoning effort, reasoning token counts, where reasoning text goes.

A reasoning model spends hidden tokens before it answers. The suite's rule for it is common's:
an answer the token cap cut before any text is `error` "token cap reached", never a content
failure. Vendor fields that carry the reasoning (`reasoning_content`, `reasoning`) are legal
extensions; reasoning text inside `content` (`<think>…</think>`) is not, since every client would
show it to the user. What does not live here: chat shape and usage rules (chat.py, usage.py).
"""

from __future__ import annotations

import re
from typing import Any

from conformance import probes
from conformance.checks.base import Context, Fail, check
from conformance.checks.common import answer_text, excerpt, is_int, judged_unless_capped, require_json, usage_of
from conformance.checks.responses import response_of
from conformance.checks.stream import count_sequence

THINK_TAG = re.compile(r"</?\s*(think|thinking|reasoning)\s*>", re.I)


def _reasoning_tokens(usage: dict[str, Any], details: str, whole: str) -> int:
    """usage[details].reasoning_tokens, checked against usage[whole] and total_tokens."""
    counts = usage.get(details)
    hidden = counts.get("reasoning_tokens") if isinstance(counts, dict) else None
    if not is_int(hidden):
        raise Fail(f"usage.{details}.reasoning_tokens: received {excerpt(hidden)}; expected an integer for a reasoning model")
    if not is_int(usage.get(whole)) or not 0 <= hidden <= usage[whole]:
        raise Fail(
            f"reasoning_tokens {hidden} is not part of {whole} {excerpt(usage.get(whole))}: the hidden tokens "
            "are billed as output, so clients that sum output tokens under-count the cost"
        )
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens") if k in usage]
    if not all(is_int(p) for p in parts) or usage.get("total_tokens") != sum(parts):
        raise Fail(f"total_tokens {excerpt(usage.get('total_tokens'))} is not the sum of {excerpt(parts)}")
    return hidden


@check("reasoning.effort")
def reasoning_effort(ctx: Context) -> str | None:
    ex = ctx.probe("reason_effort")
    text = answer_text(require_json(ctx, ex, what=f"reasoning_effort {probes.REASONING_EFFORT!r}"))
    with judged_unless_capped(ex, "the answer"):
        if not count_sequence(text, 5):
            raise Fail(f"with reasoning_effort {probes.REASONING_EFFORT!r}: received {excerpt(text)!r}; expected {probes.COUNT5_TEXT!r}")
    return None


@check("reasoning.token_counts")
def reasoning_token_counts(ctx: Context) -> str | None:
    usage = usage_of(require_json(ctx, ctx.probe("reason_plain")))
    hidden = _reasoning_tokens(usage, "completion_tokens_details", "completion_tokens")
    return f"{hidden} reasoning tokens"


@check("reasoning.content_clean")
def reasoning_content_clean(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("reason_plain"))
    text = answer_text(body)
    tag = THINK_TAG.search(text)
    if tag:
        raise Fail(
            f"reasoning text in message.content (tag {tag.group(0)!r}): received {excerpt(text)!r}; expected the answer "
            "alone, the reasoning in a separate field (reasoning_content is a legal extension)"
        )
    return None


@check("reasoning.responses_tokens")
def reasoning_responses_tokens(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("reason_responses"), what=f"reasoning.effort {probes.REASONING_EFFORT!r}")
    usage = body.get("usage")
    if not isinstance(usage, dict):
        raise Fail(f"usage: received {excerpt(usage)}; expected input, output and reasoning token counts")
    hidden = _reasoning_tokens(usage, "output_tokens_details", "output_tokens")
    return f"{hidden} reasoning tokens"
