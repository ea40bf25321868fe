"""conformance/data/schemas/results.schema.json documents results.json exactly as results.py writes it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from jsonschema import Draft202012Validator

from conformance.report.samples import exchange, make_result, make_run, synthetic_run
from conformance.results import (
    FINDING_LAYERS,
    CatalogEntry,
    CheckResult,
    Evidence,
    ExchangeRecord,
    Expectation,
    Finding,
    Kind,
    Level,
    ProviderSnapshot,
    Redaction,
    RequestRecord,
    ResponseRecord,
    RunMetadata,
    SchemaError,
    Status,
    Timing,
    Tokens,
    read_results,
    write_results,
)
from conformance.schemas import load_schema, validate


def written(tmp_path: Path, run) -> dict:
    path = tmp_path / "results.json"
    write_results(path, run)
    return json.loads(path.read_text(encoding="utf-8"))


def test_schema_is_draft_2020_12_with_id_title_description() -> None:
    schema = load_schema("results")
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "https://openai-compat-conformance.dev/schemas/results.schema.json"
    assert schema["title"] and schema["description"]


def test_a_synthetic_run_as_written_validates(tmp_path: Path) -> None:
    data = written(tmp_path, synthetic_run(5, 64))
    assert validate("results", data) == []


def test_every_field_results_py_can_write_validates(tmp_path: Path) -> None:
    r = make_result(
        "a",
        "chat.basic",
        Status.FLAKY,
        message="m",
        expected=Expectation(Status.FAIL, "why", "https://x"),
        evidence=Evidence(
            exchanges=(exchange(stream=True),),
            schema_errors=(SchemaError("s", "/a", "type", "m", "1", "must"),),
            findings=(
                Finding("c", "m", "violation", line=3, layer="sse"),
                Finding("d", "m", "info", event_index=2),
                Finding("counterexample", "m", example={"set": [["temperature", 7]]}, seed=5, layer="property"),
            ),
            notes=("n",),
        ),
    )
    r = dataclasses.replace(
        r,
        repeats={
            "runs": 3,
            "passes": 2,
            "statuses": ["pass", "fail", "pass"],
            "pass_rate": 0.6667,
            "wilson_low": 0.2,
            "wilson_high": 0.94,
        },
    )
    run = make_run(
        [r, make_result("a", "models.list")],
        incomplete=True,
        incomplete_reason="stopped",
        options={"repeat": 3},
        argv=("run",),
    )
    data = written(tmp_path, run)
    assert validate("results", data) == []
    assert read_results(tmp_path / "results.json") == run


def test_the_schema_closes_what_results_py_writes() -> None:
    """Every field of the records results.py defines is in the schema, and enums match."""
    defs = load_schema("results")["$defs"]
    assert {f.name for f in dataclasses.fields(RunMetadata)} == set(defs["run"]["properties"])
    assert {f.name for f in dataclasses.fields(CheckResult)} == set(defs["result"]["properties"])
    assert {f.name for f in dataclasses.fields(Tokens)} == set(defs["tokens"]["properties"])
    assert {f.name for f in dataclasses.fields(Evidence)} == set(defs["evidence"]["properties"])
    exchange_def = defs["exchange"]["properties"]
    records = [
        (ExchangeRecord, defs["exchange"]),
        (RequestRecord, exchange_def["request"]),
        (ResponseRecord, exchange_def["response"]["oneOf"][1]),
        (Timing, exchange_def["timing"]),
        (SchemaError, defs["schema_error"]),
        (CatalogEntry, defs["catalog_entry"]),
        (ProviderSnapshot, defs["provider"]),
        (Redaction, defs["provider"]["properties"]["redaction"]),
    ]
    for record, schema in records:
        names = {f.name for f in dataclasses.fields(record)}
        assert names == set(schema["properties"]), record.__name__
        assert schema["additionalProperties"] is False and set(schema["required"]) <= names, record.__name__
    layers = [(tuple(one["required"]), set(one["properties"])) for one in defs["finding"]["oneOf"]]
    assert [(keys, set(keys)) for keys in FINDING_LAYERS.values()] == layers
    assert set(defs["status"]["enum"]) == {s.value for s in Status}
    assert set(defs["level"]["enum"]) == {lv.value for lv in Level}
    assert set(defs["kind"]["enum"]) == {k.value for k in Kind}


def test_a_real_run_as_written_validates_and_reads_back_byte_for_byte(tmp_path: Path) -> None:
    """Providers with claims, expectations, prices and redaction facts, findings of both stream
    layers and counterexamples, schema errors: all of it is what the schema documents, and
    from_dict/to_dict give back the very bytes the run wrote."""
    from conformance.runner import run_provider

    from conftest import reference

    with reference(("stream_no_trailing_blank_line", "usage_float_tokens", "mangle_unicode")) as provider:
        results = tuple(run_provider(provider))
    entry = {**provider.summary(), "status": "active", "skip_reason": None}
    run = make_run(results, providers=[entry])
    data = written(tmp_path, run)
    assert validate("results", data) == []
    kinds = {f.layer for r in run.results for f in r.evidence.findings}
    assert kinds == {"stream", "property"} and any(r.evidence.schema_errors for r in run.results)
    text = (tmp_path / "results.json").read_text(encoding="utf-8")
    write_results(tmp_path / "again.json", read_results(tmp_path / "results.json"))
    assert (tmp_path / "again.json").read_text(encoding="utf-8") == text


def test_a_malformed_run_is_rejected_with_pointers() -> None:
    data = make_run([make_result()]).to_dict()
    data["results"][0]["status"] = "passed"
    data["results"][0]["tokens"]["total"] = 1.5
    data["run"].pop("started_at")
    pointers = {e.pointer for e in validate("results", data)}
    assert {"/results/0/status", "/results/0/tokens/total", "/run/started_at"} <= pointers
