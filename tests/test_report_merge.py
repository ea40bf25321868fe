"""merge_runs: shards (one provider per CI job) become one run."""

from __future__ import annotations

import pytest

from conformance.report.merge import merge_runs
from conformance.report.samples import make_result, make_run
from conformance.results import RunResults, Status


def shard(provider: str, status: Status = Status.PASS, start: str = "2025-01-06T02:00:00+00:00", **meta) -> RunResults:
    return make_run(
        [make_result(provider, "chat.basic", status), make_result(provider, "chat.stop")], started_at=start, **meta
    )


def test_shards_of_different_providers_are_unioned() -> None:
    merged = merge_runs([shard("a"), shard("b")])
    assert {r.provider for r in merged.results} == {"a", "b"} and len(merged.results) == 4
    assert [p.name for p in merged.providers] == ["a", "b"]


def test_on_a_duplicate_the_later_run_wins_and_says_so() -> None:
    merged = merge_runs([shard("a", Status.FAIL), shard("a", Status.PASS)])
    basic = next(r for r in merged.results if r.check == "chat.basic")
    assert basic.status is Status.PASS
    assert any("replaced a fail result from shard 1" in n for n in basic.evidence.notes)
    assert len(merged.results) == 2


def test_a_skipped_result_never_replaces_a_real_verdict() -> None:
    real = shard("a", Status.FAIL)
    not_selected = make_run(
        [make_result("a", "chat.basic", Status.SKIPPED)],
        providers=[{"name": "a", "status": "skipped", "skip_reason": "not selected"}],
    )
    merged = merge_runs([real, not_selected])
    assert next(r for r in merged.results if r.check == "chat.basic").status is Status.FAIL
    assert merged.providers[0].status == "active"


def test_metadata_spans_all_shards() -> None:
    merged = merge_runs(
        [
            shard("a", start="2025-01-06T02:05:00+00:00", finished_at="2025-01-06T02:20:00+00:00", workers=2),
            shard(
                "b",
                start="2025-01-06T02:00:00+00:00",
                finished_at="2025-01-06T02:10:00+00:00",
                workers=3,
                incomplete=True,
                incomplete_reason="job b timed out",
            ),
        ]
    )
    m = merged.run
    assert m.started_at == "2025-01-06T02:00:00+00:00" and m.finished_at == "2025-01-06T02:20:00+00:00"
    assert m.duration_s == 1200.0 and m.workers == 5
    assert m.incomplete and m.incomplete_reason == "job b timed out"


def test_earliest_start_compares_instants_not_strings() -> None:
    merged = merge_runs([shard("a", start="2025-01-06T03:00:00+02:00"), shard("b", start="2025-01-06T02:00:00+00:00")])
    assert merged.run.started_at == "2025-01-06T03:00:00+02:00"  # 01:00 UTC


def test_differing_suite_versions_are_kept_visible() -> None:
    merged = merge_runs([shard("a", suite_version="0.1.0"), shard("b", suite_version="0.2.0")])
    assert merged.run.suite_version == "0.1.0, 0.2.0"


def test_shards_from_different_catalog_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="different catalog versions"):
        merge_runs([shard("a"), make_run([make_result("b")], catalog_version="2")])


def test_merging_nothing_is_an_error_and_one_run_is_itself() -> None:
    with pytest.raises(ValueError):
        merge_runs([])
    run = shard("a")
    assert merge_runs([run]).results == run.results
