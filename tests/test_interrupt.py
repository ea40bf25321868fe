"""An interrupted run still leaves usable results: CI timeouts (SIGTERM) and crashed workers.

`conformance run` runs as a user or a CI job runs it, against built-in reference servers slowed
down with `latency_ms` so that there is a "midway" to interrupt. A SIGTERM must end the run
promptly with results.json and the reports written, marked incomplete with the reason, holding
every record finished before the signal. A worker killed with SIGKILL under `-n 2` must cost
only its own unfinished work: the other worker's records and the dead worker's finished ones
are all in results.json, once each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.providers import load_providers
from conformance.runner import cases
from conformance.schemas import validate

LATENCY_MS = 100
WAIT_LIMIT_S = 60  # for records to appear / the run to end; a hang fails here
EXIT_AFTER_SIGTERM_S = 20  # in-flight requests finish (latency), nothing queued is started


def provider_block(name: str) -> str:
    return textwrap.dedent(f"""
          - name: {name}
            builtin: reference
            options: {{latency_ms: {LATENCY_MS}}}
            models: {{chat: ref-chat, tools: ref-chat, embeddings: ref-embed}}
        """)


def start_run(d: Path, names: tuple[str, ...], *extra: str) -> subprocess.Popen[bytes]:
    (d / "providers.yaml").write_text("providers:" + "".join(provider_block(n) for n in names), encoding="utf-8")
    command = [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out", *extra]
    return subprocess.Popen(command, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a torn last line while the writer is mid-record
    return out


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the interrupt: {proc.stdout.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run made no progress")
        time.sleep(0.05)


def case_keys(records: list[dict]) -> list[tuple[str, str | None, str]]:
    return [(r["provider"], r["model"], r["check"]) for r in records]


def expected_cases(d: Path, name: str) -> set[tuple[str, str | None, str]]:
    provider = load_providers(d / "providers.yaml").get(name)
    return {(name, c.model.name if c.model else None, c.spec.id) for c in cases(provider)}


@pytest.mark.parametrize("names", [("slow",), ("slow-a", "slow-b", "slow-c")], ids=["one", "three-at-once"])
def test_sigterm_midway_leaves_an_incomplete_but_complete_report(tmp_path: Path, names: tuple[str, ...]) -> None:
    proc = start_run(tmp_path, names)
    part = tmp_path / "out" / "parts" / "results-main.jsonl"
    wait_for(lambda: len(lines(part)) >= 5, proc)
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    output, _ = proc.communicate(timeout=WAIT_LIMIT_S)
    assert time.monotonic() - signalled < EXIT_AFTER_SIGTERM_S, "the run did not stop promptly"

    out = tmp_path / "out"
    for name in ("results.json", "matrix.html", "summary.md"):
        assert (out / name).is_file(), output.decode()[-3000:]
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [e for e in validate("results", data) if e.severity == "must"] == []
    assert data["run"]["incomplete"] is True
    assert "SIGTERM" in data["run"]["incomplete_reason"]
    recorded = case_keys(data["results"])
    assert set(case_keys(lines(part))) <= set(recorded)  # every record finished before the signal
    expected = set().union(*(expected_cases(tmp_path, name) for name in names))
    assert 5 <= len(recorded) < len(expected)  # and not a run to the end
    assert len(recorded) == len(set(recorded))


def _worker_parts(pid: int) -> dict[int, Path]:
    """Each xdist worker of `pid` -> the part file it holds open (its writer keeps it open)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    out = {}
    for child in map(int, children):
        try:
            for fd in Path(f"/proc/{child}/fd").iterdir():
                target = os.readlink(fd)
                if "results-gw" in target:
                    out[child] = Path(target)
        except OSError:
            continue
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds worker processes through /proc")
def test_a_killed_worker_costs_only_its_unfinished_work(tmp_path: Path) -> None:
    proc = start_run(tmp_path, ("slow-a", "slow-b"), "-n", "2")
    parts_dir = tmp_path / "out" / "parts"
    wait_for(lambda: sum(len(lines(p)) >= 3 for p in parts_dir.glob("results-gw*.jsonl")) >= 2, proc)
    workers = _worker_parts(proc.pid)
    assert len(workers) == 2, workers
    victim, victim_part = sorted(workers.items())[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.2)
    finished_by_victim = case_keys(lines(victim_part))
    output, _ = proc.communicate(timeout=WAIT_LIMIT_S)

    results = tmp_path / "out" / "results.json"
    assert results.is_file(), output.decode()[-3000:]
    recorded = case_keys(json.loads(results.read_text(encoding="utf-8"))["results"])
    assert finished_by_victim and set(finished_by_victim) <= set(recorded)
    survivor = next(p for p in ("slow-a", "slow-b") if p != finished_by_victim[0][0])
    assert expected_cases(tmp_path, survivor) <= set(recorded)
    duplicated = [k for k, n in Counter(recorded).items() if n > 1]
    assert duplicated == []  # xdist's replacement worker re-runs the batch: one record per case
    assert b"crashed" in output
