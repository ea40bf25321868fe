"""What the page script reads: each cell's evidence as bounded, JSON-ready data, and `script_json`.

What lives here: the payload a matrix cell opens (verdict, message, expectation, measurements,
exchanges, schema errors, findings, notes, change, flips, repeats), cut to a budget that is
larger for a failing cell than for a passing one, and the escaping that lets it sit in a
`<script type="application/json">` block. What does not: reading or checking the records (they
come typed and checked from conformance.results) and the layout (matrix.py).

Every string here is untrusted provider output: it is only bounded, never interpreted; the page
script puts it in text nodes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from conformance.report.diff import Change
from conformance.report.scores import bounded
from conformance.results import CheckResult, ExchangeRecord, ResponseRecord, Status

# Evidence budgets (characters). A passing cell needs less evidence than a failing one.
BUDGET = {
    "fail": {"exchanges": 4, "request": 4000, "response": 8192, "items": 20},
    "pass": {"exchanges": 1, "request": 1200, "response": 1200, "items": 10},
    # A failing client check: any exchange it kept may be the one a library broke on (clients.py
    # points at it by position), so all of them (runs keep six).
    "client": {"exchanges": 8, "request": 4000, "response": 8192, "items": 20},
}
TEXT = 600  # a message, note, finding or schema-error field


def cell_evidence(
    r: CheckResult, others: list[CheckResult], *, change: Change | None, flips: int, window: int, claimed: bool
) -> dict[str, Any]:
    """The bounded record a cell opens. What the check is (title, spec, rationale) is not repeated
    here: the page has it once per row."""
    return {
        "provider": r.provider,
        "model": r.model,
        "check": r.check,
        "level": r.level.value,
        "kind": r.kind.value,
        "status": r.status.value,
        "message": bounded(r.message, 2000),
        "expected": _expected(r),
        "duration_ms": _number(r.duration_ms),
        "metrics": _numbers(r.metrics),
        "tokens": dataclasses.asdict(r.tokens),
        "requests": r.requests,
        "retries": r.retries,
        **_evidence(r),
        "change": {"kind": change.kind, "old": change.old.value if change.old else None} if change else None,
        "flips": flips,
        "window": window,
        "claimed": claimed,
        "repeats": _repeats(r.repeats),
        "others": [
            {"model": o.model, "status": o.status.value, "message": bounded(o.message, 200)} for o in others[:5]
        ],
    }


def _expected(r: CheckResult) -> dict[str, Any] | None:
    if r.expected is None:
        return None
    e = r.expected
    return {"status": " | ".join(s.value for s in Status if e.allows(s)), "reason": bounded(e.reason, TEXT), "link": bounded(e.link, 500),
            "matches": r.as_expected}


def _evidence(r: CheckResult) -> dict[str, Any]:
    """Exchanges, schema errors, findings and notes, within the budget of the cell's verdict."""
    budget = BUDGET["pass" if r.status is Status.PASS else "client" if r.area == "client" else "fail"]
    ev, items = r.evidence, budget["items"]
    return {
        "exchanges": [_exchange(x, budget) for x in ev.exchanges[: budget["exchanges"]]],
        "exchanges_omitted": max(0, len(ev.exchanges) - budget["exchanges"]),
        "schema_errors": [_texts(e.to_dict()) for e in ev.schema_errors[:items]],
        "findings": [_texts(f.to_dict()) for f in ev.findings[:items]],
        "notes": [bounded(n, TEXT) for n in ev.notes[:items]],
    }


def _exchange(x: ExchangeRecord, budget: dict[str, int]) -> dict[str, Any]:
    body = x.request.body
    # compact here; the page pretty-prints JSON it can parse
    text = body if isinstance(body, str) else "" if body is None else json.dumps(body, ensure_ascii=False,
                                                                                  separators=(",", ":"))
    return {
        "request": {
            "method": bounded(x.request.method, 20),
            "url": bounded(x.request.url, 500),
            "headers": _headers(x.request.headers),
            "body": bounded(text, budget["request"]),
        },
        "response": _response(x.response, budget["response"]) if x.response is not None else None,
        "error": bounded(x.error, TEXT) if x.error else None,
        "timing": _numbers(dataclasses.asdict(x.timing)),
        "curl": bounded(x.curl, budget["request"] + 500),
    }


def _response(resp: ResponseRecord, limit: int) -> dict[str, Any]:
    return {
        "status": resp.status,
        "headers": _headers(resp.headers),
        "body": bounded(resp.body_excerpt, limit),
        "body_bytes": resp.body_bytes,
        "truncated": resp.truncated or len(resp.body_excerpt) > limit,
    }


def _repeats(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """--repeat N outcome: runs, passes, pass rate and its Wilson interval, each run's status."""
    if info is None:
        return None
    numbers = ("runs", "passes", "pass_rate", "wilson_low", "wilson_high")
    out: dict[str, Any] = {k: info[k] for k in numbers if _number(info.get(k)) is not None}
    if "statuses" in info:
        out["statuses"] = list(info["statuses"][:100])
    return out


def _texts(record: dict[str, Any]) -> dict[str, str]:
    """A flat record's members as bounded text (null as empty)."""
    return {k: bounded("" if v is None else v, TEXT) for k, v in record.items()}


def _headers(headers: dict[str, str]) -> list[list[str]]:
    return [[bounded(k, 100), bounded(v, 300)] for k, v in list(headers.items())[:40]]


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """Finite numbers only: JSON (and so JSON.parse) has no NaN or Infinity."""
    return {str(k): v for k, v in values.items() if _number(v) is not None}


def script_json(value: Any) -> str:
    """JSON safe to place inside <script type="application/json">: no `<`, `>`, `&`, U+2028/9 raw.

    Those characters only occur inside JSON strings, where `\\u003c` etc. are equivalent escapes,
    so `JSON.parse` returns the original text while the HTML parser never sees `</script>` or `<!--`.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
