"""The JSON Schemas a request brings (tool parameters, response_format), judged before use.

Every schema must fit `SCHEMA_LIMITS` (depth, properties, enum values, subschemas) before
jsonschema looks at it, as OpenAI bounds Structured Outputs schemas; each of its patterns must be
one the server will run (patterns.problem: length, nesting, repetition); it must be a valid
draft 2020-12 schema; and a strict one must close every object. `schema_problem()` says why a
schema is refused, or None. What does not live here: the 400 that carries the reason (validation.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from conformance.reference import patterns
from conformance.reference.instances import MAX_DEPTH as GENERATOR_DEPTH

__all__ = ["SCHEMA_LIMITS", "SchemaLimits", "schema_problem"]


@dataclass(frozen=True)
class SchemaLimits:
    """How large a JSON Schema in a request may be, so checking it and answering it stay cheap.

    `properties` and `enum_values` are OpenAI's documented Structured Outputs limits (object
    properties and enum values in total). `depth` counts steps into subschemas (properties,
    items, anyOf...), as deep as the reference model generates instances; OpenAI documents 10 levels
    of object nesting for strict schemas, but this applies to every schema. `subschemas` bounds
    the rest (a schema of 100,000 `anyOf` branches has no properties at all).
    """

    depth: int = GENERATOR_DEPTH
    properties: int = 5000
    enum_values: int = 1000
    subschemas: int = 20_000


SCHEMA_LIMITS = SchemaLimits()
# Keywords whose value is a subschema, a list of them, or a map of names to them (draft 2020-12 + legacy).
_ONE_SUBSCHEMA = (
    "items", "additionalItems", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties",
)
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _subschemas(node: Mapping[str, Any], context: tuple[str, ...]) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Each subschema of a schema node with its context (the keywords and names leading to it)."""
    for key in _ONE_SUBSCHEMA:
        if isinstance(node.get(key), Mapping):
            yield node[key], (*context, key)
    for key in _SUBSCHEMA_LISTS:
        if isinstance(node.get(key), list):
            yield from ((sub, (*context, key, str(k))) for k, sub in enumerate(node[key]))
    for key in _SUBSCHEMA_MAPS:
        if isinstance(node.get(key), Mapping):
            yield from ((sub, (*context, key, name)) for name, sub in node[key].items())


def _size_problem(schema: Mapping[str, Any], limits: SchemaLimits = SCHEMA_LIMITS) -> str | None:
    """Why a schema is too large to accept (see SchemaLimits); a walk without recursion."""
    properties = enum_values = subschemas = 0
    stack: list[tuple[Any, tuple[str, ...], int]] = [(schema, (), 0)]
    while stack:
        node, context, depth = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if depth > limits.depth:
            return f"In context={context[:6]}..., the schema exceeds the maximum nesting depth of {limits.depth} levels."
        subschemas += 1
        if subschemas > limits.subschemas:
            return f"the schema has more than {limits.subschemas} subschemas in total."
        if isinstance(node.get("properties"), Mapping):
            properties += len(node["properties"])
            if properties > limits.properties:
                return f"the schema has more than {limits.properties} object properties in total."
        if isinstance(node.get("enum"), list):
            enum_values += len(node["enum"])
            if enum_values > limits.enum_values:
                return f"the schema has more than {limits.enum_values} enum values in total."
        stack += [(sub, where, depth + 1) for sub, where in _subschemas(node, context)]
    return None


def _pattern_problem(schema: Mapping[str, Any]) -> str | None:
    """Why a `pattern` or `patternProperties` name of the schema will not be run (patterns.problem).

    Checked before jsonschema's check_schema, which compiles each pattern with re: a 16 MB
    pattern would take it twenty seconds.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, context = stack.pop()
        if not isinstance(node, Mapping):
            continue
        named = node.get("patternProperties")
        found = [node.get("pattern"), *(named if isinstance(named, Mapping) else ())]
        for pattern in (p for p in found if isinstance(p, str)):
            problem = patterns.problem(pattern)
            if problem:
                return f"In context={context[:6]}, the pattern {patterns.shown(pattern)} {problem}."
        stack += _subschemas(node, context)
    return None


def schema_problem(schema: Mapping[str, Any], strict: bool) -> str | None:
    """Why a JSON Schema is unusable (too large; not a valid schema; or, for strict mode, not closed)."""
    problem = _size_problem(schema) or _pattern_problem(schema)
    if problem:
        return problem
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:  # noqa: BLE001 - SchemaError, RecursionError...: the schema is invalid either way
        message = getattr(exc, "message", None) or type(exc).__name__
        return f"{str(message)[:300]}"
    return _strict_problem(schema) if strict else None


def _strict_problem(schema: Mapping[str, Any]) -> str | None:
    """Structured Outputs' rule: every object closes (additionalProperties false) and requires all keys."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, ())]
    while stack:
        node, context = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False:
                return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
            declared, listed = node.get("properties"), node.get("required")
            props: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
            required: list[Any] = listed if isinstance(listed, list) else []
            absent = [k for k in props if k not in required]
            if absent:
                return (
                    f"In context={context}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{absent[0]}'."
                )
        stack += _subschemas(node, context)
    return None
