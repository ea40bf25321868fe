"""A strict Server-Sent Events parser: the WHATWG "event stream" rules plus framing findings.

What lives here: `parse_sse`, which turns the raw bytes of a `text/event-stream` body into the
events a conforming EventSource would dispatch (HTML Living Standard, "Server-sent events",
section "Interpreting an event stream"), together with every framing oddity it met on the way,
recorded as a `Finding` (layer "sse", codes and severities in `conformance.finding_codes`)
instead of being hidden. It never raises, whatever the bytes.

What does not live here: anything OpenAI-specific (`[DONE]`, JSON payloads, chunk shapes,
what openai-python tolerates) — that is `conformance.chat_stream`, one layer up. Clients never
change how events are parsed here; they only explain why two legal-but-risky patterns are worth
an "info" finding: `bom` and `event_without_data` (a blank line that dispatches nothing while
an event type, a retry or the last event ID is set — stricter decoders dispatch there). An event
with empty data is ordinary WHATWG and not reported here: the chat layer judges it.

Why hand-written rather than httpx-sse or openai-python's `SSEDecoder`: those are lenient by
design and silently drop what we need to see (a BOM, an invalid UTF-8 byte, an unterminated
last event, a misspelled field name), and none report line numbers or byte offsets.

Parsing model, and where it departs from a browser on purpose:

* Lines are split on the raw bytes (CRLF, lone LF, lone CR), then each line is decoded as UTF-8
  with replacement. CR and LF are ASCII and never occur inside a UTF-8 sequence, so this equals
  "decode, then split" while letting us name the byte offset of every invalid sequence. A CR
  that ends one chunk and an LF that starts the next are one CRLF: chunk boundaries never
  change the result.
* `SSEEvent.event` is None when the event type buffer is empty (a browser would say "message");
  `SSEEvent.id` is the last event ID buffer at dispatch (it persists across events, as in
  `MessageEvent.lastEventId`), None when empty; `SSEEvent.retry` is the value of a valid
  `retry:` field inside that event's block (WHATWG keeps it as a stream setting only).
* Memory is bounded by `max_bytes`: past it we record `too_large` and stop reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from conformance.evidence import Finding
from conformance.finding_codes import FINDING_CODES, INFO, SSE, VIOLATION  # noqa: F401 - re-exported

DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024
# A hostile stream could produce one finding per line; keep the first few of each code and
# summarise the rest so memory stays proportional to the events, not to the oddities.
MAX_FINDINGS_PER_CODE: Final = 50
EXCERPT_CHARS: Final = 120

_BOM: Final = b"\xef\xbb\xbf"
_EOL: Final = re.compile(rb"[\r\n]")
_CR: Final = 0x0D
_LF: Final = 0x0A
_KNOWN_FIELDS: Final = frozenset({"data", "event", "id", "retry"})
_ENDING_NAMES: Final = MappingProxyType({"\r\n": "CRLF", "\n": "LF", "\r": "CR"})


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event."""

    data: str  # data buffer per WHATWG: data lines joined with "\n", last LF removed
    event: str | None  # event type buffer; None when absent or empty
    id: str | None  # last event ID buffer at dispatch; None when empty
    retry: int | None  # valid retry field inside this event's block
    line: int  # 1-based line number of the event's first field
    offset: int  # byte offset of that line in the stream (after any BOM)


@dataclass(frozen=True, slots=True)
class SSEParse:
    """Everything parse_sse learned from one stream."""

    events: tuple[SSEEvent, ...]
    comments: tuple[str, ...]  # text after ":" with one leading space removed
    findings: tuple[Finding, ...]  # layer "sse": located by line and byte offset
    line_endings: frozenset[str]  # subset of {"\r\n", "\n", "\r"}
    bytes_total: int  # bytes parsed (at most max_bytes)

    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == VIOLATION]

    def codes(self) -> set[str]:
        """The distinct finding codes, handy in checks and tests."""
        return {f.code for f in self.findings}


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A bounded repr of provider-controlled text, safe to put in a one-line message."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} chars)"


def parse_sse(data: bytes | Iterable[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES) -> SSEParse:
    """Parse an event stream given whole or as chunks; the chunking never changes the result."""
    parser = _Parser(max_bytes)
    for chunk in _chunks(data, parser):
        if not parser.feed(chunk):
            break
    return parser.finish()


def _chunks(data: bytes | Iterable[bytes], parser: _Parser) -> Iterator[bytes]:
    """Yield the input as bytes, turning a failing or ill-typed source into a read_error."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    try:
        iterator = iter(data)
    except Exception as exc:  # noqa: BLE001 - never raise: the source itself is the finding
        parser.read_error(f"input is not bytes or an iterable of bytes: {exc!r}")
        return
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a dropped connection is evidence, not a crash
            parser.read_error(f"reading the stream failed: {exc!r}")
            return
        try:
            # memoryview accepts every bytes-like object and rejects str and int (bytes(5)
            # would silently give five NUL bytes).
            yield memoryview(chunk).tobytes()
        except TypeError:
            parser.read_error(f"chunk of type {type(chunk).__name__} is not bytes")
            return


class _Parser:
    """Mutable state of one parse; private so the records stay the only public surface."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max(0, int(max_bytes))
        # Line splitting over chunks: _buf[_start:] is the unfinished line, _buf[_scan:] has
        # not been searched for CR/LF yet, _base is the stream offset of _buf[0].
        self._buf = bytearray()
        self._base = 0
        self._start = 0
        self._scan = 0
        self._consumed = 0
        self._line_no = 0
        self._too_large = False
        # The three WHATWG buffers (the data buffer as its lines, so "\n".join is the event data).
        self._data: list[str] = []
        self._event_type = ""
        self._last_event_id = ""
        # Our bookkeeping for the current block (fields since the last blank line).
        self._block_line: int | None = None
        self._block_offset = 0
        self._block_retry: int | None = None
        self._events: list[SSEEvent] = []
        self._comments: list[str] = []
        self._findings: list[Finding] = []
        self._code_counts: dict[str, int] = {}
        self._endings: dict[str, int] = {}  # line ending -> first line that used it

    # -- input ---------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bool:
        """Take one chunk; False once the byte budget is spent and reading should stop."""
        room = self._max_bytes - self._consumed
        if len(chunk) > room:
            chunk = chunk[:room]
            self._too_large = True
        self._consumed += len(chunk)
        self._buf += chunk
        self._split_lines(at_eof=False)
        if self._too_large:
            self._add(
                "too_large",
                f"stream exceeds max_bytes={self._max_bytes}; parsing stopped there",
                None,
                offset=self._max_bytes,
            )
            return False
        return True

    def read_error(self, message: str) -> None:
        self._add("read_error", message, None, offset=self._consumed)

    def _split_lines(self, *, at_eof: bool) -> None:
        buf = self._buf
        while True:
            match = _EOL.search(buf, self._scan)
            if match is None:
                self._scan = len(buf)
                break
            i = match.start()
            if buf[i] == _CR:
                if i + 1 == len(buf) and not at_eof:
                    # CR LF may straddle two chunks: wait for the next byte before deciding.
                    self._scan = i
                    break
                ending = "\r\n" if i + 1 < len(buf) and buf[i + 1] == _LF else "\r"
            else:
                ending = "\n"
            raw = bytes(buf[self._start : i])
            offset = self._base + self._start
            self._start = self._scan = i + len(ending)
            self._line(raw, offset, ending)
        if self._start > 65536 and self._start * 2 > len(buf):
            # Drop parsed bytes now and then: the buffer holds the unfinished line, not the
            # stream, and halving before deleting keeps the copying linear overall.
            del buf[: self._start]
            self._base += self._start
            self._scan -= self._start
            self._start = 0

    # -- lines -----------------------------------------------------------------------------

    def _line(self, raw: bytes, offset: int, ending: str | None) -> None:
        """Handle one line; ending None means the unterminated tail at end of stream."""
        line_no = self._line_no + 1
        if ending is not None:
            self._line_no = line_no
            self._endings.setdefault(ending, line_no)
        if line_no == 1 and raw.startswith(_BOM):
            # WHATWG "UTF-8 decode" strips one leading BOM; only at the very start of the stream.
            raw = raw[len(_BOM) :]
            offset += len(_BOM)
            self._add(
                "bom",
                "stream starts with a UTF-8 BOM; stripped per WHATWG (openai-python does not "
                "strip it, so it ignores the first line's field)",
                1,
                offset=0,
            )
        text = self._decode(raw, offset, line_no)
        if ending is None:
            self._unterminated_tail(text, line_no, offset)
        else:
            self._interpret(text, line_no, offset)

    def _decode(self, raw: bytes, offset: int, line_no: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", "replace")
            self._add(
                "invalid_utf8",
                f"invalid UTF-8 at byte offset {offset + exc.start} "
                f"({raw[exc.start:exc.start + 4]!r}...); decoded as U+FFFD: {excerpt(text)}",
                line_no,
                offset=offset + exc.start,
            )
            return text

    def _interpret(self, text: str, line_no: int, offset: int) -> None:
        """The WHATWG steps for one complete line."""
        if text == "":
            self._dispatch(line_no, offset)
            return
        if text[0] == ":":
            self._comments.append(_strip_one_space(text[1:]))
            return
        name, colon, value = text.partition(":")
        value = _strip_one_space(value)
        if self._block_line is None:
            self._block_line, self._block_offset = line_no, offset
        if not colon:
            self._add("field_without_colon",
                      f"field line without a colon: {excerpt(name)} (value taken as empty)", line_no,
                      offset=offset)
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" in value:
                self._add("null_in_id", f"id contains U+0000, field ignored: {excerpt(value)}",
                          line_no, offset=offset)
            else:
                self._last_event_id = value
        elif name == "retry":
            self._retry(value, line_no, offset)
        elif colon and name.strip().lower() in _KNOWN_FIELDS:
            self._add("misspelled_field",
                      f"field {excerpt(name)} is not {name.strip().lower()!r} (field names are "
                      f"exact); the line is ignored: {excerpt(value)}", line_no,
                      offset=offset)
        elif colon:
            self._add("unknown_field", f"unknown field {excerpt(name)} ignored", line_no,
                      offset=offset)

    def _retry(self, value: str, line_no: int, offset: int) -> None:
        if value.isascii() and value.isdigit():
            try:
                self._block_retry = int(value)
                return
            except ValueError:  # more digits than int() converts; the value is absurd anyway
                pass
        self._add("invalid_retry", f"retry is not only ASCII digits, ignored: {excerpt(value)}",
                  line_no, offset=offset)

    def _dispatch(self, line_no: int, offset: int) -> None:
        """WHATWG "dispatch the event", plus notes on blank lines that dispatch nothing."""
        if self._data:
            data = "\n".join(self._data)
            first_line = self._block_line if self._block_line is not None else line_no
            first_offset = self._block_offset if self._block_line is not None else offset
            self._events.append(
                SSEEvent(
                    data=data,
                    event=self._event_type or None,
                    id=self._last_event_id or None,
                    retry=self._block_retry,
                    line=first_line,
                    offset=first_offset,
                )
            )
        elif self._event_type or self._block_retry is not None or self._last_event_id:
            # Legal and silent in a browser, but decoders that dispatch whenever any field is
            # pending (openai-python's SSEDecoder, whose last event ID never clears) emit an
            # event with empty data here. The last event ID persists, so this also fires on
            # blank lines after keep-alive comments once a stream has used `id:`.
            state = [f"event={self._event_type!r}"] if self._event_type else []
            if self._block_retry is not None:
                state.append(f"retry={self._block_retry}")
            if self._last_event_id:
                state.append(f"last event id={excerpt(self._last_event_id)}")
            self._add("event_without_data",
                      f"blank line with no data but {', '.join(state)} pending: WHATWG dispatches "
                      "nothing; openai-python dispatches an event with empty data", line_no,
                      offset=offset)
        self._data = []
        self._event_type = ""
        self._block_line = None
        self._block_retry = None

    def _unterminated_tail(self, text: str, line_no: int, offset: int) -> None:
        """The bytes after the last line ending: not a line, so WHATWG discards them."""
        name = text.partition(":")[0] if text and text[0] != ":" else ""
        tail_is_data = name == "data"
        if self._data or tail_is_data:
            pending = "\n".join(self._data)
            parts = [f"pending data {excerpt(pending)}"] if self._data else []
            if tail_is_data:
                parts.append(f"unterminated line {excerpt(text)}")
            self._add("unterminated_event",
                      f"stream ended before the blank line that dispatches the event; discarded "
                      f"{' and '.join(parts)}", self._block_line or line_no,
                      offset=self._block_offset if self._block_line else offset)
        elif text:
            self._add("unterminated_line",
                      f"last line has no line ending: {excerpt(text)}", line_no, offset=offset)

    # -- output ----------------------------------------------------------------------------

    def _add(self, code: str, message: str, line: int | None, *, offset: int | None = None) -> None:
        count = self._code_counts.get(code, 0) + 1
        self._code_counts[code] = count
        if count <= MAX_FINDINGS_PER_CODE:
            self._findings.append(_finding(code, message, line, offset))

    def finish(self) -> SSEParse:
        if not self._too_large:
            self._split_lines(at_eof=True)
            if self._start < len(self._buf):
                self._line(bytes(self._buf[self._start :]), self._base + self._start, None)
            elif self._data:
                self._unterminated_tail("", self._line_no + 1, self._base + self._start)
        if len(self._endings) > 1:
            ordered = sorted(self._endings.items(), key=lambda item: item[1])
            names = ", ".join(f"{_ENDING_NAMES[e]} from line {n}" for e, n in ordered)
            self._add("mixed_line_endings", f"line endings are mixed: {names}", ordered[1][1])
        for code, count in self._code_counts.items():
            if count > MAX_FINDINGS_PER_CODE:
                extra = count - MAX_FINDINGS_PER_CODE
                self._findings.append(_finding(code, f"... and {extra} more {code} findings not recorded"))
        return SSEParse(
            events=tuple(self._events),
            comments=tuple(self._comments),
            findings=tuple(self._findings),
            line_endings=frozenset(self._endings),
            bytes_total=self._consumed,
        )


def _finding(code: str, message: str, line: int | None = None, offset: int | None = None) -> Finding:
    return Finding(code, message, FINDING_CODES[code].severity, line=line, offset=offset, layer=SSE)


def _strip_one_space(value: str) -> str:
    return value[1:] if value.startswith(" ") else value
