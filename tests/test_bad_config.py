"""A bad providers file stops `conformance run` at once: exit 2, one clear message, no request sent.

Each case is a file a user could plausibly write, next to a valid provider that points at a local
server counting requests. The message must name the file, the line (where the problem has one),
the path inside the file and what was expected or how to fix it; `conformance run` must exit 2
without starting pytest, so not a single request goes out. (tests/test_providers.py covers the
loader's own API; this file covers the command and the wider range of mistakes.)

Cases marked xfail(strict) are known gaps, each with the fix it needs; they turn into failures the
day the gap is closed, so the marker gets removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conformance import cli


@dataclass(frozen=True)
class Bad:
    id: str
    text: str  # "{url}" is the counting server's base URL
    expect: tuple[str, ...]  # fragments the message must contain (besides the file name)
    line: int | None = None
    gap: str | None = None  # why it is not caught yet, and the fix (xfail strict)
    env: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()  # fragments the message must not contain (a password, a header value)


LOCAL = "  - name: local\n    base_url: {url}\n    models: {{chat: m}}\n"

CASES = [
    # --- YAML itself
    Bad("yaml-unclosed-flow", "providers:\n  - name: [unclosed\n", ("YAML syntax error", "started at line 2"), 3),
    Bad("yaml-tab-indent", "providers:\n\t- name: a\n", ("YAML syntax error", "'\\t'"), 2),
    Bad("yaml-bad-indent", "providers:\n  - name: a\n   base_url: http://127.0.0.1:1/v1\n", ("YAML syntax error",), 3),
    Bad("yaml-duplicate-key",
        "providers:\n  - name: a\n    base_url: {url}\n    base_url: http://127.0.0.1:2/v1\n    models: {{chat: m}}\n",
        ("duplicate key", "base_url"), 4),
    Bad("empty-file", "", ("empty", "providers:")),
    Bad("only-a-comment", "# nothing here yet\n", ("empty",)),
    # --- unknown keys
    Bad("unknown-top-level-key", "providers:\n" + LOCAL + "provider: x\n", ("'provider' was unexpected",)),
    Bad("unknown-provider-key",
        "providers:\n" + LOCAL + "  - name: b\n    base_url: http://127.0.0.1:1/v1\n    modles: {{chat: x}}\n"
        "    models: {{chat: x}}\n",
        ("providers[1]", "'modles' was unexpected"), 5),
    Bad("unknown-defaults-key", "defaults: {{timeout: 5}}\nproviders:\n" + LOCAL, ("defaults", "'timeout' was unexpected"), 1),
    Bad("unknown-model-entry-key",
        "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: [{{name: m, tokencap: 5}}]}}\n",
        ("providers[0].models.chat[0]", "'tokencap' was unexpected"), 4),
    Bad("unknown-builtin-option",
        "providers:\n" + LOCAL + "  - name: ref\n    builtin: reference\n    options: {{latency: 5}}\n"
        "    models: {{chat: ref-chat}}\n",
        ("providers[1].options", "latency"), 7),
    Bad("unknown-quirk",
        "providers:\n" + LOCAL + "  - name: ref\n    builtin: reference\n    options: {{quirks: [no_such_quirk]}}\n"
        "    models: {{chat: ref-chat}}\n",
        ("providers[1].options.quirks[0]", "no_such_quirk", "conformance list-quirks"), 7),
    # --- wrong types and ranges
    Bad("timeout-not-a-number", "providers:\n  - name: a\n    base_url: {url}\n    timeout_s: fast\n    models: {{chat: m}}\n",
        ("providers[0].timeout_s", "expected number"), 4),
    Bad("concurrency-zero", "providers:\n  - name: a\n    base_url: {url}\n    max_concurrency: 0\n    models: {{chat: m}}\n",
        ("providers[0].max_concurrency", "expected >= 1"), 4),
    Bad("token-cap-negative", "providers:\n  - name: a\n    base_url: {url}\n    token_cap: -5\n    models: {{chat: m}}\n",
        ("providers[0].token_cap", ">= 1"), 4),
    Bad("headers-a-list", "providers:\n  - name: a\n    base_url: {url}\n    headers: [a, b]\n    models: {{chat: m}}\n",
        ("providers[0].headers", "expected object"), 4),
    Bad("enabled-not-boolean", "providers:\n  - name: a\n    base_url: {url}\n    enabled: maybe\n    models: {{chat: m}}\n",
        ("providers[0].enabled", "expected boolean"), 4),
    Bad("providers-a-mapping", "providers: {{a: 1}}\n", ("providers", "expected array"), 1),
    Bad("model-a-number", "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: 5}}\n",
        ("providers[0].models.chat",), 4),
    Bad("unknown-capability", "providers:\n  - name: a\n    base_url: {url}\n    models: {{audio: m}}\n",
        ("providers[0].models", "'audio' was unexpected"), 4),
    Bad("cap-param-typo",
        "providers:\n  - name: a\n    base_url: {url}\n    cap_param: max_token\n    models: {{chat: m}}\n",
        ("providers[0].cap_param", "max_completion_tokens"), 4),
    # --- required members
    Bad("no-models", "providers:\n  - name: a\n    base_url: {url}\n", ("providers[0]", "models"), 2),
    Bad("neither-url-nor-builtin", "providers:\n  - name: a\n    models: {{chat: m}}\n", ("providers[0]", "base_url", "builtin"), 2),
    Bad("both-url-and-builtin",
        "providers:\n  - name: a\n    base_url: {url}\n    builtin: reference\n    models: {{chat: m}}\n",
        ("providers[0]", "base_url", "builtin", "not both"), 2),
    Bad("unknown-builtin", "providers:\n  - name: a\n    builtin: vllm\n    models: {{chat: m}}\n",
        ("providers[0].builtin", '"reference"'), 3),
    # --- environment
    Bad("env-var-missing-in-url", "providers:\n  - name: a\n    base_url: ${{NOPE_BASE_URL}}\n    models: {{chat: m}}\n",
        ("providers[0].base_url", "${NOPE_BASE_URL} is not set", "${NOPE_BASE_URL:-default}"), 3),
    Bad("env-var-missing-in-header",
        "providers:\n  - name: a\n    base_url: {url}\n    headers: {{X-Team: \"${{NOPE_TEAM}}\"}}\n    models: {{chat: m}}\n",
        ("providers[0].headers.X-Team", "${NOPE_TEAM} is not set"), 4),
    Bad("env-var-empty", "providers:\n  - name: a\n    base_url: ${{EMPTY_BASE_URL}}\n    models: {{chat: m}}\n",
        ("providers[0].base_url", "${EMPTY_BASE_URL} is not set"), 3, env={"EMPTY_BASE_URL": ""}),
    Bad("api-key-env-not-a-name",
        "providers:\n  - name: a\n    base_url: {url}\n    api_key_env: $OPENAI_API_KEY\n    models: {{chat: m}}\n",
        ("providers[0].api_key_env", "OPENAI_API_KEY"), 4),
    # --- names and URLs
    Bad("duplicate-names", "providers:\n" + LOCAL + LOCAL, ("duplicate provider name 'local'", "also providers[0]"), 5),
    Bad("name-with-spaces", "providers:\n  - name: my provider\n    base_url: {url}\n    models: {{chat: m}}\n",
        ("providers[0].name",), 2),
    Bad("url-no-scheme", "providers:\n  - name: a\n    base_url: 127.0.0.1:8000/v1\n    models: {{chat: m}}\n",
        ("providers[0].base_url", "127.0.0.1:8000/v1"), 3),
    Bad("url-ftp", "providers:\n  - name: a\n    base_url: ftp://example.com/v1\n    models: {{chat: m}}\n",
        ("providers[0].base_url", "ftp://example.com/v1"), 3),
    Bad("url-with-space", "providers:\n  - name: a\n    base_url: http://exa mple.com/v1\n    models: {{chat: m}}\n",
        ("providers[0].base_url",), 3),
    Bad("url-without-host", "providers:\n  - name: a\n    base_url: 'http://'\n    models: {{chat: m}}\n",
        ("providers[0].base_url",), 3),
    # --- expect:
    Bad("expect-unknown-check-id",
        "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: m}}\n    expect:\n      chat.framing: {{status: fail}}\n",
        ("providers[0].expect.chat.framing", "unknown check id 'chat.framing'", "did you mean 'stream.framing'"), 6),
    Bad("expect-check-id-typo",
        "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: m}}\n    expect:\n      stream.framin: {{status: fail}}\n",
        ("providers[0].expect.stream.framin", "did you mean 'stream.framing'"), 6),
    Bad("expect-malformed-check-id",
        "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: m}}\n    expect:\n      Stream-Framing: {{status: fail}}\n",
        ("providers[0].expect", "Stream-Framing"), 5),
    Bad("expect-without-status",
        "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: m}}\n    expect:\n      stream.framing: {{reason: x}}\n",
        ("providers[0].expect.stream.framing", "status"), 6),
    Bad("expect-pass-status",
        "providers:\n  - name: a\n    base_url: {url}\n    models: {{chat: m}}\n    expect:\n      stream.framing: {{status: pass}}\n",
        ("providers[0].expect.stream.framing.status", '"fail"'), 6),
    # --- policies:
    Bad("policy-unknown-check-id", "providers:\n" + LOCAL + "policies:\n  mine:\n    checks: [stream.framin]\n",
        ("policies.mine.checks[0]", "stream.framin"), 7),
    Bad("policy-unknown-exclude-id", "providers:\n" + LOCAL + "policies:\n  mine:\n    exclude: [chat.basics]\n",
        ("policies.mine.exclude[0]", "chat.basics"), 7),
    Bad("policy-extends-unknown", "providers:\n" + LOCAL + "policies:\n  mine:\n    extends: chatt\n",
        ("policies.mine.extends", "chatt", "chat"), 7),
    Bad("policy-unknown-area", "providers:\n" + LOCAL + "policies:\n  mine:\n    areas: [chatt]\n",
        ("policies.mine.areas[0]", "chatt"), 7),
    Bad("policy-unknown-provider", "providers:\n" + LOCAL + "policies:\n  mine:\n    providers: [nobody]\n",
        ("policies.mine.providers[0]", "nobody"), 7),
    Bad("policy-bad-level", "providers:\n" + LOCAL + "policies:\n  mine:\n    levels: [critical]\n",
        ("policies.mine.levels[0]", '"must"'), 7),
    Bad("policy-unknown-key", "providers:\n" + LOCAL + "policies:\n  mine:\n    check: [chat.basic]\n",
        ("policies.mine", "'check' was unexpected"), 6),
    Bad("policy-not-a-mapping", "providers:\n" + LOCAL + "policies:\n  mine: [chat.basic]\n",
        ("policies.mine", "expected object"), 6),
]


class Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _any(self) -> None:
        Counter.hits.append(f"{self.command} {self.path}")
        body = b'{"object": "list", "data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _any  # noqa: N815


@pytest.fixture(scope="module")
def counter_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Replaces pytest.main: a bad file must never get as far as running the suite."""
    started: list[list[str]] = []
    monkeypatch.setattr(pytest, "main", lambda args: started.append(args) or 0)
    return started


def params() -> list:
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("case", params())
def test_bad_file_exits_2_with_one_clear_message_and_no_request(
    case: Bad, tmp_path: Path, counter_url: str, no_run: list, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_refused(case, tmp_path, counter_url, no_run, monkeypatch, capsys)


def assert_refused(
    case: Bad, tmp_path: Path, counter_url: str, no_run: list, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`conformance run` on the case's file: exit 2, one line naming file, line and path, no request."""
    for name in ("NOPE_BASE_URL", "NOPE_TEAM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "providers.yaml"
    path.write_text(case.text.format(url=counter_url), encoding="utf-8")
    Counter.hits.clear()

    code = cli.main(["run", "--providers", str(path), "--out", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert no_run == [], "the suite was started: the bad file was accepted"
    assert code == 2
    assert Counter.hits == []
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one message, not a traceback
    message = lines[0]
    location = f"{path}:{case.line}:" if case.line else f"{path}:"
    assert location in message, message
    for fragment in case.expect:
        assert fragment in message, message
    for fragment in case.absent:
        assert fragment not in err, err
    assert not (tmp_path / "out").exists()


def test_a_missing_file_is_named(tmp_path: Path, no_run: list, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.yaml"
    assert cli.main(["run", "--providers", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "cannot read the file" in err
    assert no_run == []


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path, no_run: list, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "providers.yaml"
    path.write_bytes("providers:\n  - name: caf\xe9\n".encode("latin-1"))
    assert cli.main(["run", "--providers", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "not UTF-8" in err and "byte 24" in err
    assert no_run == []


def _run(d: Path, text: str) -> subprocess.CompletedProcess[str]:
    (d / "providers.yaml").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOPE_")}
    command = [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out",
               "--check", "models.list"]
    return subprocess.run(command, cwd=d, env=env, capture_output=True, text=True, timeout=120)


E2E = {
    "schema": (LOCAL + "  - name: b\n    base_url: http://127.0.0.1:1/v1\n    timeout_s: fast\n    models: {{chat: m}}\n",
               "providers[1].timeout_s"),
    "expect": (LOCAL + "    expect:\n      chat.framing: {{status: fail}}\n", "did you mean 'stream.framing'"),
}


@pytest.mark.parametrize("name", sorted(E2E))
def test_the_real_command_sends_nothing_for_a_bad_file(name: str, tmp_path: Path, counter_url: str) -> None:
    body, fragment = E2E[name]
    Counter.hits.clear()
    proc = _run(tmp_path, "providers:\n" + body.format(url=counter_url))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert fragment in proc.stderr and "providers.yaml:" in proc.stderr
    assert Counter.hits == []
    assert not (tmp_path / "out").exists()


def test_the_counting_server_does_see_a_good_run(tmp_path: Path, counter_url: str) -> None:
    # The control for the tests above: the same setup with a valid file reaches the server.
    Counter.hits.clear()
    proc = _run(tmp_path, "providers:\n" + LOCAL.format(url=counter_url))
    assert (tmp_path / "out" / "results.json").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert any(hit.startswith("GET /v1/models") for hit in Counter.hits)
