"""Reading untrusted JSON into typed records: small type checks that fail as ValueError naming the place.

A results.json may come from anywhere (a merged shard, a baseline, a file someone crafted), so every
record's `from_dict` reads its members through these: a wrong type or a missing member is a
ValueError such as `evidence.exchanges[0].request.url: a int where str belongs`, never a traceback
from deep inside a report, and the renderers can trust the records they are given.

JSON types are Python's: `str`, `int`, `float`, `bool`, `list`, `dict` and `NULL` (null). A bool is
never a number (JSON keeps them apart; Python's `isinstance(True, int)` does not), and a number is a
finite double (json.loads also reads NaN, Infinity and integers no double holds; every renderer
would trip over them). `object` admits any JSON value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

REQUIRED: Any = object()  # member() without a default: the member must be there
NULL = type(None)
NUMBER = (int, float)


def typed(value: Any, kinds: tuple[type, ...], where: str) -> Any:
    """`value` when it is one of the JSON types `kinds`, else ValueError naming `where`."""
    fits = bool in kinds if isinstance(value, bool) else isinstance(value, kinds)
    if not fits and object not in kinds:
        names = " or ".join("null" if k is NULL else k.__name__ for k in kinds)
        raise ValueError(f"{where or 'the record'}: a {type(value).__name__} where {names} belongs")
    if isinstance(value, NUMBER) and not isinstance(value, bool) and not _finite(value):
        raise ValueError(f"{where or 'the record'}: not a finite JSON number (NaN, an infinity, or past a double)")
    return value


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int no double holds
        return False


def member(data: Any, key: str, *kinds: type, default: Any = REQUIRED, where: str = "") -> Any:
    """Member `key` of the JSON object `data`, of one of the types `kinds`; `default` when absent
    (without a default, an absent member is an error). `where` prefixes the place in messages."""
    typed(data, (dict,), where.rstrip(".") or "the record")
    if key not in data:
        if default is REQUIRED:
            raise ValueError(f"{where}{key}: missing")
        return default
    return typed(data[key], kinds, where + key)


def object_of(data: Any, where: str, *kinds: type) -> dict[str, Any]:
    """A JSON object whose every value is one of `kinds`."""
    typed(data, (dict,), where)
    return {key: typed(value, kinds, f"{where}.{key}") for key, value in data.items()}


def array_of(data: Any, where: str, *kinds: type) -> list[Any]:
    """A JSON array whose every item is one of `kinds`."""
    typed(data, (list,), where)
    return [typed(value, kinds, f"{where}[{i}]") for i, value in enumerate(data)]


def read_object(data: Any, where: str, read: Callable[[Any, str], T]) -> dict[str, T]:
    """A JSON object read value by value: `read(value, prefix)`, the prefix naming the member."""
    typed(data, (dict,), where)
    return {key: read(value, f"{where}.{key}.") for key, value in data.items()}


def read_array(data: Any, where: str, read: Callable[[Any, str], T]) -> list[T]:
    """A JSON array read item by item: `read(item, prefix)`, the prefix naming the item."""
    typed(data, (list,), where)
    return [read(value, f"{where}[{i}].") for i, value in enumerate(data)]
