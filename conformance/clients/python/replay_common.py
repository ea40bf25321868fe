"""What the Python adapters share (imported from lib_NAME.py; the harness puts this folder on sys.path).

Runs inside a library's own venv, so it imports only the stdlib and pydantic (every library here
depends on it, and on no other common package).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import pydantic
from harness import call_part

JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def versions_of(*names: str) -> dict[str, str]:
    """The installed versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in names}


def schema_model(schema: dict, name: str, description: str | None = None) -> type[pydantic.BaseModel]:
    """A pydantic model with the schema's (simple, top-level) properties; enums become Literals."""
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, spec in schema.get("properties", {}).items():
        kind: Any = Literal[tuple(spec["enum"])] if "enum" in spec else JSON_TYPES[spec["type"]]
        fields[prop] = (kind, ...) if prop in required else (kind | None, None)
    config = pydantic.ConfigDict(extra="forbid") if schema.get("additionalProperties") is False else None
    return pydantic.create_model(name, __config__=config, __doc__=description, **fields)


def sync(call: Callable[[dict], Awaitable[Any]]) -> Callable[[dict], dict]:
    """One asyncio.run per step; the call's docstring (how the library spells it) is kept."""
    return functools.wraps(call)(lambda step: asyncio.run(call(step)))


def status_of(exc: BaseException) -> int | None:
    """The HTTP status a library's exception carries (on it, its response, or what it wraps)."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        for holder in (seen, getattr(seen, "response", None)):
            for attr in ("status_code", "statusCode", "status", "http_status"):
                value = getattr(holder, attr, None)
                if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
                    return value
        seen = seen.__cause__ or seen.__context__
    return None


def error_call(chat: Callable[[dict], dict]) -> Callable[[dict], dict]:
    """The `error` call: the library's own chat call on an error answer, observing what the
    application catches (the one call that catches the library's exception: it is the observation)."""

    @functools.wraps(chat)
    def error(step: dict) -> dict:
        try:
            chat(step)
        except Exception as exc:  # noqa: BLE001 - the exception is what is observed
            return {"raised": True, "type": type(exc).__name__, "status": status_of(exc), "message": str(exc)[:4000]}
        return {"raised": False}

    error.__doc__ = f"{call_part((chat.__doc__ or 'chat').strip().splitlines()[0])}, on an error answer"
    return error
