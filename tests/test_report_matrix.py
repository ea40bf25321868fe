"""The matrix view model (conformance.report.matrix) and claimed-vs-observed, specified on small
synthetic runs: layout, cell states, scores, area summaries, baseline changes, history, claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conformance.report.claims import (
    CLAIMED_BROKEN,
    CLAIMED_WORKS,
    UNCLAIMED_ABSENT,
    UNCLAIMED_WORKS,
    UNTESTED,
    evaluate_claims,
)
from conformance.report.history import entry_from_run
from conformance.report.matrix import UNSTABLE_FLIPS, build_matrix
from conformance.report.samples import exchange, make_result, make_run
from conformance.results import Evidence, Expectation, SchemaError, Status


def provider(name: str, chat: list[str], embeddings: list[str] | None = None, **extra: object) -> dict:
    models = {"chat": chat, "tools": chat[:1]}
    if embeddings:
        models["embeddings"] = embeddings
    return {"name": name, "base_url": f"https://{name}.example/v1", "models": models, "status": "active", **extra}


def test_a_provider_with_one_chat_and_one_embedding_model_is_one_column() -> None:
    run = make_run(
        [
            make_result("a", "chat.basic", model="gpt"),
            make_result("a", "embeddings.basic", model="embed"),
            make_result("a", "models.list"),
        ],
        providers=[provider("a", ["gpt"], ["embed"])],
    )
    m = build_matrix(run)
    assert [(c.provider, c.lane, c.models) for c in m.columns] == [("a", 0, ("gpt", "embed"))]
    assert m.cell("a", "embeddings.basic").state == "pass"
    assert m.cell("a", "models.list").state == "pass"


def test_a_second_chat_model_gets_its_own_lane_and_provider_checks_stay_in_the_first() -> None:
    run = make_run(
        [
            make_result("a", "chat.basic", model="big"),
            make_result("a", "chat.basic", Status.FAIL, model="mini"),
            make_result("a", "models.list"),
        ],
        providers=[provider("a", ["big", "mini"])],
    )
    m = build_matrix(run)
    assert [c.models for c in m.columns] == [("big",), ("mini",)]
    assert m.cell("a", "chat.basic", lane=1).state == "fail"
    assert m.cell("a", "models.list", lane=0).state == "pass"
    assert m.cell("a", "models.list", lane=1).state == "absent"


def test_rows_follow_the_catalog_grouped_by_area_and_checks_nobody_ran_are_only_counted() -> None:
    m = build_matrix(
        make_run([make_result("a", "stream.framing"), make_result("b", "chat.stop"), make_result("a", "models.list")])
    )
    assert [a.name for a in m.areas] == ["models", "chat", "stream"]
    assert [r.check for r in m.rows] == ["models.list", "chat.stop", "stream.framing"]
    assert m.cell("a", "chat.stop").state == "absent" and m.cell("a", "chat.stop").evidence is None
    assert m.header["checks"] == 3 and m.header["checks_not_run"] == len(m_catalog()) - 3


def m_catalog() -> dict:
    from conformance.report.samples import catalog_snapshot

    return catalog_snapshot()


@pytest.mark.parametrize(
    ("status", "symbol", "text"),
    [
        (Status.PASS, "✓", "pass"),
        (Status.FAIL, "✗", "fail"),
        (Status.FLAKY, "≈", "flaky"),
        (Status.ERROR, "!", "error"),
        (Status.UNSUPPORTED, "⊘", "unsupported"),
        (Status.SKIPPED, "–", "skipped"),
    ],
)
def test_every_status_has_a_symbol_and_a_word_not_only_a_colour(status: Status, symbol: str, text: str) -> None:
    cell = build_matrix(make_run([make_result("a", "chat.basic", status)])).cell("a", "chat.basic")
    assert (cell.state, cell.symbol, cell.text) == (status.value, symbol, text)


def test_a_result_matching_its_expectation_is_shown_as_expected_with_reason_and_link() -> None:
    exp = Expectation(Status.FAIL, "ignores stop", "https://example.org/bug/1")
    m = build_matrix(make_run([make_result("a", "chat.stop", Status.FAIL, expected=exp)]))
    cell = m.cell("a", "chat.stop")
    assert cell.expected and cell.text == "fail (expected)" and "expected" in cell.filter_tags.split()
    assert cell.tip.startswith("known gap (expect:): ignores stop")
    assert cell.expectation == {"status": "fail", "reason": "ignores stop", "link": "https://example.org/bug/1"}
    ev = m.evidence[cell.evidence]
    assert ev["expected"]["matches"] is True and ev["expected"]["link"] == "https://example.org/bug/1"


def test_an_expectation_allowing_several_statuses_shows_them_all() -> None:
    exp = Expectation([Status.FAIL, Status.PASS], "flaky on this engine", "https://example.org/bug/2")
    m = build_matrix(make_run([make_result("a", "chat.stop", Status.FAIL, expected=exp)]))
    cell = m.cell("a", "chat.stop")
    assert cell.expected and cell.expectation["status"] == "pass | fail"
    assert m.evidence[cell.evidence]["expected"]["status"] == "pass | fail"


def test_an_expectation_the_result_does_not_match_is_not_shown_as_expected() -> None:
    exp = Expectation(Status.UNSUPPORTED, "refuses n")
    cell = build_matrix(make_run([make_result("a", "chat.n", Status.FAIL, expected=exp)])).cell("a", "chat.n")
    assert not cell.expected and cell.text == "fail"


def test_provider_score_is_the_share_of_must_and_should_checks_passed_skips_not_counted() -> None:
    run = make_run(
        [
            make_result("a", "chat.basic"),
            make_result("a", "chat.max_tokens", Status.FAIL),
            make_result("a", "chat.unicode", Status.SKIPPED),
            make_result("a", "chat.stop"),
            make_result("a", "chat.developer_role", Status.ERROR),
        ]
    )
    p = build_matrix(run).providers[0]
    assert (p.scores["must"].passed, p.scores["must"].evaluated, p.scores["must"].percent) == (1, 2, "50%")
    assert (p.scores["should"].passed, p.scores["should"].evaluated) == (1, 2)
    assert p.counts["skipped"] == 1


def test_area_summary_counts_passes_and_flags_failing_musts_per_column() -> None:
    run = make_run(
        [
            make_result("a", "chat.basic", Status.FAIL),
            make_result("a", "chat.stop"),
            make_result("a", "chat.n", Status.SKIPPED),
            make_result("b", "chat.basic"),
        ]
    )
    chat = next(a for a in build_matrix(run).areas if a.name == "chat")
    a, b = chat.summary
    assert (a.passed, a.evaluated, a.must_bad, a.state, a.text) == (1, 2, 1, "fail", "1/2")
    assert (b.passed, b.evaluated, b.state) == (1, 1, "pass")


def test_a_skipped_provider_is_reported_as_not_evaluated_with_its_reason() -> None:
    run = make_run(
        [make_result("gone", "chat.basic", Status.SKIPPED, message="no key in $GONE_KEY")],
        providers=[
            {"name": "gone", "models": {"chat": ["m"]}, "status": "skipped", "skip_reason": "no key in $GONE_KEY"}
        ],
    )
    p = build_matrix(run).providers[0]
    assert p.skipped == "no key in $GONE_KEY" and not p.evaluated


def test_row_differs_only_when_providers_disagree() -> None:
    run = make_run(
        [
            make_result("a", "chat.basic"),
            make_result("b", "chat.basic"),
            make_result("a", "chat.stop"),
            make_result("b", "chat.stop", Status.FAIL),
        ]
    )
    rows = {r.check: r for r in build_matrix(run).rows}
    assert not rows["chat.basic"].differs
    assert rows["chat.stop"].differs


def test_cells_changed_against_a_baseline_carry_the_change_and_regressions_come_first() -> None:
    old = make_run(
        [make_result("a", "chat.basic"), make_result("a", "chat.stop", Status.FAIL), make_result("a", "chat.n")]
    )
    new = make_run(
        [make_result("a", "chat.basic", Status.FAIL), make_result("a", "chat.stop"), make_result("a", "chat.n")]
    )
    m = build_matrix(new, baseline=old)
    assert m.cell("a", "chat.basic").change == "regression" and m.cell("a", "chat.basic").baseline == "pass"
    assert m.cell("a", "chat.stop").change == "fix"
    assert m.cell("a", "chat.n").change is None
    assert [c.kind for c in m.changes] == ["regression", "fix"]
    assert m.totals["regressions"] == 1 and m.providers[0].regressions == 1
    assert m.catalog_warning is None


def test_a_baseline_from_another_catalog_version_raises_a_visible_warning() -> None:
    old = make_run([make_result("a", "chat.basic")], catalog_version="0")
    m = build_matrix(make_run([make_result("a", "chat.basic")]), baseline=old)
    assert m.catalog_warning and "CATALOG VERSIONS DIFFER" in m.catalog_warning


def _nightly(statuses: list[Status]) -> list:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        make_run(
            [make_result("a", "chat.basic", s), make_result("a", "chat.stop")],
            started_at=(start + timedelta(days=i)).isoformat(),
        )
        for i, s in enumerate(statuses)
    ]


def test_history_gives_each_provider_a_trend_ending_with_this_run() -> None:
    runs = _nightly([Status.PASS, Status.FAIL, Status.PASS])
    m = build_matrix(runs[-1], history=[entry_from_run(r) for r in runs[:-1]])
    trend = m.providers[0].trend
    assert trend is not None and m.history_runs == 2
    assert trend.must == (1.0, 0.0, 1.0)
    assert len(trend.must_points.split()) == 3
    assert trend.started[-1] == runs[-1].run.started_at


def test_this_run_already_in_history_is_not_counted_twice() -> None:
    runs = _nightly([Status.PASS, Status.FAIL])
    m = build_matrix(runs[-1], history=[entry_from_run(r) for r in runs])
    assert m.history_runs == 1 and len(m.providers[0].trend.must) == 2


def test_a_cell_that_keeps_flipping_is_marked_unstable() -> None:
    runs = _nightly([Status.PASS, Status.FAIL, Status.PASS, Status.FAIL])
    m = build_matrix(runs[-1], history=[entry_from_run(r) for r in runs[:-1]])
    cell = m.cell("a", "chat.basic")
    assert cell.flips == 3 >= UNSTABLE_FLIPS and "unstable" in cell.filter_tags.split()
    assert m.cell("a", "chat.stop").flips == 0


def test_no_history_means_no_trend() -> None:
    assert build_matrix(make_run([make_result()])).providers[0].trend is None


def test_evidence_is_bounded_and_keeps_what_a_reader_needs() -> None:
    big = exchange(size=50_000)
    r = make_result(
        "a",
        "chat.basic",
        Status.FAIL,
        message="received x / expected y" * 500,
        evidence=Evidence(
            exchanges=(big,) * 9,
            schema_errors=(
                SchemaError("chat_completion", "/choices", "required", "m", "{}", "must"),
            )
            * 40,
            notes=("n" * 5000,),
        ),
        metrics={"latency_ms": 120.0, "ttft_ms": 40.0},
    )
    ev = build_matrix(make_run([r])).evidence[0]
    assert len(ev["message"]) < 2100
    assert len(ev["exchanges"]) == 4 and ev["exchanges_omitted"] == 5
    assert len(ev["exchanges"][0]["response"]["body"]) < 8300
    assert ev["exchanges"][0]["curl"].startswith("curl ") and "$API_KEY" in ev["exchanges"][0]["curl"]
    assert len(ev["schema_errors"]) == 20 and ev["schema_errors"][0]["pointer"] == "/choices"
    assert len(ev["notes"][0]) < 700
    assert ev["metrics"] == {"latency_ms": 120.0, "ttft_ms": 40.0}


def test_passing_cells_keep_less_evidence_than_failing_ones() -> None:
    ev = Evidence(exchanges=(exchange(size=20_000),) * 3)
    m = build_matrix(
        make_run(
            [make_result("a", "chat.basic", evidence=ev), make_result("b", "chat.basic", Status.FAIL, evidence=ev)]
        )
    )
    passing, failing = m.evidence
    assert len(passing["exchanges"]) == 1 and len(failing["exchanges"]) == 3
    assert len(passing["exchanges"][0]["response"]["body"]) < len(failing["exchanges"][0]["response"]["body"])


def test_non_finite_metrics_are_dropped_from_evidence() -> None:
    r = make_result(metrics={"latency_ms": float("nan"), "ttft_ms": float("inf"), "chunks": 3.0})
    assert build_matrix(make_run([r])).evidence[0]["metrics"] == {"chunks": 3.0}


# --- claimed vs observed --------------------------------------------------------------------------


def _claims_run(claims: dict, results: list) -> dict:
    run = make_run(results, providers=[provider("a", ["m"], claims={"m": claims})])
    return {c.key: c for c in evaluate_claims(run)}


@pytest.mark.parametrize(
    ("claimed", "status", "state"),
    [
        (True, Status.PASS, CLAIMED_WORKS),
        (True, Status.FAIL, CLAIMED_BROKEN),
        (True, Status.UNSUPPORTED, CLAIMED_BROKEN),
        (None, Status.PASS, UNCLAIMED_WORKS),
        (False, Status.PASS, UNCLAIMED_WORKS),
        (False, Status.UNSUPPORTED, UNCLAIMED_ABSENT),
        (True, Status.ERROR, UNTESTED),
    ],
)
def test_claim_states(claimed: bool | None, status: Status, state: str) -> None:
    claims = {"chat.logprobs": claimed} if claimed is not None else {}
    results = [make_result("a", "chat.logprobs", status, model="m")]
    run = make_run(
        results,
        providers=[
            provider("a", ["m"], claims={"m": claims}),
            provider("b", ["x"], claims={"x": {"chat.logprobs": True}}),
        ],
    )
    found = {(c.provider, c.key): c for c in evaluate_claims(run)}
    assert found[("a", "chat.logprobs")].state == state


def test_an_area_claim_stands_for_the_areas_must_checks() -> None:
    found = _claims_run(
        {"tools": True},
        [
            make_result("a", "tools.auto", model="m"),
            make_result("a", "tools.parallel", Status.FAIL, model="m"),  # should: not part of the claim
        ],
    )
    assert found["tools"].state == CLAIMED_WORKS
    assert ("tools.parallel", "fail") not in found["tools"].checks


def test_a_marketing_word_claim_maps_to_its_checks() -> None:
    found = _claims_run({"json_mode": True}, [make_result("a", "structured.json_object", Status.FAIL, model="m")])
    assert found["json_mode"].state == CLAIMED_BROKEN


def test_claimed_but_broken_is_counted_apart_and_marks_the_cell() -> None:
    run = make_run(
        [make_result("a", "chat.logprobs", Status.FAIL, model="m")],
        providers=[provider("a", ["m"], claims={"m": {"logprobs": True}})],
    )
    m = build_matrix(run)
    assert m.totals["claimed_broken"] == 1 and m.providers[0].claimed_broken == 1
    cell = m.cell("a", "chat.logprobs")
    assert cell.claimed and "claimed_broken" in cell.filter_tags.split()


def test_no_claims_in_the_run_means_no_claims_section() -> None:
    assert evaluate_claims(make_run([make_result()])) == []
