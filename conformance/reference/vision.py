"""What the reference "model" sees in an image: the vision rule, and who may send images.

What lives here: `image_urls()` (the image URLs of chat content parts and of Responses
input_image parts), `refuse_images()` (the 400 a model without vision answers) and `answer()`
(the rule: a question about the colour names the image's colour, one about a digit or number
names the digit drawn, anything else describes it). Only `data:` URLs are read: the server makes
no outbound requests, so any other URL is refused the way OpenAI refuses one it cannot download.
What does not: drawing and decoding the pixels (conformance/images.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

from conformance import images
from conformance.reference.errors import ApiError

__all__ = ["answer", "image_urls", "refuse_images"]

_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,(.*)", re.DOTALL | re.IGNORECASE)
_COLOUR = re.compile(r"colou?r", re.IGNORECASE)
_DIGIT = re.compile(r"\b(?:digit|number|numeral)\b", re.IGNORECASE)


def image_urls(content: Any) -> tuple[str, ...]:
    """The URLs of a content array's image parts (chat `image_url`, Responses `input_image`)."""
    urls = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "image_url" and isinstance(part.get("image_url"), Mapping):
            url = part["image_url"].get("url")
        elif part.get("type") == "input_image":
            url = part.get("image_url")
        else:
            continue
        if isinstance(url, str):
            urls.append(url)
    return tuple(urls)


def refuse_images(model: str, contents: Iterable[Any]) -> None:
    """The 400 OpenAI gives a text-only model that is sent an image, if any content holds one."""
    if any(image_urls(c) for c in contents):
        raise ApiError(
            400,
            f"Invalid content type. image_url is only supported by certain models; `{model}` does not read images.",
            param="messages",
            code="invalid_value",
        )


def _decoded(url: str) -> bytes:
    found = _DATA_URL.fullmatch(url.strip())
    if found is None:
        raise ApiError(
            400,
            "Error while downloading the image: this server reads only data:image/...;base64 URLs.",
            param="url",
            code="invalid_image_url",
        )
    try:
        return base64.b64decode(found.group(2), validate=False)
    except (binascii.Error, ValueError):
        raise ApiError(400, "The image data is not valid base64.", param="url", code="invalid_image_format") from None


def answer(question: str, urls: tuple[str, ...]) -> str:
    """The vision rule's answer about the first image; ApiError for an unreadable one."""
    try:
        image = images.open_image(_decoded(urls[0]))
    except ValueError as exc:
        raise ApiError(400, f"You uploaded an unsupported image: {exc}.", param="url", code="invalid_image_format") from None
    if _DIGIT.search(question):
        return images.read_digit(image) or "I see no digit."
    colour = images.colour_name(image)
    if _COLOUR.search(question):
        return colour
    return f"An image, mostly {colour}."
