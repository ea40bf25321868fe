"""No secret ever reaches an output: every byte a `conformance run` writes is searched for them.

A unique key is planted three ways, as a user would configure a provider: the API key (read
from the environment through `api_key_env`), a secret header (`x-api-key`) and a secret query
parameter (`sig`). Two providers carry them: a reference server that requires the planted key
and deviates where it hurts (a wrong key gets 500, streams end without [DONE]), and a "hosted"
provider whose every answer echoes the key, the header and the URL back: in error bodies, in chat
content, in streamed deltas, in model ids. A built-in quirky reference provider adds its own
per-run key. Then the run's stdout and stderr, results.json, matrix.html, summary.md, junit.xml,
the pytest-html report, the part files, a DEBUG log file, and anything else under the scratch
directory are read byte by byte: neither the secrets nor any 12-character piece of them may appear.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RUN_LIMIT_S = 240
TOKEN = secrets.token_hex(16)
KEY = f"sk-planted-{TOKEN}"
HEADER_SECRET = f"hdr-{secrets.token_hex(12)}"
QUERY_SECRET = f"sig-{secrets.token_hex(12)}"
PLANTED = (KEY, HEADER_SECRET, QUERY_SECRET)
BUILTIN_KEY = re.compile(rb"sk-ref-[0-9a-f]{32}")  # the built-in provider's per-run key


class EchoHandler(BaseHTTPRequestHandler):
    """A "provider" that repeats back everything secret it was sent."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr
        pass

    def _echo(self) -> str:
        return f"key {self.headers.get('Authorization')} header {self.headers.get('x-api-key')} url {self.path}"

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        models = {"object": "list", "data": [{"id": f"echo-model {self._echo()}", "object": "model", "created": 1,
                                              "owned_by": self._echo()}]}
        self._send(200, json.dumps(models).encode())

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        echo = self._echo()
        if not isinstance(request, dict) or "embeddings" in self.path:
            error = {"error": {"message": f"Incorrect API key provided: {echo}", "type": "invalid_request_error"}}
            self._send(401, json.dumps(error).encode())
        elif request.get("stream"):
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "echo-model",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": echo}, "finish_reason": None}]}
            self._send(200, b"data: " + json.dumps(chunk).encode() + b"\n\n", "text/event-stream")
        else:
            body = {"id": "c1", "object": "chat.completion", "created": 1, "model": echo,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": echo},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": echo}}
            self._send(200, json.dumps(body).encode())


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, echo_server: str) -> Iterator[Path]:
    from conformance.reference.server import ServerConfig
    from conformance.reference.testing import running_server

    d = tmp_path_factory.mktemp("secrets")
    with running_server(ServerConfig(api_key=KEY, quirks=("auth_500", "stream_no_done"))) as ref_url:
        providers = textwrap.dedent(f"""
            providers:
              - name: planted
                base_url: {ref_url}
                api_key_env: CONFORMANCE_PLANTED_KEY
                headers: {{x-api-key: "${{CONFORMANCE_PLANTED_HEADER}}"}}
                query: {{sig: "${{CONFORMANCE_PLANTED_SIG}}"}}
                timeout_s: 20
                models: {{chat: ref-chat, tools: ref-chat, embeddings: ref-embed}}
              - name: echoer
                base_url: {echo_server}
                api_key_env: CONFORMANCE_PLANTED_KEY
                headers: {{x-api-key: "${{CONFORMANCE_PLANTED_HEADER}}"}}
                query: {{sig: "${{CONFORMANCE_PLANTED_SIG}}"}}
                timeout_s: 20
                models: {{chat: echo-model, tools: echo-model, embeddings: echo-embed}}
              - name: quirky
                builtin: reference
                options: {{quirks: [auth_500, stream_no_done]}}
                models: {{chat: ref-chat}}
            """)
        (d / "providers.yaml").write_text(providers, encoding="utf-8")
        env = {
            **os.environ,
            "CONFORMANCE_PLANTED_KEY": KEY,
            "CONFORMANCE_PLANTED_HEADER": HEADER_SECRET,
            "CONFORMANCE_PLANTED_SIG": QUERY_SECRET,
        }
        command = [
            sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out",
            "--html=out/report.html", "--self-contained-html",
            "--log-level=DEBUG", "--log-file=out/run.log", "--log-file-level=DEBUG", "-rA",
        ]
        proc = subprocess.run(command, cwd=d, env=env, capture_output=True, timeout=RUN_LIMIT_S)
    (d / "stdout.bin").write_bytes(proc.stdout)
    (d / "stderr.bin").write_bytes(proc.stderr)
    yield d


def outputs(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def pieces(secret: str, size: int = 12) -> list[bytes]:
    """Every `size`-character window of a secret: an excerpt that cuts a key in half leaks it too."""
    return [secret[i:i + size].encode() for i in range(len(secret) - size + 1)]


def test_the_run_wrote_every_output(run_dir: Path) -> None:
    names = set(outputs(run_dir))
    expected = {"out/results.json", "out/matrix.html", "out/summary.md", "out/junit.xml", "out/report.html",
                "out/run.log", "stdout.bin", "stderr.bin"}
    assert expected <= names, (run_dir / "stderr.bin").read_bytes()[-3000:]
    assert any(n.startswith("out/parts/") and n.endswith(".jsonl") for n in names)


def test_the_run_saw_failures_errors_and_the_echoes(run_dir: Path) -> None:
    results = json.loads((run_dir / "out" / "results.json").read_text(encoding="utf-8"))["results"]
    statuses = {(r["provider"], r["status"]) for r in results}
    for provider in ("planted", "echoer", "quirky"):
        assert (provider, "fail") in statuses, provider
    planted = {r["check"]: r["status"] for r in results if r["provider"] == "planted"}
    assert planted["errors.auth"] == "fail" and planted["stream.framing"] == "fail"
    assert planted["chat.basic"] == "pass"  # the planted key, header and query really were accepted
    # The echoes did reach the evidence, redacted: otherwise this test would prove nothing.
    assert b"***REDACTED***" in (run_dir / "out" / "results.json").read_bytes()


@pytest.mark.parametrize("secret", ["key", "header", "query"])
def test_no_secret_in_any_output(run_dir: Path, secret: str) -> None:
    value = dict(zip(("key", "header", "query"), PLANTED))[secret]
    leaks = {name: piece.decode() for name, data in outputs(run_dir).items()
             if name != "providers.yaml" for piece in pieces(value) if piece in data}
    assert leaks == {}


def test_the_builtin_providers_own_key_never_appears(run_dir: Path) -> None:
    leaks = [name for name, data in outputs(run_dir).items() if BUILTIN_KEY.search(data)]
    assert leaks == []


def test_the_providers_file_holds_only_references(run_dir: Path) -> None:
    text = (run_dir / "providers.yaml").read_text(encoding="utf-8")
    assert all(s not in text for s in PLANTED)
