"""The evidence a verdict carries: exchanges, schema errors, findings and notes, as frozen records.

Part of the results model (conformance.results re-exports every record here, and results.json
embeds them; conformance/data/schemas/results.schema.json documents their JSON). Producers make
them at the source: transport.Exchange.evidence an ExchangeRecord (redacted and bounded),
conformance.schemas a SchemaError, conformance.sse and conformance.chat_stream a Finding, a fuzz
check a counterexample Finding. Renderers (report/, the pytest-html extras) read them and nothing
else; a record read back from a file went through `from_dict`, which checks every type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.jsonshape import NULL, NUMBER, array_of, member, object_of, read_array


@dataclass(frozen=True)
class RequestRecord:
    """What was sent, redacted: the body is the JSON sent, or a text excerpt when it was too large."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def from_dict(cls, data: Any, where: str = "request.") -> RequestRecord:
        return cls(
            method=member(data, "method", str, where=where),
            url=member(data, "url", str, where=where),
            headers=object_of(member(data, "headers", dict, default={}, where=where), where + "headers", str),
            body=member(data, "body", object, default=None, where=where),
        )


@dataclass(frozen=True)
class ResponseRecord:
    """What came back, redacted and bounded: at most EXCERPT bytes of the body (an SSE transcript
    for streams), its real size, and whether the excerpt or the read was cut."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body_excerpt: str = ""
    body_bytes: int = 0
    truncated: bool = False

    @classmethod
    def from_dict(cls, data: Any, where: str = "response.") -> ResponseRecord:
        return cls(
            status=member(data, "status", int, where=where),
            headers=object_of(member(data, "headers", dict, default={}, where=where), where + "headers", str),
            body_excerpt=member(data, "body_excerpt", str, default="", where=where),
            body_bytes=member(data, "body_bytes", int, default=0, where=where),
            truncated=member(data, "truncated", bool, default=False, where=where),
        )


@dataclass(frozen=True)
class Timing:
    """Milliseconds from sending to the end of the body, and to its first byte (None: none came)."""

    total_ms: float | None = None
    ttfb_ms: float | None = None  # time to the first body byte

    @classmethod
    def from_dict(cls, data: Any, where: str = "timing.") -> Timing:
        return cls(*(member(data, k, *NUMBER, NULL, default=None, where=where) for k in ("total_ms", "ttfb_ms")))


@dataclass(frozen=True)
class ExchangeRecord:
    """One HTTP exchange as evidence (transport.Exchange.evidence makes it): redacted and bounded
    at the source, with the curl command that reproduces it (the key appears as $API_KEY)."""

    request: RequestRecord
    response: ResponseRecord | None = None  # None: no response (a transport error, or refused unsent)
    error: str | None = None
    timing: Timing = field(default_factory=Timing)
    retries: int = 0
    curl: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "exchange.") -> ExchangeRecord:
        response = member(data, "response", dict, NULL, default=None, where=where)
        return cls(
            request=RequestRecord.from_dict(member(data, "request", dict, where=where), where + "request."),
            response=ResponseRecord.from_dict(response, where + "response.") if response is not None else None,
            error=member(data, "error", str, NULL, default=None, where=where),
            timing=Timing.from_dict(member(data, "timing", dict, default={}, where=where), where + "timing."),
            retries=member(data, "retries", int, default=0, where=where),
            curl=member(data, "curl", str, default="", where=where),
        )


# Which members a finding has depends on who found it (`Finding.layer`), in this order.
FINDING_LAYERS: dict[str, tuple[str, ...]] = {
    "sse": ("code", "message", "line", "severity", "offset"),  # conformance.sse: WHATWG framing
    "stream": ("code", "message", "event_index", "severity"),  # conformance.chat_stream: OpenAI framing
    "property": ("code", "example", "seed", "message"),  # a fuzz check's counterexample
}


_PLACES = ("line", "offset", "event_index", "seed")  # the integer members: where a finding points


@dataclass(frozen=True, slots=True)
class Finding:
    """One oddity attached to a verdict. `layer` (a key of FINDING_LAYERS) says who found it and so
    where it points: an SSE line and byte offset, a stream event index, or a generated example with
    the seed that reproduces it. Codes and severities of the stream layers: conformance.finding_codes."""

    code: str
    message: str
    severity: str | None = None  # "violation" | "info"; None for a counterexample
    line: int | None = None
    offset: int | None = None
    event_index: int | None = None
    example: Any = None
    seed: int | None = None
    layer: str = "stream"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FINDING_LAYERS[self.layer]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "finding.") -> Finding:
        places = {k: member(data, k, int, NULL, default=None, where=where) for k in _PLACES}
        return cls(
            code=member(data, "code", str, where=where),
            message=member(data, "message", str, where=where),
            severity=member(data, "severity", str, NULL, default=None, where=where),
            example=data.get("example"),
            layer=_layer_of(data),
            **places,
        )


def _layer_of(data: dict[str, Any]) -> str:
    """Who found a finding, told by the members only that layer has; "stream" when none is there."""
    shared = {"code", "message", "severity"}
    return next((layer for layer, keys in FINDING_LAYERS.items() if (set(keys) - shared) & data.keys()), "stream")


@dataclass(frozen=True)
class SchemaError:
    """One way an instance fails a schema (conformance.schemas makes them).

    `pointer` is a JSON pointer into the instance; for a missing member it names where the
    member should be (e.g. "/choices/0/index") and `value` shows the object that lacks it.
    """

    schema: str
    pointer: str
    rule: str
    message: str
    value: str
    severity: str  # "must" | "should"

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "schema_error.") -> SchemaError:
        return cls(
            schema=member(data, "schema", str, default="", where=where),
            pointer=member(data, "pointer", str, where=where),
            rule=member(data, "rule", str, where=where),
            message=member(data, "message", str, where=where),
            value=member(data, "value", str, default="", where=where),
            severity=member(data, "severity", str, default="must", where=where),
        )


@dataclass(frozen=True)
class Evidence:
    """What a reader needs to act on a verdict: exchanges (redacted, bounded), schema errors,
    stream/SSE findings and counterexamples, and free-form notes."""

    exchanges: tuple[ExchangeRecord, ...] = ()
    schema_errors: tuple[SchemaError, ...] = ()
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, where: str = "evidence.") -> Evidence:
        def items(key: str, read: Callable[[Any, str], Any]) -> tuple[Any, ...]:
            return tuple(read_array(member(data, key, list, default=[], where=where), where + key, read))

        return cls(
            exchanges=items("exchanges", ExchangeRecord.from_dict),
            schema_errors=items("schema_errors", SchemaError.from_dict),
            findings=items("findings", Finding.from_dict),
            notes=tuple(array_of(member(data, "notes", list, default=[], where=where), where + "notes", str)),
        )
