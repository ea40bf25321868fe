"""Reading a request's fields the way the OpenAI API does: a wrong one is a 400 in OpenAI's words.

What lives here: the error messages (`invalid_type`, `missing`, `invalid_value`, `unsupported`,
`describe` for a value's type) and the typed readers that raise them (`read_string`,
`read_integer`, `as_array`...), each naming the field by its `param` path (`messages[0].role`).
What does not: which fields a request has and how they relate (validation.py), JSON parsing
(json_body.py), the JSON Schemas inside requests (schema_limits.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from conformance.reference.errors import ApiError

__all__ = [
    "ABSENT", "as_array", "as_object", "describe", "invalid_type", "invalid_value", "is_int", "is_number", "missing",
    "read_boolean", "read_integer", "read_number", "read_string", "short", "unsupported",
]

ABSENT: Any = object()  # a member that is not there (None is a member that is null)


# --- messages in OpenAI's words --------------------------------------------------------------


def describe(value: Any) -> str:
    """A JSON value's type the way OpenAI's errors name it ("an integer", "a decimal"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quote(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {describe(value)} instead.",
        param=param,
        code="invalid_type",
    )


def missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def invalid_value(param: str, value: Any, allowed: tuple[str, ...]) -> ApiError:
    shown = value if isinstance(value, str) else json.dumps(value)
    return ApiError(
        400,
        f"Invalid value: '{shown[:200]}'. Supported values are: {_quote(allowed)}.",
        param=param,
        code="invalid_value",
    )


def unsupported(param: str, message: str | None = None) -> ApiError:
    return ApiError(
        400,
        message or f"Unsupported parameter: '{param}' is not supported with this model.",
        param=param,
        code="unsupported_parameter",
    )


# --- typed accessors ---------------------------------------------------------------------------


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return is_int(value)


def read_string(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False, nullable: bool = True) -> Any:
    value = obj.get(key, ABSENT)
    if value is ABSENT or (value is None and nullable and not required):
        if required:
            raise missing(path)
        return None
    if not isinstance(value, str):
        raise invalid_type(path, "a string", value)
    return value


def read_boolean(obj: Mapping[str, Any], key: str, path: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid_type(path, "a boolean", value)
    return value


def read_number(obj: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = obj.get(key)
    if value is None:
        return
    if not is_number(value):
        raise invalid_type(key, "a decimal", value)
    if value < low:
        raise ApiError(
            400,
            f"Invalid '{key}': decimal below minimum value. Expected a value >= {low:g}, but got {_shown(value)} instead.",
            param=key,
            code="decimal_below_min_value",
        )
    if value > high:
        raise ApiError(
            400,
            f"Invalid '{key}': decimal above maximum value. Expected a value <= {high:g}, but got {_shown(value)} instead.",
            param=key,
            code="decimal_above_max_value",
        )


def read_integer(obj: Mapping[str, Any], key: str, path: str, low: int | None, high: int | None) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not is_int(value):
        raise invalid_type(path, "an integer", value)
    if low is not None and value < low:
        raise ApiError(
            400,
            f"Invalid '{path}': integer below minimum value. Expected a value >= {low}, but got {short(value)} instead.",
            param=path,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise ApiError(
            400,
            f"Invalid '{path}': integer above maximum value. Expected a value <= {high}, but got {short(value)} instead.",
            param=path,
            code="integer_above_max_value",
        )
    return value


def short(value: int) -> str:
    """An integer for a message; huge ones (up to the 4300 digits json accepts) abbreviated."""
    return str(value) if abs(value) < 10**30 else f"{'-' if value < 0 else ''}1e{len(str(abs(value))) - 1}"


def _shown(value: float) -> str:
    return short(value) if isinstance(value, int) else repr(value)


def as_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(path, "an object", value)
    return value


def as_array(value: Any, path: str, low: int = 0, high: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(path, "an array", value)
    if len(value) < low:
        if not value:
            raise ApiError(
                400,
                f"Invalid '{path}': empty array. Expected an array with minimum length {low}, "
                "but got an empty array instead.",
                param=path,
                code="empty_array",
            )
        raise ApiError(400, f"Invalid '{path}': array too short.", param=path, code="array_below_min_length")
    if high is not None and len(value) > high:
        raise ApiError(
            400,
            f"Invalid '{path}': array too long. Expected an array with maximum length {high}, "
            f"but got an array with length {len(value)} instead.",
            param=path,
            code="array_above_max_length",
        )
    return value


def unrecognized(key: str) -> str:
    """Chat completions' words for a member it does not know (legacy completions and images too)."""
    return f"Unrecognized request argument supplied: {key}"


def request_object(
    body: Any, known: frozenset[str], required: str | None = None, unknown: Callable[[str], str] = unrecognized
) -> Mapping[str, Any]:
    """The body as an object of known members (`unknown` words the refusal of another one, as each
    API words it), with a string `model` and, if named, the `required` member."""
    if not isinstance(body, dict):
        raise ApiError(400, f"Invalid request body: expected a JSON object, but got {describe(body)} instead.",
                       code="invalid_type")
    for key in body:
        if key not in known:
            raise ApiError(400, unknown(key[:100]), param=key[:100], code="unknown_parameter")
    read_string(body, "model", "model", required=True, nullable=False)
    if required is not None and required not in body:
        raise missing(required)
    return body
