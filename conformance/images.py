"""Test images the suite renders itself, and reading them back: solid colours and large digits.

What lives here: the colour table, a 5x7 bitmap font for the digits, `solid()` and `digit()`
(PNG or JPEG bytes, drawn with Pillow), `data_url()`, and the readers the reference server's
"model" uses to answer what it sees: `open_image()` (bytes -> a bounded Pillow image, ValueError
for anything else), `colour_name()` (the nearest named colour to the mean) and `read_digit()`
(the digit whose glyph best matches the dark pixels). Checks render with the same functions, so
the expected answer is known without any model. What does not: HTTP, the vision rule itself
(conformance/reference/vision.py).

Pillow, not a hand-written codec: JPEG needs a DCT encoder and decoder, and a well-kept library
beats both (house style); PNG goes through it too so there is one path.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

from PIL import Image

__all__ = ["COLOURS", "FONT", "MAX_PIXELS", "colour_name", "data_url", "digit", "encode", "open_image", "read_digit", "solid"]

MAX_PIXELS = 4096 * 4096  # larger images are refused before decoding (a decompression bomb costs nothing to send)
COLOURS: Mapping[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 160, 40),
    "blue": (20, 40, 220),
    "yellow": (240, 220, 20),
    "orange": (250, 140, 0),
    "purple": (130, 30, 160),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}
# 5 columns x 7 rows per digit; "#" is ink.
FONT: Mapping[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
}
_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg")}


def encode(image: Image.Image, fmt: str) -> bytes:
    """The image as PNG or JPEG bytes."""
    out = io.BytesIO()
    image.save(out, _FORMATS[fmt][0], **({"quality": 90} if fmt == "jpeg" else {}))
    return out.getvalue()


def solid(colour: str, fmt: str = "png", size: tuple[int, int] = (64, 64)) -> bytes:
    """A `size` image of one named colour, as PNG or JPEG bytes."""
    return encode(Image.new("RGB", size, COLOURS[colour]), fmt)


def digit(value: str, fmt: str = "png", cell: int = 16) -> bytes:
    """A large black digit on white (each font cell `cell` pixels, a two-cell margin), PNG or JPEG bytes."""
    rows = FONT[value]
    image = Image.new("RGB", ((5 + 4) * cell, (7 + 4) * cell), COLOURS["white"])
    for y, row in enumerate(rows):
        for x, mark in enumerate(row):
            if mark == "#":
                box = ((x + 2) * cell, (y + 2) * cell, (x + 3) * cell - 1, (y + 3) * cell - 1)
                image.paste(COLOURS["black"], box)
    return encode(image, fmt)


def data_url(data: bytes, fmt: str = "png") -> str:
    """A `data:` URL of the image bytes (base64)."""
    return f"data:{_FORMATS[fmt][1]};base64,{base64.b64encode(data).decode('ascii')}"


def open_image(data: bytes) -> Image.Image:
    """The decoded image as RGB; ValueError for anything Pillow cannot read or that is too large."""
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS or width < 1 or height < 1:
            raise ValueError(f"the image is {width}x{height}; at most {MAX_PIXELS} pixels are read")
        return image.convert("RGB")
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many types for bad bytes (OSError, SyntaxError, struct.error...)
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None


def colour_name(image: Image.Image) -> str:
    """The named colour nearest to the image's mean colour."""
    small = image.resize((16, 16))
    raw = small.tobytes()  # R, G, B per pixel
    mean = tuple(sum(raw[i::3]) / (len(raw) // 3) for i in range(3))
    return min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], mean)))


def read_digit(image: Image.Image) -> str | None:
    """The digit whose 5x7 glyph best matches the image's dark pixels, or None if nothing is dark."""
    grey = image.convert("L").point(lambda v: 255 if v < 128 else 0)
    box = grey.getbbox()
    if box is None:
        return None
    cells = grey.crop(box).resize((5, 7), Image.Resampling.BOX)
    ink = [v >= 128 for v in cells.tobytes()]

    def distance(glyph: tuple[str, ...]) -> int:
        return sum((mark == "#") != seen for mark, seen in zip("".join(glyph), ink))

    return min(FONT, key=lambda d: distance(FONT[d]))
