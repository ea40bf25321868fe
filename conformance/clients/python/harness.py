"""The replay worker that runs inside a client library's own environment (not the suite's).

Started by the suite as `<venv>/bin/python harness.py NAME`, it imports the adapter `lib_NAME.py`
beside it and answers steps, one JSON object per line on stdin, with one JSON line each on the
protocol channel (the process's original stdout). Everything a library prints goes to stderr: fd 1
is pointed at fd 2 before the adapter is imported, so a stray print can never corrupt a reply.

Lines written:
  first    {"hello": true, "versions": {package: version}, "runtime": "Python 3.11.9",
           "calls": {call: how the library spells it (its function's docstring, first line)}}
           or {"hello": false, "error": "..."} when the adapter cannot be imported
  a step   {"ok": true, "observed": {...}} | {"ok": false, "error": "Type: message"}

A step is {"call", "base_url", "api_key", "model", "request", ...} (see conformance/clients/README.md);
the adapter's CALLS[call](step) makes the library's own application-level call against `base_url`
(the suite's loopback replay server) and returns what the library handed over, in the normalised
shapes the README lists. This file imports nothing of the suite and nothing outside the stdlib.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import traceback
from typing import Any, TextIO

MAX_ERROR_CHARS = 4000


def _protocol_channel() -> TextIO:
    """The original stdout, for replies only; fd 1 (and sys.stdout) now write to stderr."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _default(value: Any) -> Any:
    """JSON for what adapters may leave in an observation (pydantic models, tuples, bytes...)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def _spelled(name: str, fn: Any) -> str:
    """How the library spells a call: the first line of its function's docstring up to any ": "
    (what follows describes what is read; "<call>): " ends the call in the suite's messages)."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return call_part(doc.splitlines()[0]) if doc else name


def call_part(line: str) -> str:
    """A docstring line up to its first ": " outside brackets (the call, not what it reads)."""
    depth = 0
    for i, char in enumerate(line):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth <= 0 and line.startswith(": ", i):
            return line[:i].strip()
    return line.strip()


def _reply(channel: TextIO, obj: dict[str, Any]) -> None:
    try:
        line = json.dumps(obj, default=_default, allow_nan=False)
    except ValueError:  # NaN or infinity in an observation: show them as strings, never break the channel
        line = json.dumps(json.loads(json.dumps(obj, default=_default)), default=str)
    channel.write(line + "\n")
    channel.flush()


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" (from {type(cause).__name__}: {cause})"
    return text[:MAX_ERROR_CHARS]


def main(argv: list[str]) -> int:
    channel = _protocol_channel()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        adapter = importlib.import_module(f"lib_{argv[1]}")
        hello = {"hello": True, "versions": adapter.versions(), "runtime": f"Python {platform.python_version()}",
                 "calls": {name: _spelled(name, fn) for name, fn in adapter.CALLS.items()}}
    except Exception as exc:  # noqa: BLE001 - the suite shows why the library cannot run
        traceback.print_exc()
        _reply(channel, {"hello": False, "error": _error(exc)})
        return 1
    _reply(channel, hello)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            step = json.loads(line)
            observed = adapter.CALLS[step["call"]](step)
            reply = {"ok": True, "observed": observed}
        except Exception as exc:  # noqa: BLE001 - any library exception is the finding
            traceback.print_exc()
            reply = {"ok": False, "error": _error(exc)}
        _reply(channel, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
