"""JSON Schema validation of wire bodies, turned into findings.

What lives here: the registry of `conformance/data/schemas/*.schema.json` (built once, `$ref`s
resolved by `$id`, read through importlib.resources so an installed wheel has them too),
one validator class, and the conversion of jsonschema errors into `SchemaError` records that
checks attach as evidence (the record itself belongs to the results model,
conformance.evidence). What does not: deciding pass/fail for a check (checks do that) and
the schemas themselves (they are data, in `conformance/data/schemas/`).

Two additions to draft 2020-12, both because clients care and the standard keywords cannot say it:

* `x-spec-required`: members the OpenAI spec requires but clients default or ignore. Reported
  as rule "x-spec-required" with severity "should"; plain `required` misses are "must".
* "integer" means a JSON integer: `5.0` parses to a Python float and is rejected (the standard
  checker accepts it), because typed clients (Go, Rust, Java) refuse it for int fields.
  "number" likewise rejects NaN and infinities, which `json.loads` accepts but JSON does not have.

`validate()` never raises on an instance: anything odd that jsonschema trips over (a value too
deeply nested to repr, say) becomes one more finding with rule "json".
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import itertools
import json
import math
import numbers
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance.evidence import SchemaError  # the record is part of the results model; re-exported here

__all__ = ["SCHEMA_NAMES", "SchemaError", "is_valid", "load_schema", "schemas_dir", "validate"]

MAX_ERRORS = 50
MAX_VALUE_CHARS = 200
_MAX_RAW_ERRORS = 1000  # raw errors looked at before ranking; bounds the work on huge bodies
_SUFFIX = ".schema.json"
_CORE = (
    "chat_completion", "chat_completion_chunk", "embeddings", "models_list", "model", "error",
    "response", "response_stream_event", "completion", "completion_chunk", "images_response",
)
_LIBRARIES = frozenset({"common"})  # files holding only shared $defs: in the registry, not targets
_SPEC_ONLY = "x-spec-required"
_WEAK = frozenset({"anyOf", "oneOf"})
_DIALECT = Draft202012Validator.META_SCHEMA["$id"]


def schemas_dir() -> Traversable:
    """The packaged schemas folder (`conformance/data/schemas/`), wherever the package is installed."""
    return importlib.resources.files("conformance") / "data" / "schemas"


def _schema_files() -> dict[str, Traversable]:
    found = (p for p in schemas_dir().iterdir() if p.name.endswith(_SUFFIX))
    return {p.name[: -len(_SUFFIX)]: p for p in sorted(found, key=lambda p: p.name)}


def _names() -> tuple[str, ...]:
    found = set(_schema_files()) - _LIBRARIES
    return tuple(n for n in _CORE if n in found) + tuple(sorted(found - set(_CORE)))


SCHEMA_NAMES: tuple[str, ...] = _names()


# --- the validator -------------------------------------------------------------------------


class _Missing(ValidationError):
    """A required member is absent; keeps the member's name (jsonschema only says it in prose)."""

    def __init__(self, member: str) -> None:
        super().__init__(f"{member!r} is a required property")
        self.member = member


def _required(validator: Any, members: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """Implements both `required` and `x-spec-required` (the keyword name becomes the rule)."""
    if not validator.is_type(instance, "object"):
        return
    for member in members:
        if member not in instance:
            yield _Missing(member)


def _is_json_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_json_number(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, float):
        return math.isfinite(instance)
    return isinstance(instance, numbers.Number)


_Validator = validators.extend(
    Draft202012Validator,
    validators={"required": _required, _SPEC_ONLY: _required},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_json_integer, "number": _is_json_number}
    ),
)


@functools.cache
def _load(name: str) -> dict[str, Any]:
    path = _schema_files().get(name)
    if path is None:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return json.loads(path.read_text(encoding="utf-8"))


def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema (a copy: callers may not change the cached one)."""
    return copy.deepcopy(_load(name))


def _for_our_validator(name: str) -> dict[str, Any]:
    """The schema without a 2020-12 `$schema`: jsonschema picks the validator class for each
    resource it enters by `$schema`, which would swap our extended class for the stock one at
    every cross-file `$ref` (dropping x-spec-required and the strict integer)."""
    schema = _load(name)
    if schema.get("$schema", _DIALECT) != _DIALECT:
        return schema  # another dialect: leave it to the stock validator for that draft
    return {k: v for k, v in schema.items() if k != "$schema"}


@functools.cache
def _registry() -> Registry:
    resources = []
    for name in _schema_files():
        contents = _for_our_validator(name)
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((contents.get("$id") or f"urn:conformance:schema:{name}", resource))
    return Registry().with_resources(resources).crawl()


@functools.cache
def _validator(name: str) -> Any:
    return _Validator(_for_our_validator(name), registry=_registry())


# --- errors -> findings --------------------------------------------------------------------


def validate(name: str, instance: object) -> list[SchemaError]:
    """Every way `instance` fails schema `name`, most significant first, at most MAX_ERRORS.

    Order: "must" before "should", then shallower before deeper (a wrong top-level `object`
    says more than a wrong nested field), then schema order. Never raises on an instance.
    """
    validator = _validator(name)
    found: list[SchemaError] = []
    try:
        for error in itertools.islice(validator.iter_errors(instance), _MAX_RAW_ERRORS):
            found.append(_finding(name, _leaf(error)))
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"; report instead
        found.append(
            SchemaError(
                schema=name,
                pointer="",
                rule="json",
                message=f"received a value jsonschema could not process ({type(exc).__name__}) "
                "/ expected a JSON document",
                value=_excerpt(instance),
                severity="must",
            )
        )
    return _rank(found)[:MAX_ERRORS]


def is_valid(name: str, instance: object) -> bool:
    """True when `instance` has no "must" error (spec-only misses are allowed)."""
    return not any(e.severity == "must" for e in validate(name, instance))


def _leaf(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the most relevant error inside (as best_match descends)."""
    if not error.context:
        return error
    try:
        return best_match([error]) or error
    except TypeError:  # relevance compares paths; be safe on exotic (non-JSON) keys
        return error


def _finding(schema: str, error: ValidationError) -> SchemaError:
    path = list(error.absolute_path)
    if isinstance(error, _Missing):
        path.append(error.member)
    rule = str(error.validator)
    return SchemaError(
        schema=schema,
        pointer="".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path),
        rule=rule,
        message=_message(error),
        value=_excerpt(error.instance),
        severity="should" if rule == _SPEC_ONLY else "must",
    )


def _message(error: ValidationError) -> str:
    """One line, "received … / expected …"."""
    rule, expected, instance = error.validator, error.validator_value, error.instance
    if isinstance(error, _Missing):
        who = "required by the spec; clients default it" if rule == _SPEC_ONLY else "clients read it"
        return f"received an object without {error.member!r} / expected it present ({who})"
    received = _excerpt(instance, 80)
    if rule == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        if isinstance(instance, float) and not math.isfinite(instance):
            received += " (not a JSON number)"
        elif isinstance(instance, float) and instance.is_integer():
            received += " (a number written with a fraction or exponent)"
        else:
            received = f"{_json_type(instance)} {received}"
        return f"received {received} / expected {wanted}"
    if rule == "const":
        return f"received {received} / expected {_excerpt(expected, 80)}"
    if rule == "enum":
        return f"received {received} / expected one of {', '.join(_excerpt(v, 40) for v in expected)}"
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[rule]
        return f"received {received} / expected {op} {expected}"
    if rule in _WEAK:
        return f"received {received} / expected a value matching one of the {rule} alternatives"
    return " ".join(error.message.split())[:300]  # other keywords: jsonschema's prose, one line


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return "array"
    return f"non-JSON {type(value).__name__}"


def _excerpt(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """Compact JSON of `value`, cut at `limit` chars; lazy, so huge values cost little."""
    try:
        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=reprlib.repr)
        out, size = [], 0
        for piece in encoder.iterencode(value):
            out.append(piece)
            size += len(piece)
            if size > limit:
                break
        text = "".join(out)
    except Exception:  # noqa: BLE001 - non-JSON keys, cycles: fall back to a bounded repr
        text = reprlib.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rank(found: list[SchemaError]) -> list[SchemaError]:
    """Deduplicate; drop a should-miss already reported as a must-miss; order by significance."""
    must_missing = {e.pointer for e in found if e.rule == "required"}
    unique: dict[tuple[str, str, str], SchemaError] = {}
    for e in found:
        if e.rule == _SPEC_ONLY and e.pointer in must_missing:
            continue
        unique.setdefault((e.pointer, e.rule, e.message), e)

    def significance(e: SchemaError) -> tuple[bool, int, bool]:
        return (e.severity != "must", e.pointer.count("/"), e.rule in _WEAK)

    return sorted(unique.values(), key=significance)  # stable: document order within a level
