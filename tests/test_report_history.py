"""History: one compact file per run, read back in order, and flip counts for flakiness."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.report.history import append_history, entry_from_run, flip_counts, load_history
from conformance.report.samples import make_result, make_run
from conformance.results import Status


def night(day: int, basic: Status = Status.PASS) -> object:
    return make_run(
        [make_result("a", "chat.basic", basic), make_result("a", "models.list", level="must")],
        started_at=f"2025-01-{day:02d}T02:00:00+00:00",
    )


def test_append_writes_one_compact_keyed_file_named_by_start_and_hash(tmp_path: Path) -> None:
    path = append_history(night(6), tmp_path)
    assert re.fullmatch(r"2025-01-06T02-00-00-00-00-[0-9a-f]{12}\.json", path.name)
    data = json.loads(path.read_text())
    assert data["format"] == "openai-compat-conformance.history"
    assert data["statuses"] == {"a": {"model-a": {"chat.basic": "pass"}, "": {"models.list": "pass"}}}
    assert data["summary"]["a"]["must"] == [2, 2, 0]
    assert "evidence" not in path.read_text() and "\n" not in path.read_text().strip()


def test_appending_the_same_run_twice_keeps_one_file(tmp_path: Path) -> None:
    assert append_history(night(6), tmp_path) == append_history(night(6), tmp_path)
    assert len(list(tmp_path.iterdir())) == 1


def test_load_returns_the_last_runs_oldest_first(tmp_path: Path) -> None:
    for day in (9, 3, 7, 5):
        append_history(night(day), tmp_path)
    entries = load_history(tmp_path, limit=3)
    assert [e.started_at[:10] for e in entries] == ["2025-01-05", "2025-01-07", "2025-01-09"]


def test_load_round_trips_statuses_and_summary(tmp_path: Path) -> None:
    run = night(6, Status.FAIL)
    append_history(run, tmp_path)
    (entry,) = load_history(tmp_path)
    assert entry.statuses == entry_from_run(run).statuses
    assert entry.summary["a"]["must"].passed == 1 and entry.summary["a"]["must"].evaluated == 2


def test_unreadable_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    append_history(night(6), tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.warns(UserWarning, match="skipping"):
        assert len(load_history(tmp_path)) == 1


def test_missing_history_dir_is_empty_history(tmp_path: Path) -> None:
    assert load_history(tmp_path / "nope") == []


def test_flip_counts_counts_status_changes_between_consecutive_appearances() -> None:
    runs = [night(1), night(2, Status.FAIL), night(3, Status.FAIL), night(4), night(5, Status.ERROR)]
    flips = flip_counts([entry_from_run(r) for r in runs])
    assert flips == {("a", "model-a", "chat.basic"): 3}


def test_flip_counts_ignores_runs_a_key_is_absent_from_and_accepts_runs() -> None:
    absent = make_run([make_result("a", "models.list")], started_at="2025-01-02T02:00:00+00:00")
    assert flip_counts([night(1), absent, night(3)]) == {}
