"""Checks of the structured-output area: response_format json_object and json_schema.

JSON the token cap cut is not judged ("token cap reached"): a schema-constrained engine keeps a
model inside the grammar, not short; whatever parses whole is judged in full.
"""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from conformance import probes
from conformance.checks.base import Context, Fail, check
from conformance.checks.common import answer_text, excerpt, judged_unless_capped, require_json


def _json_content(ctx: Context, probe: str, what: str) -> object:
    ex = ctx.probe(probe)
    body = require_json(ctx, ex, what=what)
    text = answer_text(body)
    with judged_unless_capped(ex, "the JSON answer"):
        try:
            return json.loads(text)
        except ValueError:
            fenced = text.strip().startswith("```")
            hint = " (wrapped in markdown fences)" if fenced else ""
            raise Fail(f"{what}: the content is not bare JSON{hint}: received {excerpt(text)!r}") from None


@check("structured.json_object")
def structured_json_object(ctx: Context) -> str | None:
    value = _json_content(ctx, "json_object", "response_format json_object")
    if not isinstance(value, dict):
        raise Fail(f"json_object mode: the content is JSON {type(value).__name__}, expected an object: {excerpt(value)}")
    return None


@check("structured.json_schema")
def structured_json_schema(ctx: Context) -> str | None:
    value = _json_content(ctx, "json_schema", "response_format json_schema")
    errors = sorted(Draft202012Validator(probes.WEATHER_SCHEMA).iter_errors(value), key=lambda e: e.path)
    if errors:
        raise Fail(f"strict json_schema not honoured: {excerpt(value)} — {errors[0].message}")
    return None
