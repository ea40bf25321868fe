"""Every code a stream finding can carry, with its one severity: the SSE layer and the chat layer.

What lives here: FINDING_CODES, the one table of finding codes for both stream layers. The SSE
layer (`conformance.sse`, WHATWG framing) and the chat layer (`conformance.chat_stream`, OpenAI's
framing on top) each own their codes (`CodeSpec.layer`); no code belongs to both, so a code means
one thing and has one severity wherever it shows up. What does not: finding them (the parsers)
and the Finding record itself (`conformance.evidence`, part of the results model).

Severity is judged against the client most users run, openai-python: `violation` breaks the
WHATWG rules, loses data, or makes openai-python raise or drop a chunk; `info` is legal and
tolerated but notable. So an event with empty data is a chat-layer `violation`
(`empty_data_event`: openai-python json-decodes every event and raises), judged there once; the
SSE layer, for which an empty event is ordinary WHATWG, does not report it. An SSE violation is
lifted into the chat layer as "sse_violation:" + its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

VIOLATION: Final = "violation"
INFO: Final = "info"
SSE: Final = "sse"
STREAM: Final = "stream"
SSE_VIOLATION_PREFIX: Final = "sse_violation:"


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """What a finding code means: the layer that reports it, its fixed severity, a one-line summary."""

    layer: str
    severity: str
    summary: str


def _table(layer: str, rows: dict[str, tuple[str, str]]) -> dict[str, CodeSpec]:
    return {code: CodeSpec(layer, severity, summary) for code, (severity, summary) in rows.items()}


FINDING_CODES: Final[Mapping[str, CodeSpec]] = MappingProxyType(
    _table(SSE, {
        "invalid_utf8": (VIOLATION, "bytes that are not UTF-8 (decoded as U+FFFD)"),
        "unterminated_event": (VIOLATION, "data pending at end of stream without the closing blank line; discarded"),
        "misspelled_field": (VIOLATION, "a field name that is data/event/id/retry but for case or spaces; ignored"),
        "invalid_retry": (VIOLATION, "retry value that is not only ASCII digits; ignored"),
        "null_in_id": (VIOLATION, "id value containing U+0000; ignored"),
        "too_large": (VIOLATION, "stream longer than max_bytes; parsing stopped"),
        "read_error": (VIOLATION, "reading the stream failed or a chunk was not bytes"),
        "bom": (INFO, "UTF-8 byte order mark at the start (stripped, as WHATWG says)"),
        "mixed_line_endings": (INFO, "more than one of CRLF, LF, CR used as line ending"),
        "unknown_field": (INFO, "a field other than data/event/id/retry; ignored"),
        "field_without_colon": (INFO, "a field line with no colon (empty value)"),
        "event_without_data": (INFO, "blank line ended a block with event/id/retry state but no data; not dispatched"),
        "unterminated_line": (INFO, "last line has no line ending (no data lost)"),
    })
    | _table(STREAM, {
        "no_events": (VIOLATION, "the stream dispatched no SSE events at all"),
        "no_done": (VIOLATION, "the stream ended without a `data: [DONE]` event"),
        "data_after_done": (VIOLATION, "events after [DONE]; clients never read them"),
        "invalid_json": (VIOLATION, "event data that is not JSON; openai-python raises"),
        "non_standard_json": (VIOLATION, "NaN/Infinity in JSON: Python accepts it, JSON.parse (openai-node) does not"),
        "non_object_json": (VIOLATION, "event data that is JSON but not an object"),
        "empty_data_event": (VIOLATION, "event with empty or blank data; openai-python's json.loads raises"),
        "dataless_event": (VIOLATION, "blank line that openai-python dispatches as an empty event (it raises)"),
        "done_leading_whitespace": (VIOLATION, "[DONE] preceded by whitespace; openai-python misses it and raises"),
        "done_trailing_whitespace": (INFO, "[DONE] followed by whitespace; tolerated"),
        "malformed_done": (VIOLATION, "data starting with [DONE] plus more; openai-python stops there anyway"),
        "error_event": (INFO, "the provider reported a failure mid-stream"),
        "error_event_without_error_key": (
            VIOLATION, "`event: error` whose data has no \"error\"; openai-python yields it as a chunk"
        ),
        "no_done_after_error": (INFO, "no [DONE] after an error event (as OpenAI does)"),
        "unexpected_event_type": (INFO, "an `event:` type openai-python ignores (the data is still read as a chunk)"),
        "assistants_event_type": (VIOLATION, "`event: thread.*`; openai-python wraps it, the chat chunk is lost"),
        # Stands for every "sse_violation:" + code of an SSE-layer violation.
        SSE_VIOLATION_PREFIX + "<code>": (VIOLATION, "an SSE-layer violation, lifted"),
    })
)


def severity(code: str) -> str:
    """The severity of `code` (an "sse_violation:" code is a violation, as what it lifts)."""
    key = SSE_VIOLATION_PREFIX + "<code>" if code.startswith(SSE_VIOLATION_PREFIX) else code
    return FINDING_CODES[key].severity
