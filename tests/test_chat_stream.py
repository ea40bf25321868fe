"""Specification of conformance.chat_stream: OpenAI chat-completions framing over SSE events.

LEGAL_STREAMS must decode to the same chunks as CANONICAL with no violations; BROKEN_STREAMS
name the violation codes each must produce. The openai-python tests at the end check the
reasons given for some severities against the real client, so a change in what it tolerates
shows up here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.chat_stream import FINDING_CODES, SSE_VIOLATION_PREFIX, ChatStream, decode_chat_stream
from conformance.results import Finding
from conformance.sse import INFO, MAX_FINDINGS_PER_CODE, parse_sse


def chunk(content: str | None, index: int = 0, **extra: object) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": index, "delta": {"content": content}, "finish_reason": None}],
            **extra}


CHUNKS = [chunk("Hel"), chunk("lo"), chunk(None, usage={"prompt_tokens": 1})]
J = [json.dumps(c).encode() for c in CHUNKS]
CANONICAL = b"".join(b"data: " + j + b"\n\n" for j in J) + b"data: [DONE]\n\n"


def one_byte_chunks(raw: bytes) -> Iterator[bytes]:
    return (raw[i : i + 1] for i in range(len(raw)))


# -- legal streams ---------------------------------------------------------------------------

LEGAL_STREAMS = {
    "canonical": CANONICAL,
    "CRLF": CANONICAL.replace(b"\n", b"\r\n"),
    "CR": CANONICAL.replace(b"\n", b"\r"),
    "mixed line endings": b"data: " + J[0] + b"\r\n\r\ndata: " + J[1] + b"\n\ndata: " + J[2]
                          + b"\r\rdata: [DONE]\r\n\n",
    "no space after data:": CANONICAL.replace(b"data: ", b"data:"),
    "two spaces: the second is data, and JSON allows it": CANONICAL.replace(b"data: {", b"data:  {"),
    "keep-alive comments": b": ping\n\n" + CANONICAL.replace(b"\n\ndata", b"\n\n: ping\n\ndata"),
    "JSON split over data lines": b"data: " + J[0].replace(b', "', b',\ndata: "')
                                  + b"\n\n" + CANONICAL.split(b"\n\n", 1)[1],
    "pretty-printed JSON over data lines":
        b"".join(b"".join(b"data: " + line.encode() + b"\n"
                          for line in json.dumps(c, indent=1).splitlines()) + b"\n"
                 for c in CHUNKS) + b"data: [DONE]\n\n",
    "id and retry inside events": b"retry: 5000\nid: 1\ndata: " + J[0] + b"\n\nid: 2\ndata: " + J[1]
                                  + b"\n\nid: 3\ndata: " + J[2] + b"\n\nid: 4\ndata: [DONE]\n\n",
    "event: message": CANONICAL.replace(b"data: ", b"event: message\ndata: "),
    "unknown fields": CANONICAL.replace(b"data: ", b"x-request-id: abc\ndata: "),
    "BOM at start": b"\xef\xbb\xbf" + CANONICAL,
    "[DONE] with trailing space": CANONICAL.replace(b"[DONE]", b"[DONE] "),
    "blank lines after [DONE]": CANONICAL + b"\n\n",
}


@pytest.mark.parametrize("wire", LEGAL_STREAMS.values(), ids=LEGAL_STREAMS.keys())
def test_legal_stream_gives_the_canonical_chunks_and_no_violations(wire: bytes) -> None:
    stream = decode_chat_stream(wire)
    assert list(stream.chunks) == CHUNKS
    assert stream.done
    assert stream.events_after_done == 0
    assert stream.violations() == []
    assert {f.severity for f in stream.findings} <= {INFO}


@pytest.mark.parametrize("wire", LEGAL_STREAMS.values(), ids=LEGAL_STREAMS.keys())
def test_one_byte_chunks_decode_the_same(wire: bytes) -> None:
    assert decode_chat_stream(one_byte_chunks(wire)) == decode_chat_stream(wire)


# -- broken streams --------------------------------------------------------------------------

BODY = b"data: " + J[0] + b"\n\n"
DONE = b"data: [DONE]\n\n"

BROKEN_STREAMS = [
    # (case, wire, violation codes that must appear)
    ("keep-alive sent as data, not as a comment", BODY + b"data: : keepalive\n\n" + DONE,
     {"invalid_json"}),
    ("empty data event", BODY + b"data:\n\n" + DONE, {"empty_data_event"}),
    ("whitespace-only data event", BODY + b"data:  \n\n" + DONE, {"empty_data_event"}),
    ("missing [DONE]", BODY, {"no_done"}),
    ("data after [DONE]", BODY + DONE + BODY, {"data_after_done"}),
    ("unterminated last event", BODY + b"data: " + J[1] + b"\n", {"sse_violation:unterminated_event"}),
    ("[DONE] without its blank line", BODY + b"data: [DONE]",
     {"sse_violation:unterminated_event", "no_done"}),
    ("invalid UTF-8", b'data: {"a":"\xff"}\n\n' + DONE, {"sse_violation:invalid_utf8"}),
    ("JSON array", BODY + b"data: [1, 2]\n\n" + DONE, {"non_object_json"}),
    ("JSON string", BODY + b'data: "hi"\n\n' + DONE, {"non_object_json"}),
    ("NaN in JSON", b'data: {"x": NaN}\n\n' + DONE, {"non_standard_json"}),
    ("truncated JSON", b'data: {"choices": [\n\n' + DONE, {"invalid_json"}),
    ("[DONE] after two spaces", BODY + b"data:  [DONE]\n\n", {"done_leading_whitespace"}),
    ("[DONE] with more after it", BODY + b"data: [DONE] bye\n\n", {"malformed_done", "no_done"}),
    ("lower-case done", BODY + b"data: [done]\n\n", {"invalid_json", "no_done"}),
    ("event type without data", b"event: ping\n\n" + BODY + DONE, {"dataless_event"}),
    ("retry alone", b"retry: 3000\n\n" + BODY + DONE, {"dataless_event"}),
    ("keep-alive comment after an id", b"id: 1\n" + BODY + b": ping\n\n" + DONE, {"dataless_event"}),
    ("Assistants event type", b"event: thread.message.delta\n" + BODY + DONE,
     {"assistants_event_type"}),
    ("`event: error` without an error object", BODY + b'event: error\ndata: {"msg": "x"}\n\n' + DONE,
     {"error_event_without_error_key"}),
    ("misspelled data field", b"Data: " + J[0] + b"\n\n" + DONE, {"sse_violation:misspelled_field"}),
    ("raw JSON lines instead of SSE", J[0] + b"\n" + J[1] + b"\n", {"no_events", "no_done"}),
    ("empty body", b"", {"no_events", "no_done"}),
]


@pytest.mark.parametrize(
    ("wire", "codes"), [pytest.param(w, c, id=case) for case, w, c in BROKEN_STREAMS]
)
def test_broken_stream_produces_violations(wire: bytes, codes: set[str]) -> None:
    stream = decode_chat_stream(wire)
    assert codes <= {f.code for f in stream.violations()}


@pytest.mark.parametrize(
    ("wire", "codes"), [pytest.param(w, c, id=case) for case, w, c in BROKEN_STREAMS]
)
def test_every_finding_has_its_catalogued_severity(wire: bytes, codes: set[str]) -> None:
    for finding in decode_chat_stream(wire).findings:
        key = SSE_VIOLATION_PREFIX + "<code>" if finding.code.startswith(SSE_VIOLATION_PREFIX) \
            else finding.code
        assert finding.severity == FINDING_CODES[key].severity


def test_findings_are_results_records_of_the_stream_layer() -> None:
    stream = decode_chat_stream(BODY + b"data:\n\n" + DONE)
    (finding,) = stream.findings
    assert isinstance(finding, Finding) and finding.layer == "stream"
    assert (finding.code, finding.severity) == ("empty_data_event", "violation")
    assert finding.event_index is not None and stream.sse.events[finding.event_index].data == ""
    data = finding.to_dict()
    assert list(data) == ["code", "message", "event_index", "severity"]  # results.json's order
    assert Finding.from_dict(data) == finding


def test_every_chat_code_is_the_stream_layers_own() -> None:
    """The one table holds both layers' codes; none is shared, so each has one meaning and severity."""
    layers = {spec.layer for spec in FINDING_CODES.values()}
    assert layers == {"sse", "stream"}
    for finding in decode_chat_stream(BODY + b"event: thread.x\ndata: {}\n\n" + DONE + DONE).findings:
        assert FINDING_CODES[finding.code].layer == "stream"


def test_invalid_json_finding_names_the_event_and_quotes_a_bounded_excerpt() -> None:
    stream = decode_chat_stream(BODY + b"data: " + b"x" * 5000 + b"\n\n" + DONE)
    (finding,) = stream.violations()
    assert (finding.code, finding.event_index) == ("invalid_json", 1)
    assert len(finding.message) < 400


def test_chunks_before_a_broken_event_are_kept() -> None:
    stream = decode_chat_stream(BODY + b"data: oops\n\n" + b"data: " + J[1] + b"\n\n" + DONE)
    assert list(stream.chunks) == CHUNKS[:2]
    assert stream.chunk_events == (0, 2)


def test_events_after_done_are_counted_and_not_decoded() -> None:
    stream = decode_chat_stream(BODY + DONE + BODY + b"data: junk\n\n")
    assert stream.events_after_done == 2
    assert list(stream.chunks) == CHUNKS[:1]
    assert "invalid_json" not in stream.codes()


def test_blank_lines_with_an_id_after_done_are_harmless() -> None:
    stream = decode_chat_stream(b"id: 1\n" + BODY + DONE + b": bye\n\n")
    assert stream.violations() == []


def test_in_stream_error_is_captured_and_ends_without_done() -> None:
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    stream = decode_chat_stream(BODY + b"data: " + json.dumps(error).encode() + b"\n\n")
    assert stream.error_event == error
    assert list(stream.chunks) == CHUNKS[:1]
    assert stream.codes() == {"error_event", "no_done_after_error"}
    assert stream.violations() == []


def test_event_error_with_non_json_data_is_kept_as_the_error() -> None:
    stream = decode_chat_stream(b"event: error\ndata: upstream timeout\n\n")
    assert stream.error_event == {"event": "error", "data": "'upstream timeout'"}


def test_null_error_key_is_an_ordinary_chunk_as_in_openai_python() -> None:
    stream = decode_chat_stream(b'data: {"error": null, "choices": []}\n\n' + DONE)
    assert stream.error_event is None
    assert len(stream.chunks) == 1


def test_other_event_types_are_info_because_openai_python_ignores_them() -> None:
    stream = decode_chat_stream(b"event: completion\n" + BODY + DONE)
    assert [f.code for f in stream.findings] == ["unexpected_event_type"]
    assert stream.violations() == []
    assert len(stream.chunks) == 1


def test_text_concatenates_content_by_choice_index_not_position() -> None:
    wire = b"".join(
        b"data: " + json.dumps(c).encode() + b"\n\n"
        for c in [
            {"choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"role": "assistant"}}]},
            {"choices": [{"index": 0, "delta": {"content": "A"}}]},
            {"choices": [{"index": 1, "delta": {"content": None}}]},
            {"choices": [{"index": 1, "delta": {"content": "b"}}], "usage": None},
            {"choices": [], "usage": {"total_tokens": 3}},
            {"no_choices": True},
            {"choices": [{"delta": {"content": "?"}}]},  # no index: falls back to position 0
        ]
    ) + DONE
    stream = decode_chat_stream(wire)
    assert stream.text(0) == "A?"
    assert stream.text(1) == "Bb"
    assert stream.text(2) == ""
    assert stream.usage_chunks() == [{"choices": [], "usage": {"total_tokens": 3}}]


def test_accepts_an_existing_sse_parse() -> None:
    assert decode_chat_stream(parse_sse(CANONICAL)) == decode_chat_stream(CANONICAL)


def test_sse_violations_are_lifted_with_their_line() -> None:
    stream = decode_chat_stream(b"retry: x\n" + BODY + DONE)
    (finding,) = stream.violations()
    assert finding.code == "sse_violation:invalid_retry"
    assert finding.message.startswith("line 1:")


def test_findings_per_code_are_capped_with_a_summary() -> None:
    stream = decode_chat_stream(b"data: x\n\n" * (MAX_FINDINGS_PER_CODE + 5) + DONE)
    invalid = [f for f in stream.findings if f.code == "invalid_json"]
    assert len(invalid) == MAX_FINDINGS_PER_CODE + 1
    assert "5 more" in invalid[-1].message


# -- what openai-python does with the same bytes -----------------------------------------------

def openai_python_reads(wire: bytes) -> list[object]:
    """Mimic openai.Stream.__stream__: stop at data starting with [DONE], json.loads the rest."""
    streaming = pytest.importorskip("openai._streaming")
    values: list[object] = []
    for sse in streaming.SSEDecoder().iter_bytes(iter([wire])):
        if sse.data.startswith("[DONE]"):
            break
        values.append(sse.json())
    return values


LEGAL_FOR_OPENAI_PYTHON = {k: v for k, v in LEGAL_STREAMS.items() if k != "BOM at start"}


@pytest.mark.parametrize("wire", LEGAL_FOR_OPENAI_PYTHON.values(), ids=LEGAL_FOR_OPENAI_PYTHON.keys())
def test_openai_python_reads_legal_streams_as_we_do(wire: bytes) -> None:
    assert openai_python_reads(wire) == CHUNKS


def test_openai_python_loses_the_first_event_after_a_bom() -> None:
    # Legal per WHATWG (so only "info" here), but worth knowing when a provider sends one.
    assert openai_python_reads(b"\xef\xbb\xbf" + CANONICAL) == CHUNKS[1:]


RAISES_IN_OPENAI_PYTHON = [
    "keep-alive sent as data, not as a comment", "empty data event", "whitespace-only data event",
    "invalid UTF-8", "truncated JSON", "[DONE] after two spaces", "lower-case done",
    "event type without data", "retry alone", "keep-alive comment after an id",
]


@pytest.mark.parametrize("case", RAISES_IN_OPENAI_PYTHON)
def test_violations_said_to_make_openai_python_raise_do(case: str) -> None:
    wire = {c: w for c, w, _ in BROKEN_STREAMS}[case]
    with pytest.raises(ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        openai_python_reads(wire)


# -- properties ------------------------------------------------------------------------------

# database=None: no .hypothesis example database in the work tree; examples stay modest.
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


def split_at(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    bounds = [0, *points, len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:])]


def same(a: ChatStream, b: ChatStream) -> bool:
    return repr(a) == repr(b)  # repr, not ==: NaN in a decoded chunk is never equal to itself


wire_pieces = st.lists(
    st.sampled_from([b"data:", b"data: ", b"event: error", b"event: thread.x", b"id: 1",
                     b"[DONE]", b" [DONE]", b"{", b"}", b"[", b"]", b'"error":', b'"a":1', b",",
                     b"NaN", b"null", b"\n", b"\r", b"\r\n", b"\n\n", b": ping", b"\xff", b"\xef\xbb\xbf"])
    | st.binary(max_size=3),
    max_size=30,
).map(b"".join)


@PROPERTY_SETTINGS
@given(raw=wire_pieces, cuts=st.lists(st.integers(0, 200), max_size=8))
def test_decode_never_raises_and_chunking_never_changes_the_result(raw: bytes, cuts: list[int]) -> None:
    whole = decode_chat_stream(raw)
    assert same(decode_chat_stream(split_at(raw, cuts)), whole)
    assert whole.text() == whole.text(0)
    whole.usage_chunks()
    whole.violations()


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    stream = decode_chat_stream(raw)
    assert stream.violations()  # random bytes are never a valid chat stream


contents = st.lists(st.text(max_size=6), min_size=1, max_size=5)


@st.composite
def framed_streams(draw: st.DrawFn) -> tuple[bytes, str]:
    """A valid stream of content deltas with random legal framing, and the text it carries."""
    texts = draw(contents)
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    sep = draw(st.sampled_from(["", " ", "  "]))
    events = [json.dumps(chunk(t), ensure_ascii=draw(st.booleans())) for t in texts] + ["[DONE]"]
    body = ""
    for data in events:
        if draw(st.booleans()):
            body += ": keep-alive" + eol + eol
        data_sep = sep if data != "[DONE]" else sep[:1]  # "  [DONE]" is a violation, see above
        body += "data:" + data_sep + data + eol + eol
    return body.encode(), "".join(texts)


@PROPERTY_SETTINGS
@given(stream=framed_streams(), cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_framing_choices_never_change_the_text(stream: tuple[bytes, str], cuts: list[int]) -> None:
    raw, text = stream
    decoded = decode_chat_stream(split_at(raw, cuts))
    assert decoded.text() == text
    assert decoded.done
    assert decoded.violations() == []

