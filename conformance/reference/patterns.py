"""Regular expressions from requests (JSON Schema `pattern`, `patternProperties`), run with bounded work.

What lives here: `problem()` (why a pattern is refused before anything runs it), `parse()` (its
parse tree, for instances.py to walk), `search()` (one match, within the request's time budget),
`budget()` (that budget, one per request) and `Validator`, jsonschema's draft 2020-12 whose four
regex keywords (pattern, patternProperties, additionalProperties, unevaluatedProperties) and
"regex" format go through them. What does not: turning `PatternRefused` into a 400 naming the
schema (schema_limits.py refuses what `problem` finds up front; responder.py what fails later).

Why: Python's `re` backtracks without limit (`^(a|aa)+$` against 40 characters: 25 s) and holds
the GIL while it does, so one such request stalls the whole server, event loop included. The
`regex` package takes a timeout and releases the GIL. A request gets BUDGET seconds of regex work
in all (compiling included); past it, `search` raises PatternTimeout.

What a pattern means is still decided by `re`, as with jsonschema's own keywords: the pattern is
parsed by re's parser (`re._parser`, private but stable since 3.11) and written out again for
`regex` with every literal escaped, so regex-only syntax keeps re's literal reading (`x{e<=1}` is
not a fuzzy match, `[[:alpha:]]` not a POSIX class) and `\\w`, `\\s`, `\\b` spelled out as re
defines them; what still differs is case folding in corners, and characters Unicode assigned after
the tables of the running Python (regex brings its own, newer ones).

`regex` expands fixed repetition when it compiles: `(?:(?:ab|cd){1000}){1000}`, 25 characters,
takes the process down with a segmentation fault (regex 2026.5), and a 1 MB pattern takes seconds.
So before regex sees a pattern, `problem` refuses one longer than MAX_LENGTH, nested deeper than
MAX_NESTING or heavier than MAX_WEIGHT: each construct weighs what it costs regex to compile (a
literal 1, a Unicode `\\b` 100), times the minimum counts of the repeats around it
(`(?:a{1000}){1000}` weighs a million; `a{0,1000}` and `a+` weigh 7).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import regex
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

__all__ = [
    "BUDGET", "FORMAT_CHECKER", "MAX_LENGTH", "MAX_NESTING", "MAX_WEIGHT", "PatternRefused", "PatternTimeout",
    "Validator", "budget", "parse", "problem", "search",
]

BUDGET = 0.1  # seconds of regex work (compiling and matching) per request
MAX_LENGTH = 10_000  # characters in one pattern
MAX_NESTING = 100  # groups, repeats and lookarounds inside each other
MAX_WEIGHT = 20_000  # see the module docstring and _measure; 20,000 compiles in at most ~60 ms


class PatternRefused(Exception):
    """A pattern this server will not run (see `problem`), or one that ran out of time."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"the pattern {shown(pattern)} {reason}")
        self.pattern = pattern


class PatternTimeout(PatternRefused):
    """The request's regex budget ran out while matching `pattern`."""

    def __init__(self, pattern: str) -> None:
        super().__init__(
            pattern,
            f"took more than the {BUDGET * 1000:g} ms of regular expression matching this server allows one request "
            "(a pattern that backtracks exponentially, such as '(a|aa)+', does that on a few dozen characters)",
        )


def shown(pattern: str) -> str:
    """A pattern quoted for a message, cut to 100 characters."""
    return repr(pattern[:100] + ("..." if len(pattern) > 100 else ""))


# --- what a pattern is ---------------------------------------------------------------------------


def _analysed(pattern: str) -> tuple[Any, str | None]:
    """(re's parse tree, None), or (None, why the pattern is refused)."""
    if len(pattern) > MAX_LENGTH:
        return None, f"is longer than the {MAX_LENGTH} characters this server accepts in a pattern"
    try:
        tree = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return None, f"is not a valid regular expression ({str(exc)[:100]})"
    nesting, weight = _measure(tree, 0)
    if nesting > MAX_NESTING:
        return None, f"nests groups and repeats more than {MAX_NESTING} levels deep"
    if weight > MAX_WEIGHT:
        return None, (
            f"is too large to compile: it weighs more than {MAX_WEIGHT} (a literal weighs 1, \\b 100, and "
            "fixed repetition multiplies: '(?:a{1000}){1000}' weighs a million)"
        )
    return tree, None


# What each construct costs regex's compiler, in literals (~2.5 us each; measured with regex 2026.5
# on 9,000-character patterns): a group or repeat 6, a set 4 plus 12 per Unicode class in it and
# 30 more for a complemented one (\W, \S), a Unicode \b or \B 100 (four lookarounds).
_NODE, _SET, _CLASS, _COMPLEMENT, _BOUNDARY_COST = 6, 4, 12, 30, 100


def _set_cost(items: Any) -> int:
    categories = [av for op, av in items if op is sre.CATEGORY]
    return _SET + _CLASS * len(categories) + _COMPLEMENT * sum(av in _COMPLEMENTS for av in categories)


def _measure(items: Any, depth: int) -> tuple[int, int]:
    """(nesting depth, weight) of a parsed pattern; stops descending past MAX_NESTING."""
    if depth > MAX_NESTING:
        return depth, 0
    deepest, weight = depth, 0
    for op, av in items:
        subs: list[Any] = []
        factor = 1
        if op in _REPEATS:
            factor, subs = max(av[0], 1), [av[2]]
        elif op is sre.SUBPATTERN:
            subs = [av[3]]
        elif op is sre.BRANCH:
            subs = list(av[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            subs = [av[1]]
        elif op is sre.ATOMIC_GROUP:
            subs = [av]
        elif op is sre.GROUPREF_EXISTS:
            subs = [s for s in av[1:] if s is not None]
        if subs or op is sre.GROUPREF:
            weight += _NODE
        elif op is sre.IN:
            weight += _set_cost(av)
        elif op is sre.CATEGORY:
            weight += _set_cost([(op, av)])
        elif op is sre.AT and av in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
            weight += _BOUNDARY_COST
        else:
            weight += 1
        for sub in subs:
            nesting, inner = _measure(sub, depth + 1)
            deepest, weight = max(deepest, nesting), weight + factor * inner
    return deepest, weight


def problem(pattern: str) -> str | None:
    """Why this server will not run `pattern` (too long, too deep, too heavy, not a regex), or None."""
    return _analysed(pattern)[1]


def parse(pattern: str) -> Any:
    """re's parse tree of `pattern` (kept for the request); raises PatternRefused when `problem` finds one."""
    trees = _current().trees
    if pattern not in trees:
        tree, why = _analysed(pattern)
        if why is not None:
            raise PatternRefused(pattern, why)
        trees[pattern] = tree
    return trees[pattern]


# --- re's parse written out for regex --------------------------------------------------------------

_REPEATS = {sre.MAX_REPEAT: "", sre.MIN_REPEAT: "?", sre.POSSESSIVE_REPEAT: "+"}
_ANCHORS = {sre.AT_BEGINNING: "^", sre.AT_BEGINNING_STRING: r"\A", sre.AT_END: "$", sre.AT_END_STRING: r"\Z"}
# Verbose mode is spent once parsed; Unicode is regex's default for str.
_FLAGS = ((sre.SRE_FLAG_IGNORECASE, "i"), (sre.SRE_FLAG_MULTILINE, "m"), (sre.SRE_FLAG_DOTALL, "s"), (sre.SRE_FLAG_ASCII, "a"))
# re's Unicode classes in regex's terms, as set members: re's \w is str.isalnum() or "_" (regex's
# own adds marks and joiners), its \s has \x1c-\x1f besides White_Space. The two then differ only
# on characters Unicode assigned after Python's tables. ASCII mode needs no help.
_WORD = r"\p{L}\p{N}_"
_CLASSES = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_SPACE: r"\s\x1c-\x1f", sre.CATEGORY_WORD: _WORD}
_COMPLEMENTS = {sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT, sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
                sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD}
_ASCII_CLASSES = {
    sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S", sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W",
}
_BOUNDARY = f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
_NON_BOUNDARY = f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"


def _letters(flags: int) -> str:
    return "".join(letter for flag, letter in _FLAGS if flags & flag)


def _char(code: int) -> str:
    char = chr(code)
    if char.isascii() and (char.isalnum() or char == "_"):
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _set(items: Any, ascii: bool) -> str:
    """A character set. One with \\W or \\S in Unicode mode is the union of its members and of
    those classes' complements, which one regex set cannot say (V0 has no nested sets)."""
    negate = bool(items) and items[0][0] is sre.NEGATE
    members, complements = [], []
    for op, av in items[1:] if negate else items:
        if op is sre.LITERAL:
            members.append(_char(av))
        elif op is sre.RANGE:
            members.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is sre.CATEGORY and ascii:
            members.append(_ASCII_CLASSES[av])
        elif op is sre.CATEGORY and av in _COMPLEMENTS:
            complements.append(f"[^{_CLASSES[_COMPLEMENTS[av]]}]")
        elif op is sre.CATEGORY:
            members.append(_CLASSES[av])
        else:
            raise ValueError(f"unexpected {op} in a character set")
    if not complements:
        return ("[^" if negate else "[") + "".join(members) + "]"
    union = "(?:" + "|".join(([f"[{''.join(members)}]"] if members else []) + complements) + ")"
    return f"(?:(?!{union})(?s:.))" if negate else union


def _text(items: Any, ascii: bool) -> str:
    """regex syntax for a parsed (sub)pattern: the same groups, in the same order."""
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(_char(av))
        elif op is sre.NOT_LITERAL:
            out.append(f"[^{_char(av)}]")
        elif op is sre.ANY:
            out.append(".")
        elif op is sre.IN:
            out.append(_set(av, ascii))
        elif op is sre.CATEGORY:
            out.append(_set([(op, av)], ascii))
        elif op is sre.AT and av in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
            out.append((r"\b" if av is sre.AT_BOUNDARY else r"\B") if ascii else
                       _BOUNDARY if av is sre.AT_BOUNDARY else _NON_BOUNDARY)
        elif op is sre.AT:
            out.append(_ANCHORS[av])
        elif op is sre.BRANCH:
            out.append("(?:" + "|".join(_text(alternative, ascii) for alternative in av[1]) + ")")
        elif op is sre.SUBPATTERN:
            group, on, off, sub = av
            inner = (ascii or bool(on & sre.SRE_FLAG_ASCII)) and not on & sre.SRE_FLAG_UNICODE
            flags = _letters(on) + ("-" + _letters(off) if _letters(off) else "")
            out.append(("(" if group is not None else f"(?{flags}:") + _text(sub, inner) + ")")
        elif op in _REPEATS:
            low, high, sub = av
            upper = "" if high == sre.MAXREPEAT else str(high)
            out.append(f"(?:{_text(sub, ascii)}){{{low},{upper}}}{_REPEATS[op]}")
        elif op is sre.ATOMIC_GROUP:
            out.append(f"(?>{_text(av, ascii)})")
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            direction, sub = av
            kind = ("=" if op is sre.ASSERT else "!") if direction == 1 else ("<=" if op is sre.ASSERT else "<!")
            out.append(f"(?{kind}{_text(sub, ascii)})")
        elif op is sre.GROUPREF:
            out.append(f"(?:\\g<{av}>)")
        elif op is sre.GROUPREF_EXISTS:
            group, yes, no = av
            out.append(f"(?({group}){_text(yes, ascii)}" + (f"|{_text(no, ascii)}" if no is not None else "") + ")")
        elif op is sre.FAILURE:
            out.append("(?!)")
        else:
            raise ValueError(f"unexpected {op} in a parsed pattern")
    return "".join(out)


def translated(pattern: str) -> str:
    """`pattern` in regex syntax meaning what re reads in it; raises PatternRefused."""
    tree = parse(pattern)
    flags = _letters(tree.state.flags)
    return (f"(?{flags})" if flags else "") + _text(tree, bool(tree.state.flags & sre.SRE_FLAG_ASCII))


# --- matching within the budget ----------------------------------------------------------------------


_MEMO_TEXT = 256  # results are kept for texts up to this long...
_MEMO_RESULTS = 10_000  # ...this many per request


@dataclass
class _Budget:
    """A request's regex time left and what it has worked out (mutable: it is spent as it goes).

    What is worked out is kept for the request only: a 10,000-character pattern parses and
    compiles to megabytes, too much to keep for every request, and generating an instance asks
    the same question again and again (8,000 strings of one pattern: one search).
    """

    left: float  # CPU seconds of this thread
    trees: dict[str, Any] = field(default_factory=dict)
    compiled: dict[str, Any] = field(default_factory=dict)
    results: dict[tuple[str, str], bool] = field(default_factory=dict)


_BUDGET: ContextVar[_Budget | None] = ContextVar("regex_budget", default=None)


def _current() -> _Budget:
    return _BUDGET.get() or _Budget(BUDGET)


@contextmanager
def budget(seconds: float | None = None) -> Iterator[None]:
    """All `search`es inside share `seconds`, BUDGET by default (inside another budget, that one is kept).

    The budget lives in a context variable: each server worker thread runs its request in a
    context of its own. Outside any budget, each search has `BUDGET` to itself. Time is counted
    in the thread's CPU time, so waiting for the GIL (regex releases it while matching) is not
    spent; regex's own timeout is in wall time, so a match never runs longer than what is left.
    """
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget(BUDGET if seconds is None else seconds))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches somewhere in `text` (re.search's meaning), within the budget.

    Raises PatternRefused for a pattern `problem` refuses, PatternTimeout when the budget runs out.
    """
    current = _current()
    key = (pattern, text)
    if key in current.results:
        return current.results[key]
    if current.left <= 0:
        raise PatternTimeout(pattern)
    start = time.thread_time()
    try:
        if pattern not in current.compiled:
            current.compiled[pattern] = regex.compile(translated(pattern), regex.VERSION0)
        found = current.compiled[pattern].search(text, timeout=current.left) is not None
    except TimeoutError:
        # regex's timeout is wall time: on a busy machine it can fire before this thread has spent
        # its CPU budget; either way the request's time is up, and the budget is spent.
        current.left = 0.0
        raise PatternTimeout(pattern) from None
    finally:
        current.left -= time.thread_time() - start
    if len(text) <= _MEMO_TEXT and len(current.results) < _MEMO_RESULTS:
        current.results[key] = found
    return found


# --- jsonschema, with its regex keywords going through `search` ----------------------------------------


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, properties: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """The instance's keys neither `properties` nor `patternProperties` cover (jsonschema's rule)."""
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [key for key in instance if key not in properties and not any(search(p, key) for p in patterns)]


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """jsonschema 4.26's additionalProperties, with `_additional` for its regex matching."""
    if not validator.is_type(instance, "object"):
        return
    extras = set(_additional(instance, schema))
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            listed = ", ".join(repr(extra) for extra in sorted(extras, key=str))
            yield ValidationError(f"Additional properties are not allowed ({listed} {'was' if len(extras) == 1 else 'were'} unexpected)")


def _valid(errors: Iterator[ValidationError]) -> bool:
    return next(errors, None) is None


def _evaluated_keys(validator: Any, instance: Mapping[str, Any], schema: Any) -> list[str]:
    """jsonschema 4.26's `_utils.find_evaluated_property_keys_by_schema`, matching with `search`.

    A copy, because jsonschema calls `re.search` there directly (not through a keyword) and has
    no hook for it; it reads the validator's resolver as jsonschema's own code does.
    """
    if validator.is_type(schema, "boolean"):
        return []
    keys: list[str] = []
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if ref is not None:
            resolved = validator._resolver.lookup(ref)
            evolved = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys += _evaluated_keys(evolved, instance, resolved.contents)
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys += properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is not None:
            keys += [key for key, value in instance.items() if _valid(validator.descend(value, subschema))]
    if "patternProperties" in schema:
        keys += [key for key in instance for pattern in schema["patternProperties"] if search(pattern, key)]
    for key, subschema in (schema.get("dependentSchemas") or {}).items():
        if key in instance:
            keys += _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _valid(validator.descend(instance, subschema)):
                keys += _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys += _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys += _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys += _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(validator: Any, unevaluated: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """jsonschema 4.26's unevaluatedProperties, with `_evaluated_keys`."""
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    bad = [key for key in instance if key not in evaluated and not _valid(
        validator.descend(instance[key], unevaluated, path=key, schema_path=key))]
    if not bad:
        return
    listed = ", ".join(repr(key) for key in (sorted(bad, key=str) if unevaluated is False else bad))
    verb = "was" if len(bad) == 1 else "were"
    if unevaluated is False:
        yield ValidationError(f"Unevaluated properties are not allowed ({listed} {verb} unexpected)")
    else:
        yield ValidationError(f"Unevaluated properties are not valid under the given schema ({listed} {verb} unevaluated and invalid)")


def _is_regex(instance: object) -> bool:
    """The "regex" format: a pattern this server would run (jsonschema's own compiles it with re)."""
    return not isinstance(instance, str) or problem(instance) is None


FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checkers = {**Draft202012Validator.FORMAT_CHECKER.checkers, "regex": (_is_regex, ())}

Validator: Any = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
    format_checker=FORMAT_CHECKER,
)
