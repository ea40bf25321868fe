"""The OpenAI chat-completions stream framing, on top of the WHATWG parser in `conformance.sse`.

What lives here: `decode_chat_stream`, which takes the SSE events of a
`POST /v1/chat/completions` response with `stream: true` and applies OpenAI's framing rules:
each event's data is one JSON object (a `chat.completion.chunk`), the stream ends with
`data: [DONE]`, nothing follows it, and a mid-stream failure is reported as a data event whose
JSON has a top-level `"error"`. Every departure becomes a `Finding` (layer "stream", codes and
severities in `conformance.finding_codes`); it never raises.

What does not live here: the SSE line rules (`conformance.sse`) and the shape of a chunk
(`conformance.schemas` validates each decoded chunk against the chunk schema).

How severities are decided: openai-python (`openai._streaming`) is the client most users run,
so it is the yardstick for what a stream may do. What it tolerates is "info"; what makes it
raise, or silently drop or mangle a chunk, is a "violation". The places where it is stricter
than WHATWG matter most:

* it calls `json.loads` on every event it dispatches, so an event with empty data (`data:`)
  raises — and so does a blank line after `event:`/`retry:`-only fields, or after any blank
  line once the stream has used `id:` (its last event ID never clears, so it dispatches);
* it ends the stream at the first event whose data *starts with* "[DONE]" and reads no further;
* it raises `APIError` for a data object with a truthy top-level "error";
* an `event:` starting with "thread." is wrapped as an Assistants event, not a chat chunk;
  any other event type is ignored and the data decoded as a chunk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from conformance.evidence import Finding
from conformance.finding_codes import (  # noqa: F401 - FINDING_CODES and SSE_VIOLATION_PREFIX re-exported
    FINDING_CODES,
    SSE_VIOLATION_PREFIX,
    STREAM,
    VIOLATION,
    severity,
)
from conformance.sse import DEFAULT_MAX_BYTES, MAX_FINDINGS_PER_CODE, SSEEvent, SSEParse, excerpt, parse_sse

DONE: Final = "[DONE]"

@dataclass(frozen=True, slots=True)
class ChatStream:
    """A decoded chat-completions stream."""

    sse: SSEParse
    chunks: tuple[dict[str, Any], ...]  # JSON objects from data events before [DONE], not errors
    chunk_events: tuple[int, ...]  # index into sse.events of each chunk
    done: bool  # an event whose data, stripped, is exactly "[DONE]"
    events_after_done: int
    # First in-stream error report: the JSON object, or {"event": "error", "data": excerpt}
    # for an `event: error` whose data is not JSON.
    error_event: dict[str, Any] | None
    findings: tuple[Finding, ...]  # layer "stream": located by the index of their event

    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == VIOLATION]

    def codes(self) -> set[str]:
        """The distinct finding codes, handy in checks and tests."""
        return {f.code for f in self.findings}

    def text(self, choice: int = 0) -> str:
        """Concatenated `delta.content` of the choice whose `index` is `choice`.

        Choices are matched on their own `index` (what clients do), falling back to the list
        position only when a choice has no integer index. Anything not a string is skipped.
        """
        parts: list[str] = []
        for chunk in self.chunks:
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                continue
            for position, item in enumerate(choices):
                if not isinstance(item, dict):
                    continue
                index = item.get("index")
                if not isinstance(index, int) or isinstance(index, bool):
                    index = position
                if index != choice:
                    continue
                delta = item.get("delta")
                content = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(content, str):
                    parts.append(content)
        return "".join(parts)

    def usage_chunks(self) -> list[dict[str, Any]]:
        """Chunks carrying a non-null `usage` (with stream_options.include_usage: the last)."""
        return [chunk for chunk in self.chunks if chunk.get("usage") is not None]


def decode_chat_stream(
    data: bytes | Iterable[bytes] | SSEParse, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> ChatStream:
    """Decode a chat-completions SSE body (raw bytes, chunks, or an existing SSEParse)."""
    sse = data if isinstance(data, SSEParse) else parse_sse(data, max_bytes=max_bytes)
    return _Decoder(sse).run()


class _Decoder:
    """One pass over the SSE events; private, the ChatStream record is the result."""

    def __init__(self, sse: SSEParse) -> None:
        self.sse = sse
        self.chunks: list[dict[str, Any]] = []
        self.chunk_events: list[int] = []
        self.done_index: int | None = None
        self.after_done: list[int] = []
        self.error_event: dict[str, Any] | None = None
        self.findings: list[Finding] = []
        self.code_counts: dict[str, int] = {}

    def add(self, code: str, message: str, event_index: int | None) -> None:
        # Capped per code like the SSE layer, so a stream of a million bad events stays cheap.
        count = self.code_counts[code] = self.code_counts.get(code, 0) + 1
        if count <= MAX_FINDINGS_PER_CODE:
            self.findings.append(_finding(code, message, event_index))

    def run(self) -> ChatStream:
        for finding in self.sse.violations():
            where = f"line {finding.line}: " if finding.line is not None else ""
            self.add(SSE_VIOLATION_PREFIX + finding.code, where + finding.message, None)
        for index, event in enumerate(self.sse.events):
            if self.done_index is not None:
                self.after_done.append(index)
            else:
                self._event(index, event)
        self._dataless_events()
        self._ending()
        for code, count in self.code_counts.items():
            if count > MAX_FINDINGS_PER_CODE:
                extra = count - MAX_FINDINGS_PER_CODE
                self.findings.append(_finding(code, f"... and {extra} more {code} findings not recorded"))
        return ChatStream(
            sse=self.sse,
            chunks=tuple(self.chunks),
            chunk_events=tuple(self.chunk_events),
            done=self.done_index is not None,
            events_after_done=len(self.after_done),
            error_event=self.error_event,
            findings=tuple(self.findings),
        )

    def _event(self, index: int, event: SSEEvent) -> None:
        data = event.data
        if data.strip() == DONE:
            self.done_index = index
            if data != DONE:
                code = "done_trailing_whitespace" if data.startswith(DONE) else "done_leading_whitespace"
                self.add(code, f"[DONE] event data is {excerpt(data)}, not exactly '[DONE]'", index)
            return
        if data.startswith(DONE):
            self.add("malformed_done",
                     f"data starts with [DONE] but has more: {excerpt(data)}; openai-python "
                     "treats it as the end, a strict reader does not", index)
            return
        if event.event is not None and event.event.startswith("thread."):
            self.add("assistants_event_type",
                     f"event type {excerpt(event.event)}: openai-python wraps the data as an "
                     "Assistants event instead of a chat chunk", index)
            return
        if event.event not in (None, "message", "error"):
            self.add("unexpected_event_type",
                     f"event type {excerpt(event.event)}; openai-python ignores the type", index)
        if data.strip() == "":
            self.add("empty_data_event",
                     f"event data is {excerpt(data)}; openai-python's json.loads raises on it", index)
            return
        value = self._json(index, data)
        if value is _INVALID:
            if event.event == "error" and self.error_event is None:
                self.error_event = {"event": "error", "data": excerpt(data)}
            return
        if not isinstance(value, dict):
            self.add("non_object_json",
                     f"event data is JSON {type(value).__name__}, not an object: {excerpt(data)}",
                     index)
            return
        # openai-python raises only for a truthy "error" ("error": null is an ordinary chunk).
        if value.get("error"):
            if self.error_event is None:
                self.error_event = value
            self.add("error_event", f"in-stream error: {excerpt(_error_message(value))}", index)
            return
        if event.event == "error":
            if self.error_event is None:
                self.error_event = value
            self.add("error_event_without_error_key",
                     f"`event: error` whose data has no \"error\" object: {excerpt(data)}", index)
            return
        self.chunks.append(value)
        self.chunk_events.append(index)

    def _json(self, index: int, data: str) -> Any:
        constants: list[str] = []

        def constant(name: str) -> float:
            constants.append(name)
            return float(name)

        try:
            value = json.loads(data, parse_constant=constant)
        except (ValueError, RecursionError) as exc:
            self.add("invalid_json", f"event data is not JSON ({exc}): {excerpt(data)}", index)
            return _INVALID
        if constants:
            self.add("non_standard_json",
                     f"JSON uses {', '.join(sorted(set(constants)))}, which RFC 8259 forbids",
                     index)
        return value

    def _dataless_events(self) -> None:
        """Lift SSE `event_without_data` notes that openai-python would trip over."""
        events = self.sse.events
        done_line = events[self.done_index].line if self.done_index is not None else None
        for finding in self.sse.findings:
            if finding.code != "event_without_data" or finding.line is None:
                continue
            if done_line is not None and finding.line > done_line:
                continue  # openai-python has stopped reading by then
            self.add("dataless_event", f"line {finding.line}: {finding.message}", None)

    def _ending(self) -> None:
        if not self.sse.events:
            self.add("no_events", "the stream dispatched no SSE events", None)
        if self.after_done:
            first = self.after_done[0]
            self.add("data_after_done",
                     f"{len(self.after_done)} event(s) after [DONE], first: "
                     f"{excerpt(self.sse.events[first].data)}", first)
        if self.done_index is None:
            if self.error_event is not None:
                self.add("no_done_after_error", "no [DONE] after the in-stream error", None)
            else:
                self.add("no_done", "the stream ended without `data: [DONE]`", None)


def _finding(code: str, message: str, event_index: int | None = None) -> Finding:
    return Finding(code, message, severity(code), event_index=event_index, layer=STREAM)


class _Invalid:
    """Marks data that failed to decode (None is a valid JSON value)."""


_INVALID: Final = _Invalid()


def _error_message(value: dict[str, Any]) -> str:
    error = value.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    try:
        return json.dumps(error, default=repr)
    except (ValueError, RecursionError):  # what json.loads accepted, dumps may still refuse
        return "<error value not printable>"
