"""Generate a JSON value that validates against a JSON Schema (the reference model's "structured output").

What lives here: `instance_for(schema, hint)`, a small generator covering what tools and
`response_format: json_schema` use in practice: object/properties/required/additionalProperties/
minProperties, array/items/prefixItems/minItems/maxItems/uniqueItems, enum/const, integer/number
with minimum/maximum/exclusive*/multipleOf, string with minLength/maxLength/pattern/format
(date, date-time, time, email, uri, uuid, hostname, ipv4, ipv6), boolean, null, anyOf/oneOf/allOf,
and local `$ref`s into `$defs`/`definitions`. A `hint` callback supplies values taken from the
prompt (the city for a `city` property...); hints and candidates are kept only when jsonschema
agrees they validate. What does not: reading the prompt (responder.py).

Hypothesis can generate from schemas (hypothesis-jsonschema) but is not a runtime dependency
and is not deterministic enough for a server, hence this hand-written generator. Patterns are
handled by walking the parsed regex (patterns.parse, re's own parser) for a shortest match,
falling back to a few fixed candidates; whatever fails validation falls back too. Validation is
patterns.Validator: jsonschema with its regex keywords matching within the request's time budget.

The work is bounded: at most `MAX_DEPTH` levels and `MAX_NODES` generated values per instance.
A schema whose instance needs more (`$ref`s fanning out, nested `minItems`) raises `TooComplex`
instead of keeping a server busy for minutes; one whose patterns the server will not run, or
that use up the regex budget, raises patterns.PatternRefused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from conformance.reference.patterns import FORMAT_CHECKER, PatternRefused, Validator, parse, search

__all__ = ["MAX_DEPTH", "MAX_NODES", "MISSING", "Hint", "TooComplex", "instance_for", "is_valid"]

MISSING: Any = object()
Hint = Callable[[str, Mapping[str, Any]], Any]  # (property name, its schema) -> value or MISSING

MAX_DEPTH = 24
MAX_ITEMS = 64  # cap on generated array length / object size / string padding, whatever the schema says
MAX_LENGTH = 4096
MAX_NODES = 10_000  # values generated for one instance, candidates included

FORMATS = {
    "date": "2024-01-15",
    "date-time": "2024-01-15T12:00:00Z",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "uuid": "3f2c1b9e-8a4d-4c6e-9b2a-1d5e7f9a0c3b",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "duration": "P1D",
}
_PATTERN_CANDIDATES = ("a", "A", "abc", "ABC", "1", "123", "a1", "A1", "example", "2024-01-15",
                       "ABC-123", "abc-123", "x", "user@example.com", "https://example.com/")


def is_valid(instance: Any, schema: Any) -> bool:
    """True when jsonschema (draft 2020-12, formats asserted) accepts `instance`.

    Raises only PatternRefused (a pattern not run, or the regex budget spent).
    """
    try:
        return Validator(schema, format_checker=FORMAT_CHECKER).is_valid(instance)
    except PatternRefused:
        raise
    except Exception:  # noqa: BLE001 - odd schemas (remote refs, huge numbers) just mean "no"
        return False


class TooComplex(ValueError):
    """The schema's instance would take more than MAX_NODES generated values."""


def instance_for(schema: Any, hint: Hint | None = None) -> Any:
    """A value valid against `schema` when the generator knows how; a best effort otherwise.

    Raises TooComplex when generating it would take more than MAX_NODES values, PatternRefused
    for a pattern the server will not run or once the request's regex budget is spent.
    """
    return _Generator(schema, hint or (lambda name, sub: MISSING)).value(schema, None, 0)


class _Generator:
    def __init__(self, root: Any, hint: Hint) -> None:
        self.root = root if isinstance(root, Mapping) else {}
        self.hint = hint
        self.nodes = 0

    # --- helpers ---------------------------------------------------------------------------

    def _scoped(self, schema: Any) -> Any:
        """`schema` with the root's $defs beside it, so local $refs resolve when it is validated alone."""
        if not isinstance(schema, Mapping):
            return schema
        out = dict(schema)
        for key in ("$defs", "definitions"):
            if key in self.root and key not in out:
                out[key] = self.root[key]
        return out

    def valid(self, instance: Any, schema: Any) -> bool:
        return is_valid(instance, self._scoped(schema))

    def _resolve(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 16:
            seen += 1
            target = self._pointer(schema["$ref"])
            if not isinstance(target, Mapping):
                return {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def _pointer(self, ref: str) -> Any:
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    @staticmethod
    def _merge_all_of(schema: Mapping[str, Any]) -> Mapping[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema.get("allOf") or []:
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                if key == "properties" and isinstance(value, Mapping):
                    merged["properties"] = {**(merged.get("properties") or {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = list(dict.fromkeys([*(merged.get("required") or []), *value]))
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def _kind(schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            names = [t for t in declared if isinstance(t, str)]
            declared = next((t for t in names if t != "null"), names[0] if names else None)
        if isinstance(declared, str):
            return declared
        if any(k in schema for k in ("properties", "required", "additionalProperties", "minProperties")):
            return "object"
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
            return "array"
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return "string"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
            return "number"
        return "any"

    # --- the generator -----------------------------------------------------------------------

    def value(self, schema: Any, name: str | None, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TooComplex(f"an instance of this schema needs more than {MAX_NODES} values")
        if depth > MAX_DEPTH or not isinstance(schema, Mapping):
            return "example" if name is not None else {}
        schema = self._resolve(schema, depth)
        if "allOf" in schema:
            schema = self._merge_all_of(schema)
        if name is not None:
            hinted = self.hint(name, schema)
            if hinted is not MISSING and self.valid(hinted, schema):
                return hinted
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return next((v for v in enum if self.valid(v, schema)), enum[0])
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                return self._branches(schema, key, branches, name, depth)
        kind = self._kind(schema)
        method = getattr(self, "_" + kind.replace("-", "_"), None)
        return method(schema, name, depth) if method else self._any(schema, name, depth)

    def _branches(self, schema: Mapping[str, Any], key: str, branches: list[Any], name: str | None, depth: int) -> Any:
        rest = {k: v for k, v in schema.items() if k != key}
        first: Any = MISSING
        fallback: Any = MISSING
        for branch in branches:
            sub = {**rest, **branch} if isinstance(branch, Mapping) else rest
            candidate = self.value(sub, name, depth + 1)
            if first is MISSING:
                first = candidate
            if self.valid(candidate, schema):
                if candidate is not None:
                    return candidate
                if fallback is MISSING:
                    fallback = candidate
        return fallback if fallback is not MISSING else first

    def _any(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        return {} if name is None and depth == 0 else "example"

    def _null(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        return None

    def _boolean(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        return True

    def _object(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        declared = schema.get("properties")
        props: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for key, sub in props.items():
            if key in required:
                out[key] = self.value(sub, key, depth + 1)
            elif isinstance(sub, Mapping):
                hinted = self.hint(key, self._resolve(sub, depth))
                if hinted is not MISSING and self.valid(hinted, sub):
                    out[key] = hinted
        for key in required[:MAX_ITEMS]:
            if key not in out:
                out[key] = self.value(extra if isinstance(extra, Mapping) else {}, key, depth + 1)
        wanted = schema.get("minProperties")
        wanted = min(wanted, MAX_ITEMS) if isinstance(wanted, int) and not isinstance(wanted, bool) else 0
        for key, sub in props.items():
            if len(out) >= wanted:
                break
            out.setdefault(key, self.value(sub, key, depth + 1))
        k = 0
        while len(out) < wanted and extra is not False and k < MAX_ITEMS:
            out.setdefault(f"key{k}", self.value(extra if isinstance(extra, Mapping) else {}, None, depth + 1))
            k += 1
        return out

    def _array(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        def bound(key: str) -> int | None:
            v = schema.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None

        low, high = bound("minItems") or 0, bound("maxItems")
        prefix = schema.get("prefixItems")
        if not isinstance(prefix, list):
            legacy = schema.get("items")  # draft 4-7 tuple form
            prefix = legacy if isinstance(legacy, list) else []
        items = schema.get("items") if isinstance(schema.get("items"), Mapping | bool) else {}
        count = max(low, 1)
        if high is not None:
            count = min(count, high)
        count = min(count, MAX_ITEMS)
        out: list[Any] = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = self.value(sub, None, depth + 1)
            if schema.get("uniqueItems") is True and value in out:
                value = self._distinct(sub, out, value)
            out.append(value)
        return out

    def _distinct(self, sub: Any, taken: list[Any], value: Any) -> Any:
        candidates: list[Any] = []
        if isinstance(sub, Mapping) and isinstance(sub.get("enum"), list):
            candidates += sub["enum"]
        if isinstance(value, str):
            candidates += [f"{value}{k}" for k in range(2, 40)]
        if isinstance(value, bool):
            candidates += [not value]
        elif isinstance(value, int | float):
            candidates += [value + k for k in range(1, 40)]
        return next((c for c in candidates if c not in taken and self.valid(c, sub)), value)

    def _string(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        def bound(key: str) -> int | None:
            v = schema.get(key)
            return min(v, MAX_LENGTH) if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None

        low, high = bound("minLength") or 0, bound("maxLength")
        candidates: list[str] = []
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in FORMATS:
            candidates.append(FORMATS[fmt])
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            shortest = _shortest_match(pattern)
            if shortest is not None:
                candidates.append(shortest)
            candidates += _PATTERN_CANDIDATES
        candidates.append("example")
        fitted = []
        for c in candidates:
            if len(c) < low:
                c = c + "x" * (low - len(c))
            if high is not None and len(c) > high:
                c = c[:high]
            fitted.append(c)
        return next((c for c in fitted if self.valid(c, schema)), fitted[0])

    def _integer(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        return self._numeric(schema, integer=True)

    def _number(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        return self._numeric(schema, integer=False)

    def _numeric(self, schema: Mapping[str, Any], integer: bool) -> Any:
        def num(key: str) -> float | int | None:
            v = schema.get(key)
            return v if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None

        try:
            low, high = num("minimum"), num("maximum")
            excl_low, excl_high = num("exclusiveMinimum"), num("exclusiveMaximum")
            if schema.get("exclusiveMinimum") is True and low is not None:  # draft 4 spelling
                excl_low, low = low, None
            if schema.get("exclusiveMaximum") is True and high is not None:
                excl_high, high = high, None
            lows: list[float | int]
            highs: list[float | int]
            if integer:
                lows = [math.ceil(low)] if low is not None else []
                lows += [math.floor(excl_low) + 1] if excl_low is not None else []
                highs = [math.floor(high)] if high is not None else []
                highs += [math.ceil(excl_high) - 1] if excl_high is not None else []
            else:
                lows = [low] if low is not None else []
                highs = [high] if high is not None else []
                if excl_low is not None:
                    lows.append(excl_low + (min(1.0, (excl_high - excl_low) / 2) if excl_high is not None else 1))
                if excl_high is not None:
                    highs.append(excl_high - (min(1.0, (excl_high - excl_low) / 2) if excl_low is not None else 1))
            lo, hi = (max(lows) if lows else None), (min(highs) if highs else None)
            x: float | int = 1
            if lo is not None and x < lo:
                x = lo
            if hi is not None and x > hi:
                x = hi
            candidates: list[float | int] = [x]
            step = num("multipleOf")
            if step is not None and step > 0:
                k = math.ceil(x / step - 1e-9)
                candidates = [k * step, round(k * step, 10), (k + 1) * step, round((k + 1) * step, 10), 0]
                candidates += [(k - 1) * step, x]
            if integer:
                candidates = [*(int(c) for c in candidates if float(c).is_integer()), int(x)]
            return next((c for c in candidates if is_valid(c, schema)), candidates[0])
        except (ArithmeticError, ValueError):
            return 0 if integer else 0.0


def _shortest_match(pattern: str) -> str | None:
    """A short string the pattern matches, by walking its parse tree; None if unsure.

    Raises PatternRefused (see is_valid).
    """
    tree = parse(pattern)
    try:
        text = _walk(tree)
    except Exception:  # noqa: BLE001 - a tree we cannot walk falls back to candidates
        return None
    return text if text is not None and search(pattern, text) else None


def _walk(items: Any, depth: int = 0) -> str | None:
    if depth > 20:
        return None
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if arg != ord("a") else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            piece = _class_member(arg)
            if piece is None:
                return None
            out.append(piece)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            piece = _walk(sub, depth + 1)
            if piece is None:
                return None
            out.append(piece * min(low, 256))
        elif name == "SUBPATTERN":
            piece = _walk(arg[-1], depth + 1)
            if piece is None:
                return None
            out.append(piece)
        elif name == "BRANCH":
            piece = _walk(arg[1][0], depth + 1)
            if piece is None:
                return None
            out.append(piece)
        elif name == "CATEGORY":
            out.append(_CATEGORY.get(str(arg), "a"))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        else:  # GROUPREF, conditionals...: give up, candidates take over
            return None
    return "".join(out)


_CATEGORY = {
    "CATEGORY_DIGIT": "0", "CATEGORY_NOT_DIGIT": "a", "CATEGORY_WORD": "a", "CATEGORY_NOT_WORD": "-",
    "CATEGORY_SPACE": " ", "CATEGORY_NOT_SPACE": "a",
}


def _class_member(items: Any) -> str | None:
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            return None
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            return chr(arg[0])
        if name == "CATEGORY":
            return _CATEGORY.get(str(arg), "a")
    return None
