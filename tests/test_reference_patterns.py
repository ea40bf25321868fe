"""conformance.reference.patterns: request regexes run by `regex`, read as `re` reads them, within a budget.

The reference server once ran schema patterns with `re`, which backtracks without limit and holds
the GIL meanwhile. These tests pin down the replacement: same verdicts as re (and so as
jsonschema's own keywords) on ordinary patterns, regex-only syntax read the re way, patterns that
would crash or stall regex's compiler refused before it sees them, and one shared time budget.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from conformance.reference import patterns
from conformance.reference.patterns import PatternRefused, PatternTimeout

pytestmark = pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # [[:alpha:]], as re warns

# One or more of each construct re's parser produces.
PATTERNS = [
    r"^[A-Z]{3}$", r"^\d{4}-\d{2}-\d{2}$", r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", r"(?i)^hello\b", r"(?m)^b$", r"(?s)a.b",
    r"(?x) a \ b  # spaces and a comment", r"^(?P<q>['\"]).*(?P=q)$", r"(a)?(?(1)b|c)$", r"(?<=x)y(?!z)", r"(?<!a)b",
    r"^a{2,}+$", r"(?>ab|a)c", r"(?i:a)(?-i:b)", r"^a*?b+?c??$", r"\Aab\Z", r"\Ba\B", r"[^a-c\d_]", r"\W\S\D",
    r"^$", r"a|", r"(?!)", r"[\]\-^]", r"é+ü?", r"(?a)\w+", r"^(?:ab|cd){2,3}$", "\U0001f600", r"x{e<=1}",
    r"[[:alpha:]]", r"a{,2}b", r"a{1, 2}", r"^\w+$", r"\s", r"[\W\d]", r"[^\W_]", r"[^\S\n]", r"\bé\b", r"\Bb",
    r"(?a)[\W]\b", r"(?i)ſ", r"(?i)[k-m]+", r"(?i)straße",
]
# Characters on which the engines' classes or case folding could part ways.
TRICKY = "abcxyz@.-_ \n\x1c\u0301\u200céß¼ſKkK٣İı"


def re_verdict(pattern: str, text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "possible nested set" in [[:alpha:]]
        return re.search(pattern, text) is not None


def matching(pattern: str) -> st.SearchStrategy[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return st.from_regex(pattern)


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_search_agrees_with_re(pattern, data):
    # Characters this Python's Unicode database leaves unassigned are left out: the regex module's
    # newer database may call them letters (U+18D80), a difference of versions, not of engines.
    assigned = st.characters(exclude_categories=("Cn",))
    text = data.draw(matching(pattern) | st.text(assigned, max_size=12) | st.text(alphabet=TRICKY, max_size=12))
    assert patterns.search(pattern, text) == re_verdict(pattern, text), (pattern, text)


@pytest.mark.parametrize(
    "pattern, text, expected",
    [
        ("x{e<=1}", "y", False),  # regex alone would read a fuzzy match allowing one error
        ("x{e<=1}", "x{e<=1}", True),
        ("^[[:alpha:]]$", "b", False),  # regex alone would read a POSIX class
        ("^[[:alpha:]]$", "a]", True),
    ],
)
def test_regex_only_syntax_keeps_res_reading(pattern, text, expected):
    assert re_verdict(pattern, text) is expected
    assert patterns.search(pattern, text) is expected


@pytest.mark.parametrize(
    "pattern, why",
    [
        ("(?:(?:ab|cd){1000}){1000}", "too large to compile"),  # regex's compiler crashes the process on it
        ("(?=a{1000}){1000}", "too large to compile"),
        ("(a)(?(1)b{1000}|c){1000}", "too large to compile"),
        ("\\b" * 300, "too large to compile"),  # each is four lookarounds in regex's terms
        ("a" * (patterns.MAX_LENGTH + 1), "longer than"),
        ("(" * (patterns.MAX_NESTING + 1) + "a" + ")" * (patterns.MAX_NESTING + 1), "nests"),
        ("(", "not a valid regular expression"),
    ],
    ids=["branches", "lookahead", "conditional", "boundaries", "long", "deep", "invalid"],
)
def test_patterns_regex_cannot_run_safely_are_refused_before_it_sees_them(pattern, why):
    assert why in (patterns.problem(pattern) or "")
    with pytest.raises(PatternRefused, match=why):
        patterns.search(pattern, "abcd")


@pytest.mark.parametrize("pattern", [r"^[a-z]{0,100000}$", r"^(?:a{100}){100}$", r"a+b*(?:cd)?", "[0-9]{64}"])
def test_large_counts_and_open_repeats_are_not_refused(pattern):
    assert patterns.problem(pattern) is None


EVIL = "^(a|aa)+$"
EVIL_TEXT = "a" * 40 + "!"  # ~25 s for re


def test_a_backtracking_pattern_runs_out_of_time():
    with pytest.raises(PatternTimeout, match="took more than"):
        patterns.search(EVIL, EVIL_TEXT)


def test_one_budget_is_shared_by_every_search_inside_it():
    with patterns.budget():
        assert patterns.search("^b$", "b")
        with pytest.raises(PatternTimeout):
            patterns.search(EVIL, EVIL_TEXT)
        with pytest.raises(PatternTimeout):  # spent: even an easy new question is refused
            patterns.search("^c$", "c")
        assert patterns.search("^b$", "b")  # worked out before the budget ran out
    assert patterns.search("^c$", "c")  # a new request, a new budget


def test_an_inner_budget_keeps_the_outer_one():
    with patterns.budget():
        with pytest.raises(PatternTimeout):
            patterns.search(EVIL, EVIL_TEXT)
        with patterns.budget(), pytest.raises(PatternTimeout):
            patterns.search("^c$", "c")


# --- jsonschema keywords ----------------------------------------------------------------------------

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string", "pattern": "^[A-Z]{3}$"},
    {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}},
    {"type": "object", "patternProperties": {"^n_": {"type": "integer"}, "^s_": {"type": "string"}}},
    {"type": "object", "properties": {"id": {}}, "patternProperties": {"^x-": {}}, "additionalProperties": False},
    {"type": "object", "patternProperties": {"^x-": {}}, "additionalProperties": {"type": "integer"}},
    {"type": "object", "allOf": [{"patternProperties": {"^x-": {}}}], "unevaluatedProperties": False},
    {"$defs": {"p": {"patternProperties": {"^x-": {"type": "string"}}}}, "$ref": "#/$defs/p",
     "unevaluatedProperties": {"type": "integer"}},
    {"if": {"patternProperties": {"^a": {"type": "integer"}}}, "then": {"patternProperties": {"^b": {}}},
     "else": {"properties": {"c": {}}}, "unevaluatedProperties": False},
    {"dependentSchemas": {"k": {"patternProperties": {"^k": {}}}}, "unevaluatedProperties": False},
    {"type": "string", "format": "regex"},
]
INSTANCES = st.recursive(
    st.none() | st.integers(-3, 3) | st.sampled_from(["ABC", "abc", "A1", "(", "x-1", "n_1", "s_a", "id", "k", "b"]),
    lambda inner: st.dictionaries(st.sampled_from(["id", "x-a", "n_1", "s_a", "aa", "b", "c", "k", "Key", "y"]), inner, max_size=4),
    max_leaves=6,
)


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
@settings(max_examples=80, deadline=None)
@given(instance=INSTANCES)
def test_validator_agrees_with_jsonschema(schema, instance):
    ours = patterns.Validator(schema, format_checker=patterns.FORMAT_CHECKER).is_valid(instance)
    theirs = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(instance)
    assert ours == theirs


@pytest.mark.parametrize(
    "schema, instance",
    [
        ({"type": "string", "pattern": EVIL}, EVIL_TEXT),
        ({"type": "object", "propertyNames": {"pattern": EVIL}}, {EVIL_TEXT: 1}),
        ({"type": "object", "patternProperties": {EVIL: {}}}, {EVIL_TEXT: 1}),
        ({"type": "object", "patternProperties": {EVIL: {}}, "additionalProperties": False}, {EVIL_TEXT: 1}),
        ({"type": "object", "allOf": [{"patternProperties": {EVIL: {}}}], "unevaluatedProperties": False}, {EVIL_TEXT: 1}),
    ],
    ids=["pattern", "propertyNames", "patternProperties", "additionalProperties", "unevaluatedProperties"],
)
def test_every_regex_keyword_runs_within_the_budget(schema, instance):
    with pytest.raises(PatternTimeout):
        patterns.Validator(schema).is_valid(instance)
