"""The example nightly workflow stays in step with the CLI and the report API it calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from conformance.cli import main

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "nightly.yml"


def test_nightly_workflow_is_valid_yaml_with_a_shard_and_a_report_job() -> None:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert set(data["jobs"]) == {"shard", "report"}
    assert data["jobs"]["shard"]["strategy"]["fail-fast"] is False
    assert data["jobs"]["report"]["needs"] == "shard"


def test_every_conformance_command_in_the_workflow_exists(capsys) -> None:
    commands = set(
        re.findall(
            r"\bconformance (run|merge|report|diff|gate|serve|list-checks)\b", WORKFLOW.read_text(encoding="utf-8")
        )
    )
    assert commands == {"run", "merge", "report", "diff", "gate"}
    for command in commands:
        try:
            main([command, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, command
    assert "usage: conformance" in capsys.readouterr().out
