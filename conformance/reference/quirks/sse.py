"""Quirks at the framing hook points of a stream: `sse_events` (each event a list of field lines,
`[DONE]` last), `sse_bytes` (one bytes item per event), `stream_headers` and `stream_delays`.

The families are tables: an event inserted mid-stream, the line ending used. What does not live
here: the chunks inside the events (chunks.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from conformance.reference import render
from conformance.reference.quirks.places import put, register_edits
from conformance.reference.quirks.registry import Hook, HookContext, hook, hooks_from

__all__: list[str] = []

Events = list[list[str]]
Frames = list[bytes]

# One event inserted halfway through the stream: quirk -> its only line.
EVENTS_MID_STREAM: Mapping[str, str] = {
    "stream_empty_data_event": "data: ",
    "stream_keepalive_in_data": "data: : keepalive",
}
# Every "\n" of the stream's bytes replaced: quirk -> the line ending used instead.
LINE_ENDINGS: Mapping[str, bytes] = {
    "sse_crlf": b"\r\n",
    "sse_cr": b"\r",
}
_DOUBLE_EOL = re.compile(rb"(\r\n|\r|\n)\1\Z")

register_edits(put("stream_content_type_json", "stream_headers", "body", "content-type", "application/json"))


def _inserting(line: str) -> Hook:
    def inserted(events: Events, ctx: HookContext) -> Events:
        return [*events[: len(events) // 2], [line], *events[len(events) // 2 :]]

    return inserted


def _ending_lines(ending: bytes) -> Hook:
    def ended(frames: Frames, ctx: HookContext) -> Frames:
        return [f.replace(b"\n", ending) for f in frames]

    return ended


hooks_from("sse_events", EVENTS_MID_STREAM, _inserting)
hooks_from("sse_bytes", LINE_ENDINGS, _ending_lines)


def _data_events(events: Events) -> list[int]:
    return [i for i, e in enumerate(events) if len(e) == 1 and e[0].startswith("data: {")]


# --- events ----------------------------------------------------------------------------------------------


@hook("sse_events", "stream_no_done")
def _stream_no_done(events: Events, ctx: HookContext) -> Events:
    return [e for e in events if e != [render.DONE]]


@hook("sse_events", "stream_data_after_done")
def _stream_data_after_done(events: Events, ctx: HookContext) -> Events:
    data = _data_events(events)
    return [*events, list(events[data[-1]])] if data else events


@hook("sse_events", "stream_invalid_json")
def _stream_invalid_json(events: Events, ctx: HookContext) -> Events:
    data = _data_events(events)
    if data:
        k = data[len(data) // 2]
        events[k] = [events[k][0][: len(events[k][0]) // 2]]
    return events


@hook("sse_events", "stream_error_event")
def _stream_error_event(events: Events, ctx: HookContext) -> Events:
    error = {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                       "type": "server_error", "param": None, "code": None}}
    return [*events[:3], ["data: " + json.dumps(error)]]


@hook("sse_events", "sse_comments")
def _sse_comments(events: Events, ctx: HookContext) -> Events:
    out = [[": OPENROUTER PROCESSING"]]
    for k, event in enumerate(events):
        if k:
            out.append([": keepalive"])
        out.append(event)
    return out


@hook("sse_events", "sse_no_space")
def _sse_no_space(events: Events, ctx: HookContext) -> Events:
    return [[("data:" + line[6:]) if line.startswith("data: ") else line for line in e] for e in events]


def _pretty_lines(line: str) -> list[str]:
    """A chunk's data line as one data line per line of its pretty-printed JSON."""
    if not line.startswith("data: {"):
        return [line]
    pretty = json.dumps(json.loads(line[6:]), ensure_ascii=False, indent=1)
    return ["data: " + part for part in pretty.split("\n")]


@hook("sse_events", "sse_multiline_data")
def _sse_multiline_data(events: Events, ctx: HookContext) -> Events:
    return [[part for line in event for part in _pretty_lines(line)] for event in events]


@hook("sse_events", "sse_id_retry")
def _sse_id_retry(events: Events, ctx: HookContext) -> Events:
    out = [[f"id: {n}", *event] for n, event in enumerate(events)]
    if out:
        out[0] = ["retry: 3000", *out[0]]
    return out


# --- bytes, headers, timing ---------------------------------------------------------------------------------


@hook("sse_bytes", "stream_single_newline")
def _stream_single_newline(frames: Frames, ctx: HookContext) -> Frames:
    return [_DOUBLE_EOL.sub(rb"\1", f) for f in frames]


@hook("sse_bytes", "stream_no_trailing_blank_line")
def _stream_no_trailing_blank_line(frames: Frames, ctx: HookContext) -> Frames:
    return [*frames[:-1], _DOUBLE_EOL.sub(rb"\1", frames[-1])] if frames else frames


@hook("stream_delays", "slow_first_token")
def _slow_first_token(delays: list[float], ctx: HookContext) -> list[float]:
    return [delays[0] + 0.3, *delays[1:]] if delays else delays
