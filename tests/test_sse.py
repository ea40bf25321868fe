"""Specification of conformance.sse: the WHATWG event-stream rules, and the findings it records.

Each table row is a hand-written wire sample. Rows of LEGAL_VARIANTS must parse to the same
event data as CANONICAL with no violations; rows of FRAMING_FINDINGS name the finding codes a
sample must produce. The hypothesis tests at the end pin the two promises that tables cannot
cover: parse_sse never raises, and chunk boundaries never change its result.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.sse import (
    FINDING_CODES,
    INFO,
    MAX_FINDINGS_PER_CODE,
    VIOLATION,
    SSEEvent,
    SSEParse,
    parse_sse,
)
from conformance.results import Finding

CANONICAL = b'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n'
CANONICAL_DATA = ['{"n":1}', '{"n":2}', "[DONE]"]


def one_byte_chunks(raw: bytes) -> Iterator[bytes]:
    return (raw[i : i + 1] for i in range(len(raw)))


def fields(parse: SSEParse) -> list[tuple[str, str | None, str | None, int | None]]:
    return [(e.data, e.event, e.id, e.retry) for e in parse.events]


# -- the WHATWG interpretation rules, one per row -------------------------------------------

WHATWG_RULES = [
    # (rule, wire, expected (data, event, id, retry) per dispatched event)
    ("one space after the colon is removed", b"data: x\n\n", [("x", None, None, None)]),
    ("no space after the colon is fine", b"data:x\n\n", [("x", None, None, None)]),
    ("only the first space is removed", b"data:  x\n\n", [(" x", None, None, None)]),
    ("data lines are joined with LF", b"data: a\ndata: b\n\n", [("a\nb", None, None, None)]),
    ("an empty data line still dispatches, with data ''", b"data:\n\n", [("", None, None, None)]),
    ("a field line without colon has an empty value", b"data\n\n", [("", None, None, None)]),
    ("two empty data lines give one LF", b"data:\ndata:\n\n", [("\n", None, None, None)]),
    ("a blank line with no data dispatches nothing", b"\n\n\n", []),
    ("event type alone dispatches nothing", b"event: ping\n\n", []),
    ("event type is kept", b"event: delta\ndata: x\n\n", [("x", "delta", None, None)]),
    ("an empty event type means none", b"event:\ndata: x\n\n", [("x", None, None, None)]),
    ("event type resets after dispatch", b"event: a\ndata: 1\n\ndata: 2\n\n",
     [("1", "a", None, None), ("2", None, None, None)]),
    ("event type resets on a blank line without data", b"event: a\n\ndata: 1\n\n",
     [("1", None, None, None)]),
    ("a comment is ignored", b": hello\ndata: x\n\n", [("x", None, None, None)]),
    ("'data: : x' is data, not a comment", b"data: : keepalive\n\n",
     [(": keepalive", None, None, None)]),
    ("the value is everything after the first colon", b"data: a:b: c\n\n",
     [("a:b: c", None, None, None)]),
    ("the last event id persists across events", b"id: 7\ndata: a\n\ndata: b\n\n",
     [("a", None, "7", None), ("b", None, "7", None)]),
    ("an empty id clears the last event id", b"id: 7\ndata: a\n\nid\ndata: b\n\n",
     [("a", None, "7", None), ("b", None, None, None)]),
    ("an id with NUL is ignored", b"id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\n",
     [("a", None, "7", None), ("b", None, "7", None)]),
    ("retry with ASCII digits is kept", b"retry: 1500\ndata: x\n\n", [("x", None, None, 1500)]),
    ("retry with anything else is ignored", b"retry: 1.5\ndata: x\n\n", [("x", None, None, None)]),
    ("unknown fields are ignored", b"foo: bar\ndata: x\n\n", [("x", None, None, None)]),
    ("field names are case-sensitive", b"Data: x\n\n", []),
    ("a pending event at end of stream is discarded", b"data: a\n\ndata: b\n", [("a", None, None, None)]),
    ("an unterminated last line is discarded", b"data: a\n\ndata: b", [("a", None, None, None)]),
    ("a CR at end of stream ends the line", b"data: a\r\r", [("a", None, None, None)]),
    ("a leading BOM is stripped", b"\xef\xbb\xbfdata: a\n\n", [("a", None, None, None)]),
    ("a BOM later is part of the line", b"data: a\n\n\xef\xbb\xbfdata: b\n\n",
     [("a", None, None, None)]),
    ("NUL inside data is kept", b"data: a\x00b\n\n", [("a\x00b", None, None, None)]),
]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [pytest.param(wire, expected, id=rule) for rule, wire, expected in WHATWG_RULES],
)
def test_whatwg_interpretation(wire: bytes, expected: list[tuple]) -> None:
    assert fields(parse_sse(wire)) == expected
    assert fields(parse_sse(one_byte_chunks(wire))) == expected


# -- legal variations: same events, no violations ----------------------------------------------

LEGAL_VARIANTS = {
    "canonical": CANONICAL,
    "CRLF": CANONICAL.replace(b"\n", b"\r\n"),
    "CR": CANONICAL.replace(b"\n", b"\r"),
    "mixed LF, CRLF, CR": b'data: {"n":1}\r\n\ndata: {"n":2}\r\r\ndata: [DONE]\n\r',
    "no space after colon": CANONICAL.replace(b"data: ", b"data:"),
    "comments between and inside events":
        b': ping\n\ndata: {"n":1}\n: inside\n\n:\n\ndata: {"n":2}\n\ndata: [DONE]\n\n',
    "id, retry and event fields":
        b'id: 1\nretry: 3000\ndata: {"n":1}\n\nevent: message\nid: 2\ndata: {"n":2}\n\n'
        b"id: 3\ndata: [DONE]\n\n",
    "field order inside an event": b'data: {"n":1}\nid: 1\n\ndata: {"n":2}\nevent: x\n\n'
                                   b"data: [DONE]\n\n",
    "unknown fields": b'x-trace: abc\ndata: {"n":1}\n\ndata: {"n":2}\nfoo\n\ndata: [DONE]\n\n',
    "extra blank lines": b'\n\ndata: {"n":1}\n\n\n\ndata: {"n":2}\n\ndata: [DONE]\n\n\n',
    "BOM at start": b"\xef\xbb\xbf" + CANONICAL,
}


@pytest.mark.parametrize("wire", LEGAL_VARIANTS.values(), ids=LEGAL_VARIANTS.keys())
def test_legal_variant_gives_canonical_events_and_no_violations(wire: bytes) -> None:
    parse = parse_sse(wire)
    assert [e.data for e in parse.events] == CANONICAL_DATA
    assert parse.violations() == []
    assert {f.severity for f in parse.findings} <= {INFO}


@pytest.mark.parametrize("wire", LEGAL_VARIANTS.values(), ids=LEGAL_VARIANTS.keys())
def test_one_byte_chunks_give_the_same_parse(wire: bytes) -> None:
    assert parse_sse(one_byte_chunks(wire)) == parse_sse(wire)


# -- findings: what each oddity is called ------------------------------------------------------

FRAMING_FINDINGS = [
    # (case, wire, codes that must appear)
    ("invalid UTF-8", b"data: caf\xe9\n\n", {"invalid_utf8"}),
    ("truncated UTF-8 sequence", b"data: \xe2\x82\n\n", {"invalid_utf8"}),
    ("pending data at end of stream", b"data: a\n\ndata: b\n", {"unterminated_event"}),
    ("unterminated data line", b"data: a\n\ndata: [DONE]", {"unterminated_event"}),
    ("unterminated comment line", b"data: a\n\n: bye", {"unterminated_line"}),
    ("misspelled field", b"Data: x\n\n", {"misspelled_field"}),
    ("space before the field name", b" data: x\n\n", {"misspelled_field"}),
    ("retry not digits", b"retry: soon\ndata: x\n\n", {"invalid_retry"}),
    ("negative retry", b"retry: -1\ndata: x\n\n", {"invalid_retry"}),
    ("NUL in id", b"id: a\x00b\ndata: x\n\n", {"null_in_id"}),
    ("BOM", b"\xef\xbb\xbfdata: x\n\n", {"bom"}),
    ("mixed line endings", b"data: a\r\n\ndata: b\n\n", {"mixed_line_endings"}),
    ("unknown field", b"foo: bar\ndata: x\n\n", {"unknown_field"}),
    ("field without colon", b"data\n\n", {"field_without_colon"}),
    ("event type without data", b"event: ping\n\n", {"event_without_data"}),
    ("retry without data", b"retry: 3000\n\n", {"event_without_data"}),
    ("blank line after a comment once id was used", b"id: 1\ndata: a\n\n: ping\n\n",
     {"event_without_data"}),
]


@pytest.mark.parametrize(
    ("wire", "codes"), [pytest.param(w, c, id=case) for case, w, c in FRAMING_FINDINGS]
)
def test_oddity_is_recorded_as_finding(wire: bytes, codes: set[str]) -> None:
    parse = parse_sse(wire)
    assert codes <= parse.codes()
    for finding in parse.findings:
        assert finding.severity == FINDING_CODES[finding.code].severity


def test_every_code_has_a_known_severity() -> None:
    assert {spec.severity for spec in FINDING_CODES.values()} <= {VIOLATION, INFO}


def test_findings_are_results_records_of_the_sse_layer() -> None:
    (finding,) = parse_sse(b"Data: x\n\ndata: y\n\n").findings
    assert isinstance(finding, Finding) and finding.layer == "sse"
    assert (finding.code, finding.line, finding.offset, finding.severity) == ("misspelled_field", 1, 0, VIOLATION)
    assert FINDING_CODES[finding.code].layer == "sse"
    assert Finding.from_dict(finding.to_dict()) == finding  # the layer is told by the members it has


def test_an_event_with_empty_data_is_ordinary_whatwg_and_left_to_the_chat_layer() -> None:
    """One code, one severity: `empty_data_event` is the chat layer's violation (openai-python
    raises on it), so the WHATWG layer, for which such an event is ordinary, says nothing."""
    parse = parse_sse(b"data:\n\ndata: [DONE]\n\n")
    assert [e.data for e in parse.events] == ["", "[DONE]"] and parse.findings == ()
    assert FINDING_CODES["empty_data_event"].layer == "stream"
    assert FINDING_CODES["empty_data_event"].severity == VIOLATION


def test_blank_line_after_comment_without_id_is_silent() -> None:
    assert parse_sse(b"data: a\n\n: ping\n\n").findings == ()


def test_invalid_utf8_is_replaced_and_located_by_byte_offset() -> None:
    parse = parse_sse(b"data: ok\n\ndata: caf\xe9!\n\n")
    assert parse.events[1].data == "caf\ufffd!"
    (finding,) = parse.findings
    assert (finding.code, finding.severity, finding.line, finding.offset) == (
        "invalid_utf8", VIOLATION, 3, 19)


def test_unterminated_event_reports_the_discarded_data() -> None:
    (finding,) = parse_sse(b'data: {"n":1}\n\ndata: {"partial').findings
    assert finding.code == "unterminated_event"
    assert finding.severity == VIOLATION
    assert '{"partial' in finding.message
    assert finding.line == 3


def test_event_records_line_and_byte_offset_of_its_first_field() -> None:
    parse = parse_sse(b": c\r\n\r\nid: 1\r\ndata: x\r\n\r\n")
    assert parse.events == (SSEEvent(data="x", event=None, id="1", retry=None, line=3, offset=7),)


def test_offsets_after_a_bom_count_the_bom_bytes() -> None:
    parse = parse_sse(b"\xef\xbb\xbfdata: a\n\ndata: b\n\n")
    assert [(e.line, e.offset) for e in parse.events] == [(1, 3), (3, 12)]


def test_comments_are_recorded_without_the_leading_space() -> None:
    assert parse_sse(b": ping\n:  two\n:\n").comments == ("ping", " two", "")


def test_line_endings_are_reported() -> None:
    assert parse_sse(b"a\r\nb\rc\n").line_endings == frozenset({"\r\n", "\r", "\n"})
    assert parse_sse(b"data: x\n\n").line_endings == frozenset({"\n"})


def test_cr_and_lf_split_across_chunks_are_one_crlf() -> None:
    split = parse_sse([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert [e.data for e in split.events] == ["a\nb"]
    assert split.line_endings == frozenset({"\r\n"})
    assert split == parse_sse(b"data: a\r\ndata: b\r\n\r\n")


def test_bom_split_across_chunks_is_still_a_bom() -> None:
    assert parse_sse([b"\xef", b"\xbb", b"\xbfdata: a\n\n"]) == parse_sse(b"\xef\xbb\xbfdata: a\n\n")


def test_too_large_stops_parsing_and_is_a_violation() -> None:
    wire = b"data: x\n\n" * 10
    parse = parse_sse(wire, max_bytes=20)
    assert [e.data for e in parse.events] == ["x", "x"]
    assert parse.bytes_total == 20
    assert [f.code for f in parse.violations()] == ["too_large"]
    assert parse_sse(one_byte_chunks(wire), max_bytes=20) == parse


def test_exactly_max_bytes_is_not_too_large() -> None:
    assert parse_sse(b"data: x\n\n", max_bytes=9).findings == ()


def test_failing_source_becomes_read_error() -> None:
    def broken() -> Iterator[bytes]:
        yield b"data: a\n\ndata: b\n"
        raise ConnectionError("peer closed")

    parse = parse_sse(broken())
    assert [e.data for e in parse.events] == ["a"]
    assert [f.code for f in parse.violations()] == ["read_error", "unterminated_event"]


@pytest.mark.parametrize("source", [["data: x\n\n"], "data: x\n\n", [5], 42, None],
                         ids=["list of str", "str", "list of int", "int", "None"])
def test_non_bytes_input_is_a_read_error_not_an_exception(source: object) -> None:
    parse = parse_sse(source)  # type: ignore[arg-type]
    assert "read_error" in parse.codes()


def test_findings_per_code_are_capped_with_a_summary() -> None:
    parse = parse_sse(b"foo: bar\n" * (MAX_FINDINGS_PER_CODE + 30))
    unknown = [f for f in parse.findings if f.code == "unknown_field"]
    assert len(unknown) == MAX_FINDINGS_PER_CODE + 1
    assert "30 more" in unknown[-1].message


# -- properties ------------------------------------------------------------------------------

def split_at(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    bounds = [0, *points, len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:])]


# Bytes that matter to the parser, so random streams hit CR/LF/colon/BOM/UTF-8 edges often.
wire_bytes = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"id", b"event", b"retry",
                     b"\xef\xbb\xbf", b"\xe2\x82", b"\xac", b"\xff", b"\x00", b"x", b"7"])
    | st.binary(max_size=4),
    max_size=40,
).map(b"".join)

# database=None: no .hypothesis directory in the work tree; examples stay modest for speed.
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(raw=wire_bytes, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_parse_never_raises_and_chunking_never_changes_the_result(raw: bytes, cuts: list[int]) -> None:
    whole = parse_sse(raw)
    assert parse_sse(split_at(raw, cuts)) == whole
    assert parse_sse(one_byte_chunks(raw)) == whole
    assert whole.bytes_total == len(raw)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parse = parse_sse(raw)
    assert all(f.code in FINDING_CODES for f in parse.findings)


json_texts = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8), max_size=3)


@st.composite
def near_valid_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A well-formed stream with random legal framing choices, and the data it must yield."""
    import json

    payloads = [json.dumps(obj, ensure_ascii=draw(st.booleans()))
                for obj in draw(st.lists(json_texts, min_size=1, max_size=4))]
    eol = st.sampled_from(["\n", "\r\n", "\r"])
    lines: list[str] = []
    for payload in payloads:
        if draw(st.booleans()):
            lines.append(":" + draw(st.sampled_from(["", " ping", "keepalive"])))
        for kind in draw(st.lists(st.sampled_from(["id", "event", "retry", "x"]), max_size=2)):
            lines.append({"id": "id: 1", "event": "event: message", "retry": "retry: 10",
                          "x": "x-extra: y"}[kind])
        lines.append("data:" + draw(st.sampled_from(["", " "])) + payload)
        lines.append("")
        lines.extend([""] * draw(st.integers(0, 1)))
    text = "\ufeff" if draw(st.booleans()) else ""
    previous = ""
    for line in lines:
        ending = draw(eol)
        if previous == "\r" and line == "" and ending == "\n":
            ending = "\r\n"  # CR then a bare LF would be one CRLF: one line, not two
        text += line + ending
        previous = ending
    return text.encode("utf-8"), payloads


@PROPERTY_SETTINGS
@given(stream=near_valid_streams(), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_near_valid_streams_parse_to_their_payloads_whatever_the_framing(
    stream: tuple[bytes, list[str]], cuts: list[int]
) -> None:
    raw, payloads = stream
    whole = parse_sse(raw)
    assert [e.data for e in whole.events] == payloads
    assert whole.violations() == []
    assert parse_sse(split_at(raw, cuts)) == whole
