"""The report commands of the CLI on results files: report, diff, merge, gate."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conformance.cli import main
from conformance.report.samples import make_result, make_run
from conformance.results import RunResults, Status, read_results, write_results

MUST_CHECKS = ("chat.basic", "stream.framing", "usage.present", "errors.shape")


def write_run(path: Path, statuses: dict[tuple[str, str], str], started: str = "2026-11-01T02:00:00+00:00") -> Path:
    run = make_run(
        [make_result(provider=p, check=c, status=Status(s)) for (p, c), s in statuses.items()], started_at=started
    )
    write_results(path, run)
    return path


def all_pass(provider: str) -> dict[tuple[str, str], str]:
    return {(provider, c): "pass" for c in MUST_CHECKS}


def test_report_regenerates_html_and_markdown_from_results(tmp_path: Path) -> None:
    results = write_run(tmp_path / "results.json", all_pass("alpha"))
    assert main(["report", str(results), "--out", str(tmp_path / "out")]) == 0
    html = (tmp_path / "out" / "matrix.html").read_text(encoding="utf-8")
    assert "alpha" in html and "chat.basic" in html
    assert (tmp_path / "out" / "summary.md").read_text(encoding="utf-8").strip()


def test_report_can_append_a_merged_run_to_the_history(tmp_path: Path) -> None:
    results = write_run(tmp_path / "results.json", all_pass("alpha"))
    history = tmp_path / "history"
    assert main(["report", str(results), "--history", str(history), "--append-history"]) == 0
    assert len(list(history.iterdir())) == 1
    assert (tmp_path / "matrix.html").is_file()


def test_report_rejects_a_file_that_is_not_results(tmp_path: Path, capsys) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    assert main(["report", str(bogus)]) == 2
    assert "not a results file" in capsys.readouterr().err


def test_diff_exits_non_zero_on_a_must_regression(tmp_path: Path, capsys) -> None:
    old = write_run(tmp_path / "old.json", all_pass("alpha"))
    new_statuses = all_pass("alpha") | {("alpha", "stream.framing"): "fail"}
    new = write_run(tmp_path / "new.json", new_statuses, started="2026-11-02T02:00:00+00:00")
    assert main(["diff", str(old), str(new)]) == 1
    assert "stream.framing" in capsys.readouterr().out
    assert main(["diff", str(old), str(old)]) == 0


def test_diff_json_output_is_machine_readable(tmp_path: Path, capsys) -> None:
    old = write_run(tmp_path / "old.json", all_pass("alpha"))
    new = write_run(tmp_path / "new.json", all_pass("alpha") | {("alpha", "chat.basic"): "fail"})
    main(["diff", str(old), str(new), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data


def test_merge_combines_shards_into_one_matrix(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.json", all_pass("alpha"))
    b = write_run(tmp_path / "b.json", all_pass("beta"))
    out = tmp_path / "all.json"
    assert main(["merge", str(a), str(b), "-o", str(out)]) == 0
    merged: RunResults = read_results(out)
    assert {r.provider for r in merged.results} == {"alpha", "beta"}
    assert len(merged.results) == 2 * len(MUST_CHECKS)


def test_gate_adopts_and_rejects_and_writes_a_fallback_chain(tmp_path: Path, capsys) -> None:
    statuses = all_pass("alpha") | all_pass("beta") | {("beta", "stream.framing"): "fail"}
    results = write_run(tmp_path / "results.json", statuses)
    providers = tmp_path / "providers.yaml"
    providers.write_text(
        yaml.safe_dump(
            {
                "providers": [
                    {"name": n, "base_url": "http://127.0.0.1:1/v1", "models": {"chat": "m"}} for n in ("alpha", "beta")
                ],
                "policies": {"basics": {"checks": list(MUST_CHECKS), "providers": ["alpha", "beta"]}},
            }
        )
    )
    chain = tmp_path / "fallback.yaml"
    code = main(["gate", str(results), "--policy", "basics", "--providers", str(providers), "--fallback-out", str(chain)])
    out = capsys.readouterr().out
    assert code != 0  # beta is required by the policy and rejected
    assert "beta" in out and "stream.framing" in out
    ranked = yaml.safe_load(chain.read_text())
    assert "alpha" in json.dumps(ranked) and "beta" not in json.dumps(ranked)


def test_gate_unknown_policy_is_a_usage_error(tmp_path: Path, capsys) -> None:
    results = write_run(tmp_path / "results.json", all_pass("alpha"))
    assert main(["gate", str(results), "--policy", "no-such-policy"]) == 2
    assert "unknown policy" in capsys.readouterr().err
