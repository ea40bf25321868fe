"""Checks of the images area: POST /images/generations (the response shape, b64_json, n, url).

An image is judged by its bytes only: b64_json must decode to a PNG of the requested size
(read with Pillow through conformance/images.py, bounded against decompression bombs). A url
is checked as a URL and never fetched: the suite talks to the provider's base URL only. A
provider without image generation refuses cleanly (`refusal: unsupported`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

from conformance import probes
from conformance.checks.base import Context, Fail, check
from conformance.checks.common import excerpt, require_json, schema_fail

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _data(ctx: Context, probe: str) -> list[dict[str, Any]]:
    """data[] of an images response (the objects in it)."""
    body = require_json(ctx, ctx.probe(probe), what="the /images/generations request")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise Fail(f"data: received {excerpt(data)}; expected a non-empty array of images")
    return [d for d in data if isinstance(d, dict)]


@check("images.response_shape")
def images_response_shape(ctx: Context) -> str | None:
    ex = ctx.probe("images_b64")
    body = require_json(ctx, ex, what="the /images/generations request")
    schema_fail("images_response", body, "the images response")
    if not isinstance(body.get("created"), int):
        raise Fail(f"created: received {excerpt(body.get('created'))}; expected a Unix timestamp")
    bare = [n for n, d in enumerate(_data(ctx, "images_b64")) if not (d.get("b64_json") or d.get("url"))]
    if bare:
        raise Fail(f"data[{bare[0]}] has neither b64_json nor url")
    return None


def _png(item: dict[str, Any], n: int) -> tuple[int, int]:
    """The size of the PNG in data[n].b64_json; Fail for anything else."""
    from conformance import images  # local: Pillow is loaded only by the image checks

    encoded = item.get("b64_json")
    if not isinstance(encoded, str) or not encoded:
        raise Fail(f"data[{n}]: b64_json asked, received {excerpt(sorted(item))} ({excerpt(item.get('url') or encoded)})")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Fail(f"data[{n}].b64_json is not valid base64: {excerpt(encoded, 60)}") from None
    if not raw.startswith(PNG_MAGIC):
        raise Fail(f"data[{n}].b64_json decodes to {excerpt(repr(raw[:16]))}, not a PNG")
    try:
        image = images.open_image(raw)
    except ValueError as exc:
        raise Fail(f"data[{n}].b64_json is not a readable PNG: {excerpt(str(exc))}") from None
    return image.size


@check("images.b64_png")
def images_b64_png(ctx: Context) -> str | None:
    sizes = [_png(item, n) for n, item in enumerate(_data(ctx, "images_b64"))]
    wrong = [(n, s) for n, s in enumerate(sizes) if s != probes.IMAGE_SIZE]
    if wrong:
        n, size = wrong[0]
        raise Fail(f"data[{n}] is a {size[0]}x{size[1]} PNG; expected the requested {probes.IMAGE_SIZE[0]}x{probes.IMAGE_SIZE[1]}")
    return f"{len(sizes)} PNG(s)"


@check("images.n")
def images_n(ctx: Context) -> str | None:
    count = len(_data(ctx, "images_b64"))
    if count != probes.IMAGE_N:
        raise Fail(f"n={probes.IMAGE_N}: received {count} image(s); expected {probes.IMAGE_N}")
    return None


@check("images.url")
def images_url(ctx: Context) -> str | None:
    item = _data(ctx, "images_url")[0]
    url = item.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).netloc:
        raise Fail(f"response_format url: data[0].url is {excerpt(url)} (keys {excerpt(sorted(item))}); expected an http(s) URL")
    return None
