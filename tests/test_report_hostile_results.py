"""A crafted results.json is read into checked records or refused with ValueError, never a traceback.

A merged shard or a baseline may come from anywhere. Every record's `from_dict` checks the types
it reads (conformance/jsonshape.py), so the reports can trust what they are given: whatever one
member of a valid file is replaced with, `RunResults.from_dict` either gives a run that renders
to HTML and Markdown, or raises ValueError naming the place.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.report import render_html, render_markdown
from conformance.report.gate import evaluate_policy
from conformance.report.merge import merge_runs
from conformance.report.samples import exchange, make_result, make_run
from conformance.results import Evidence, Finding, RunResults, SchemaError, Status


def valid_run() -> dict[str, Any]:
    evidence = Evidence(
        exchanges=(exchange(stream=True), exchange()),
        schema_errors=(SchemaError("chat_completion", "/choices", "required", "m", "{}", "must"),),
        findings=(
            Finding("no_done", "no [DONE]", "violation", event_index=3),
            Finding("bom", "a BOM", "info", line=1, offset=0, layer="sse"),
            Finding("counterexample", "echo broke", example={"set": [["temperature", 7]]}, seed=5, layer="property"),
        ),
        notes=("a note",),
    )
    result = make_result("a", "chat.basic", Status.FAIL, evidence=evidence)
    entry = {"name": "a", "base_url": "https://a.example/v1", "builtin": None, "models": {"chat": ["model-a"]},
             "claims": {"model-a": {"tools": True}}, "tags": ["t"], "expect": {"chat.basic": {"status": "fail"}},
             "prices": {"input_per_mtok": 1.0}, "redaction": {"secrets": 1, "unsearched": 0, "min_length": 8},
             "status": "active", "skip_reason": None}
    run = make_run([result, make_result("a", "models.list")], providers=[entry], options={"repeat": 1})
    return json.loads(json.dumps(run.to_dict()))


VALID = valid_run()


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every member and item of a JSON value, as a path from the top."""
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from places(child, (*path, key))


PLACES = [p for p in places(VALID) if p]
garbage = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def replaced(path: tuple[Any, ...], value: Any, delete: bool) -> dict[str, Any]:
    data = json.loads(json.dumps(VALID))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


def test_the_valid_file_reads_back_as_written() -> None:
    assert RunResults.from_dict(VALID).to_dict() == VALID


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(place=st.sampled_from(PLACES), value=garbage, delete=st.booleans())
def test_one_member_replaced_by_anything_is_read_or_refused_with_value_error(
    place: tuple[Any, ...], value: Any, delete: bool
) -> None:
    data = replaced(place, value, delete)
    try:
        run = RunResults.from_dict(data)
    except ValueError:
        return
    # What was accepted renders, merges and gates without surprises.
    html, markdown = render_html(run), render_markdown(run)
    assert "</html>" in html and markdown.startswith("## ")
    merge_runs([run, run])
    evaluate_policy(run, "chat")


@pytest.mark.parametrize(("path", "value", "words"), [
    (("results", 0, "evidence", "exchanges", 0, "request", "url"), 5, "exchanges[0].request.url"),
    (("results", 0, "evidence", "findings", 0, "event_index"), "3", "findings[0].event_index"),
    (("results", 0, "metrics", "latency_ms"), math.inf, "metrics.latency_ms: not a finite JSON number"),
    (("results", 0, "tokens", "total"), True, "tokens.total: a bool where int belongs"),
    (("providers", 0, "models", "chat"), "model-a", "providers[0].models.chat"),
    (("catalog", "chat.basic", "level"), "required", "'required' is not a valid Level"),
    (("run", "duration_s"), 10**400, "run.duration_s"),
])
def test_a_refusal_names_the_place(path: tuple[Any, ...], value: Any, words: str) -> None:
    with pytest.raises(ValueError) as info:
        RunResults.from_dict(replaced(path, value, delete=False))
    assert words in str(info.value)
