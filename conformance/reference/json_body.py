"""A request body's JSON value, parsed the way the OpenAI API refuses bad ones: a 400 for a wrong
content type, JSON that is not JSON (NaN, 1e400), bad Unicode, or nesting past `MAX_JSON_DEPTH`.

Hostile input is bounded here, before anything recurses over it: a body nested deeper than
MAX_JSON_DEPTH is refused at parse time naming the member that holds the deep value (json,
copy.deepcopy and jsonschema all recurse; past ~1000 levels they raise RecursionError).
What does not live here: the checks of the parsed value (validation.py).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from conformance.reference.errors import ApiError

__all__ = ["MAX_JSON_DEPTH", "PARSE_MESSAGE", "parse_json"]

# Arrays and objects nested in one request body (serde_json's default). Real requests stay far below;
# the schemas in them are bounded more tightly by schema_limits.SCHEMA_LIMITS.
MAX_JSON_DEPTH = 128
PARSE_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
    "have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one past the double range (1e400) is refused, not read as infinity,
    which could only be answered as `Infinity`, which is not JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def parse_json(raw: bytes, content_type: str | None) -> Any:
    """The JSON value of a request body; a 400 for a wrong content type, bad JSON or bad Unicode."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        shown = (content_type or "none")[:100]
        raise ApiError(
            400,
            f"Invalid Content-Type header ({shown}), expected application/json. {PARSE_MESSAGE}",
        )
    try:
        value = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:  # well-formed at least as deep as the limit, or it would have failed sooner
        raise _too_deep(raw) from None
    except (ValueError, UnicodeError):
        raise ApiError(400, PARSE_MESSAGE) from None
    if isinstance(value, list | dict) and _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise _too_deep(raw)
    try:
        # Lone surrogates ("\ud800") parse but cannot be answered in UTF-8: refuse them here.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise ApiError(400, PARSE_MESSAGE) from None
    return value


# --- nesting depth -----------------------------------------------------------------------------

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a *valid* JSON text (or a bound <= MAX_JSON_DEPTH on it).

    Counted at C speed and without recursion. Valid matters: strings are removed by a regex that is
    linear only when every string closes.
    """
    opened = raw.count(b"[") + raw.count(b"{")  # strings included: a bound, and the common answer
    if opened <= MAX_JSON_DEPTH:
        return opened
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _text(raw)))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def _deep_path(raw: bytes) -> list[str | int]:
    """The members leading to the first array or object nested deeper than MAX_JSON_DEPTH.

    A token scan that stops there, so it reads only the part json.loads already found well-formed.
    """
    path: list[str | int] = []  # per open container: the current key (object) or index (array)
    key: Any = None
    for token in _TOKEN.finditer(_text(raw)):
        t = token.group()
        if t in "[{":
            if len(path) == MAX_JSON_DEPTH:
                return path
            path.append(0 if t == "[" else "")
        elif t in "]}":
            path.pop()
        elif t == ",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
        elif t == ":":
            path[-1] = key
        else:
            try:
                key = json.loads(t, strict=False)
            except ValueError:  # an odd encoding json.loads detected: the raw token still names it
                key = t[1:-1]
    return path


def _dotted(path: list[str | int]) -> str:
    """`["tools", 0, "function"]` -> `tools[0].function`, OpenAI's way of naming a param."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{str(part)[:64]}" if out else str(part)[:64]
    return out


def _too_deep(raw: bytes) -> ApiError:
    """The 400 for a body nested past MAX_JSON_DEPTH, naming the schema or member that holds it."""
    path = _deep_path(raw)
    limit = f"nested more than {MAX_JSON_DEPTH} levels deep"
    if len(path) >= 4 and path[0] == "tools" and path[2:4] == ["function", "parameters"]:
        param = _dotted(path[:4])
        return ApiError(400, f"Invalid schema for '{param}': the schema is {limit}.", param=param, code="invalid_function_parameters")
    if len(path) >= 3 and path[:3] == ["response_format", "json_schema", "schema"]:
        return ApiError(400, f"Invalid schema for response_format: the schema is {limit}.", param="response_format")
    param = _dotted(path[:2]) if path and isinstance(path[0], str) else None  # no member: the body itself
    where = f"'{param}'" if param else "request body"
    return ApiError(400, f"Invalid {where}: the JSON value is {limit}.", param=param, code="invalid_value")
