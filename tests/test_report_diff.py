"""diff_runs: what counts as a regression, a fix or another change, and loud catalog mismatches."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conformance.report.diff import classify, diff_runs
from conformance.report.samples import make_result, make_run
from conformance.results import CatalogEntry, CatalogSnapshot, Expectation, Kind, Level, Status

P, F, E, U, S, K = Status.PASS, Status.FAIL, Status.ERROR, Status.UNSUPPORTED, Status.SKIPPED, Status.FLAKY


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (P, P, None),
        (P, F, "regression"),
        (P, E, "regression"),
        (P, U, "regression"),
        (P, K, "regression"),
        (U, F, "regression"),
        (F, P, "fix"),
        (E, P, "fix"),
        (U, P, "fix"),
        (K, P, "fix"),
        (F, E, "changed"),
        (P, S, "changed"),
        (S, P, "changed"),
        (F, U, "changed"),
        (None, P, "added"),
        (P, None, "removed"),
    ],
)
def test_classify(old: Status | None, new: Status | None, kind: str | None) -> None:
    assert classify(old, new) == kind


def test_regressions_fixes_and_changes_are_listed_musts_first() -> None:
    old = make_run(
        [
            make_result("a", "chat.stop"),  # should
            make_result("a", "chat.basic"),  # must
            make_result("a", "chat.n", F),
            make_result("a", "chat.seed", F),
        ]
    )
    new = make_run(
        [
            make_result("a", "chat.stop", F),
            make_result("a", "chat.basic", F),
            make_result("a", "chat.n"),
            make_result("a", "chat.seed", E),
        ]
    )
    d = diff_runs(old, new)
    assert [c.check for c in d.regressions] == ["chat.basic", "chat.stop"]
    assert [c.check for c in d.fixes] == ["chat.n"]
    assert [(c.check, c.old, c.new) for c in d.changes] == [("chat.seed", F, E)]
    assert d.has_must_regression


def test_a_should_regression_alone_is_not_a_must_regression() -> None:
    d = diff_runs(make_run([make_result("a", "chat.stop")]), make_run([make_result("a", "chat.stop", F)]))
    assert d.regressions and not d.has_must_regression


def test_a_regression_to_a_declared_expectation_is_listed_but_not_a_must_regression() -> None:
    new = make_run([make_result("a", "chat.basic", F, expected=Expectation(F, "known upstream bug"))])
    d = diff_runs(make_run([make_result("a", "chat.basic")]), new)
    assert d.regressions[0].expected and not d.has_must_regression
    assert "(expected)" in d.to_text()


def test_new_and_removed_providers_checks_and_results() -> None:
    old = make_run([make_result("a", "chat.basic"), make_result("gone", "chat.basic")])
    new_catalog = {k: v for k, v in old.catalog.items() if k != "chat.seed"}
    new_catalog["chat.brand_new"] = CatalogEntry("chat", Level.SHOULD, Kind.WIRE, title="new")
    new = make_run(
        [make_result("a", "chat.basic"), make_result("fresh", "chat.basic")], catalog=CatalogSnapshot(new_catalog)
    )
    d = diff_runs(old, new)
    assert d.new_providers == ("fresh",) and d.removed_providers == ("gone",)
    assert d.new_checks == ("chat.brand_new",) and d.removed_checks == ("chat.seed",)
    assert [c.provider for c in d.added] == ["fresh"] and [c.provider for c in d.removed] == ["gone"]


def test_different_catalog_versions_are_compared_but_said_loudly() -> None:
    old = make_run([make_result("a", "chat.basic")], catalog_version="1")
    new = make_run([make_result("a", "chat.basic", F)], catalog_version="2")
    d = diff_runs(old, new)
    text = d.to_text()
    assert text.startswith("!!!") and "CATALOG VERSIONS DIFFER" in text.splitlines()[1]
    assert d.to_dict()["catalog_versions_differ"] is True
    assert d.regressions  # still compared


def test_same_version_with_changed_levels_is_also_flagged() -> None:
    old = make_run([make_result("a", "chat.basic")])
    catalog = {**old.catalog, "chat.basic": dataclasses.replace(old.catalog["chat.basic"], level=Level.SHOULD)}
    d = diff_runs(old, make_run([make_result("a", "chat.basic")], catalog=CatalogSnapshot(catalog)))
    assert d.catalog_mismatch and "CATALOG CONTENT DIFFERS" in d.catalog_mismatch
    assert d.level_changes == (("chat.basic", "must", "should"),)


def test_identical_runs_have_no_differences() -> None:
    run = make_run([make_result("a", "chat.basic"), make_result("a", "chat.stop", F)])
    d = diff_runs(run, run)
    assert d.is_empty and not d.has_must_regression and "No differences." in d.to_text()


def test_to_dict_is_json_and_carries_score_changes() -> None:
    old = make_run([make_result("a", "chat.basic"), make_result("a", "chat.max_tokens")])
    new = make_run([make_result("a", "chat.basic"), make_result("a", "chat.max_tokens", F)])
    d = diff_runs(old, new)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["has_must_regression"] is True
    assert data["scores"]["a"]["must"] == {"old": 1.0, "new": 0.5}
    assert "must 100% -> 50%" in d.to_text()
