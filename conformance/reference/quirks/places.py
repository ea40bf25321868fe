"""Places in the wire shapes a quirk changes, and the table of quirks that change one key there.

What lives here: walkers over a body or a list of chunks (`messages`, `deltas`, `tool_deltas`...),
named in `PLACES`; `KeyEdit`, one row of the "remove a key" / "set a key" family (a quirk, a hook
point, a place, a key, and what happens to it), and `register_edits()`, which turns such rows
into hooks (the rows of one quirk at one point become one hook). What does not: quirks whose
change depends on more than one key (they are code, in the module of their hook point).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from conformance.reference.quirks.registry import Hook, HookContext, hook

__all__ = [
    "PLACES", "KeyEdit", "calls_by_choice", "chunk_choices", "deltas", "drop", "drop_null", "fill_null",
    "json_or_text", "message_bodies", "put", "register_edits", "tool_deltas",
]

Op = Literal["drop", "drop_null", "put", "fill_null"]


def chunk_choices(chunks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(chunk, choice entry) for every choice entry of every chunk."""
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                yield chunk, choice


def deltas(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for _, choice in chunk_choices(chunks):
        if isinstance(choice.get("delta"), dict):
            yield choice["delta"]


def calls_by_choice(chunks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], tuple[Any, Any], dict[str, Any]]]:
    """(chunk, (choice index, call index), tool-call delta) for every tool-call delta."""
    for chunk, choice in chunk_choices(chunks):
        for call in (choice.get("delta") or {}).get("tool_calls") or []:
            if isinstance(call, dict):
                yield chunk, (choice.get("index"), call.get("index")), call


def tool_deltas(chunks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (call for _, _, call in calls_by_choice(chunks))


def json_or_text(text: str) -> Any:
    """Tool-call arguments as JSON, or as the text they are when not JSON (cut by max_tokens)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def message_bodies(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """choices[].message of a non-streamed chat body."""
    for choice in body.get("choices") or []:
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            yield choice["message"]


def _message_tool_calls(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return itertools.chain.from_iterable(m.get("tool_calls") or [] for m in message_bodies(body))


# Place name -> the objects it names in the value at a hook point (a body, or a list of chunks).
PLACES: Mapping[str, Callable[[Any], Iterator[dict[str, Any]]]] = {
    "body": lambda value: iter([value]),
    "choices": lambda body: iter(body.get("choices") or []),
    "messages": message_bodies,
    "message_tool_calls": _message_tool_calls,
    "items": lambda body: iter(body["data"]),  # an embeddings body's data[]
    "chunks": iter,
    "chunk_choices": lambda chunks: (choice for _, choice in chunk_choices(chunks)),
    "deltas": deltas,
    "tool_deltas": tool_deltas,
}


@dataclass(frozen=True)
class KeyEdit:
    """Quirk `quirk` changes `key` of every object at `place` of the value at hook point `point`.

    op: "drop" removes the key; "drop_null" removes it where it is null; "put" sets it to `value`;
    "fill_null" sets it to `value` where it is null or absent.
    """

    quirk: str
    point: str
    place: str
    key: str
    op: Op
    value: Any = None

    def apply(self, obj: dict[str, Any]) -> None:
        if self.op == "drop" or (self.op == "drop_null" and obj.get(self.key) is None):
            obj.pop(self.key, None)
        elif self.op == "put" or (self.op == "fill_null" and obj.get(self.key) is None):
            obj[self.key] = self.value


def drop(quirk: str, point: str, place: str, *keys: str) -> tuple[KeyEdit, ...]:
    return tuple(KeyEdit(quirk, point, place, key, "drop") for key in keys)


def drop_null(quirk: str, point: str, place: str, key: str) -> tuple[KeyEdit, ...]:
    return (KeyEdit(quirk, point, place, key, "drop_null"),)


def put(quirk: str, point: str, place: str, key: str, value: Any) -> tuple[KeyEdit, ...]:
    return (KeyEdit(quirk, point, place, key, "put", value),)


def fill_null(quirk: str, point: str, place: str, key: str, value: Any) -> tuple[KeyEdit, ...]:
    return (KeyEdit(quirk, point, place, key, "fill_null", value),)


def _editing(edits: tuple[KeyEdit, ...]) -> Hook:
    def edit(value: Any, ctx: HookContext) -> Any:
        for row in edits:
            for obj in PLACES[row.place](value):
                row.apply(obj)
        return value

    return edit


def register_edits(*tables: tuple[KeyEdit, ...]) -> None:
    """Register the rows as hooks, one per (quirk, point), applying that quirk's rows in table order."""
    rows = [row for table in tables for row in table]
    unknown = sorted({row.place for row in rows} - set(PLACES))
    if unknown:
        raise ValueError(f"unknown places {unknown}")
    for quirk, point in dict.fromkeys((row.quirk, row.point) for row in rows):
        hook(point, quirk)(_editing(tuple(r for r in rows if (r.quirk, r.point) == (quirk, point))))
