"""Provider text the plugin prints to a terminal is inert: no escape sequences, no bidi overrides.

The pytest labels of a verdict (failure, skip, xfail), the per-provider summary lines and the
progress line all carry text a provider chose. A provider that answers every request with ANSI/OSC
escapes and a right-to-left override must leave them visible as `\\x1b` and `\\u202e` in
everything `conformance run` prints, never as the raw characters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import load_catalog
from conformance.plugin import report_outcome
from conformance.progress import Progress
from conformance.results import CheckResult, Evidence, Expectation, Kind, Level, Status, Tokens

from counting_server import serve_app

HOSTILE = "\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07\u202egnp.exe\r\nFAKE: all checks passed\x9b31m"
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


def verdict(status: Status, message: str = HOSTILE, expected: Any = None) -> CheckResult:
    return CheckResult(
        provider="p", model="m", check="chat.basic", area="chat", level=Level.MUST, kind=Kind.WIRE,
        status=status, message=message, duration_ms=1.0, tokens=Tokens(), requests=1, retries=0,
        expected=expected, evidence=Evidence(), metrics={},
    )


def assert_inert(text: str) -> None:
    assert not any(ch in text for ch in RAW), repr(text)
    assert "\\x1b" in text and "\\u202e" in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "status,outcome",
    [(Status.FAIL, pytest.fail.Exception), (Status.ERROR, pytest.fail.Exception),
     (Status.SKIPPED, pytest.skip.Exception), (Status.UNSUPPORTED, pytest.skip.Exception)],
)
def test_the_pytest_label_of_a_verdict_is_inert(status: Status, outcome: type[BaseException]) -> None:
    with pytest.raises(outcome) as raised:
        report_outcome(verdict(status))
    assert_inert(str(raised.value))


def test_an_expected_failure_label_is_inert_reason_and_all() -> None:
    expected = Expectation(status=Status.FAIL, reason=f"known {HOSTILE}", link="https://example.test/1")
    with pytest.raises(pytest.xfail.Exception) as raised:
        report_outcome(verdict(Status.FAIL, expected=expected))
    assert_inert(str(raised.value))


def test_the_progress_line_is_inert() -> None:
    progress = Progress(totals={HOSTILE: 3}, done={HOSTILE: 1})
    assert_inert(progress.line(500))


async def hostile_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every request: an OpenAI-shaped 400 whose message is HOSTILE (a non-conformant 400 for most checks)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = json.dumps({"error": {"message": HOSTILE, "type": HOSTILE, "param": None, "code": None}},
                      ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"x-note", b"\x1b[31m")]})
    await send({"type": "http.response.body", "body": body})


def test_a_hostile_provider_leaves_no_raw_control_in_the_run_output(tmp_path: Path) -> None:
    checks = ",".join(c.id for c in load_catalog().checks if c.area in ("chat", "errors", "models"))
    with serve_app(hostile_app) as url:
        (tmp_path / "providers.yaml").write_text(
            "providers:\n  - name: hostile\n"
            f"    base_url: {url}\n    api_key_env: HOSTILE_TEST_KEY\n    models: {{chat: m}}\n",
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out",
             "--check", checks, "-rA"],
            cwd=tmp_path, env={**os.environ, "HOSTILE_TEST_KEY": "sk-hostile-0"}, capture_output=True, timeout=300,
        )
    shown = (done.stdout + done.stderr).decode("utf-8", "replace")
    assert "hostile: " in shown and "failed" in shown, shown[-2000:]  # the verdicts were printed
    assert not any(ch in shown for ch in RAW), [line for line in shown.splitlines() if any(c in line for c in RAW)][:5]
    assert "\\x1b" in shown
