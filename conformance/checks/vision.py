"""Checks of the vision area: images sent as image_url (chat) and input_image (/responses) parts.

The images are rendered by the suite itself (conformance/images.py: a solid colour, a large
digit, PNG and JPEG as data: URLs), so the expected answer is known without any model and no
image is fetched from the network. A model without vision refuses cleanly with an OpenAI-shaped
4xx (`refusal: unsupported`); a 5xx or an answer that ignores the image is a failure.
"""

from __future__ import annotations

import re

from conformance import probes
from conformance.checks.base import Context, Fail, check
from conformance.checks.common import answer_text, excerpt, judged_unless_capped, require_json, words
from conformance.checks.responses import answer_of, judged_unless_cut, response_of
from conformance.images import COLOURS


def _named_colours(text: str) -> list[str]:
    return [c for c in COLOURS if c in words(text).split()]


def _judge_colour(text: str, expected: str, how: str) -> None:
    named = _named_colours(text)
    if named != [expected]:
        raise Fail(f"{how}: asked the colour of a solid {expected} image, received {excerpt(text)!r}; expected {expected!r} alone")


@check("vision.colour")
def vision_colour(ctx: Context) -> str | None:
    ex = ctx.probe("vision_colour")
    text = answer_text(require_json(ctx, ex, what="an image_url part"))
    with judged_unless_capped(ex, "the answer"):
        _judge_colour(text, probes.VISION_COLOUR, "a PNG data: URL")
    return None


@check("vision.digit")
def vision_digit(ctx: Context) -> str | None:
    ex = ctx.probe("vision_digit")
    text = answer_text(require_json(ctx, ex, what="an image_url part"))
    with judged_unless_capped(ex, "the answer"):
        digits = re.findall(r"\d", text)
        if digits != [probes.VISION_DIGIT]:
            raise Fail(f"a JPEG of the digit {probes.VISION_DIGIT}: received {excerpt(text)!r}; expected {probes.VISION_DIGIT!r} alone")
    return None


@check("vision.responses_input_image")
def vision_responses_input_image(ctx: Context) -> str | None:
    body = response_of(ctx, ctx.probe("vision_responses"), what="an input_image part")
    text = answer_of(body)
    with judged_unless_cut(body, "the answer"):
        _judge_colour(text, probes.VISION_RESPONSES_COLOUR, "an input_image in /responses")
    return None
