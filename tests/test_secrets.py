"""No secret ever reaches an output: every byte a `conformance run` writes is searched for them.

Unique secrets are planted every way a user configures a provider, all from the environment:
the API key (`api_key_env`), a secret-named header (`x-api-key`), a header whose name says
nothing (`X-Custom-Cred`), a cookie (`Cookie: session=${...}`), a query value holding `+ / =`
(`code`, Azure Functions style) and a piece of the base_url path. Two providers carry them: a
reference server that requires the planted key and deviates where it hurts (a wrong key gets 500,
streams end without [DONE]), and a "hosted" provider whose every answer echoes every header and
the URL back, raw, upper-cased, JSON-escaped (`\u0073...`), percent-encoded and inside base64: in
error bodies, in chat content, in streamed deltas, in model ids. A built-in quirky reference
provider adds its own per-run key. Then the run's stdout and stderr, results.json, matrix.html,
summary.md, junit.xml, the pytest-html report, the part files, a DEBUG log file, and anything
else under the scratch directory are read byte by byte: no 12-character piece of any secret, in
any of those encodings, may appear.
"""

from __future__ import annotations

import base64
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
from urllib.parse import quote, quote_plus

import pytest

RUN_LIMIT_S = 240
TOKEN = secrets.token_hex(16)
KEY = f"sk-planted-{TOKEN}"
HEADER_SECRET = f"hdr-{secrets.token_hex(12)}"
QUERY_SECRET = f"sig+/={secrets.token_hex(12)}"
CRED_SECRET = f"cred-{secrets.token_hex(12)}"
COOKIE_SECRET = f"ck-{secrets.token_hex(12)}"
PATH_SECRET = f"tenant{secrets.token_hex(10)}"
PLANTED = {"key": KEY, "header": HEADER_SECRET, "query": QUERY_SECRET, "cred": CRED_SECRET,
           "cookie": COOKIE_SECRET, "path": PATH_SECRET}
PUBLIC_TEAM = f"team-{secrets.token_hex(6)}"  # interpolated, but listed in public_env: shown
INVALID = "sk-conformance-invalid-key-0000000000000000"  # probes.INVALID_KEY
BUILTIN_KEY = re.compile(rb"sk-ref-[0-9a-f]{32}")  # the built-in provider's per-run key


class EchoHandler(BaseHTTPRequestHandler):
    """A "provider" that repeats back everything secret it was sent."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence stderr
        pass

    def _echo(self) -> str:
        """Every header and the path, in each form a careless server might repeat them."""
        said = " ".join(f"{k}={v}" for k, v in self.headers.items()) + f" url={self.path}"
        escaped = "".join(f"\\u{ord(c):04x}" for c in said)  # JSON-escaped once json.dumps runs
        b64 = base64.b64encode(f"user:{said}".encode()).decode()
        return f"{said} | {said.upper()} | {quote(said, safe='')} | {b64} | " + json.loads(f'"{escaped}"')

    def _escaped_echo(self) -> str:
        return "".join(f"\\u{ord(c):04x}" for c in self._echo())

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
            error = {"error": {"message": "Incorrect API key provided: ESCAPED", "type": "invalid_request_error"}}
            self._send(401, json.dumps(error).replace("ESCAPED", self._escaped_echo()).encode())
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
        echo_base = echo_server.replace("/v1", "/${CONFORMANCE_PLANTED_PATH}/v1")
        providers = textwrap.dedent(f"""
            public_env: [CONFORMANCE_PUBLIC_TEAM]
            providers:
              - name: planted
                base_url: {ref_url}
                api_key_env: CONFORMANCE_PLANTED_KEY
                headers: {{x-api-key: "${{CONFORMANCE_PLANTED_HEADER}}", X-Custom-Cred: "${{CONFORMANCE_PLANTED_CRED}}",
                           Cookie: "session=${{CONFORMANCE_PLANTED_COOKIE}}; theme=dark",
                           X-Team: "${{CONFORMANCE_PUBLIC_TEAM}}"}}
                query: {{code: "${{CONFORMANCE_PLANTED_SIG}}"}}
                timeout_s: 20
                models: {{chat: ref-chat, tools: ref-chat, embeddings: ref-embed}}
              - name: echoer
                base_url: {echo_base}
                api_key_env: CONFORMANCE_PLANTED_KEY
                headers: {{x-api-key: "${{CONFORMANCE_PLANTED_HEADER}}", X-Custom-Cred: "${{CONFORMANCE_PLANTED_CRED}}",
                           Cookie: "session=${{CONFORMANCE_PLANTED_COOKIE}}; theme=dark"}}
                query: {{code: "${{CONFORMANCE_PLANTED_SIG}}"}}
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
            "CONFORMANCE_PLANTED_CRED": CRED_SECRET,
            "CONFORMANCE_PLANTED_COOKIE": COOKIE_SECRET,
            "CONFORMANCE_PLANTED_PATH": PATH_SECRET,
            "CONFORMANCE_PUBLIC_TEAM": PUBLIC_TEAM,
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


def pieces(secret: str, size: int = 12) -> set[bytes]:
    """Every `size`-character window of a secret in every encoding it may be written in (an
    excerpt that cuts a key in half leaks it too), and `size` bytes' worth of its base64 at each
    alignment it can take inside a longer base64 string."""
    out: set[bytes] = set()
    for i in range(len(secret) - size + 1):
        piece = secret[i:i + size]
        forms = {piece, piece.lower(), piece.upper(), quote(piece, safe=""), quote_plus(piece),
                 quote(piece, safe="").lower(), piece.replace("/", "\\/"),
                 "".join(f"\\u{ord(c):04x}" for c in piece), "".join(f"\\u{ord(c):04X}" for c in piece)}
        out |= {f.encode() for f in forms}
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret.encode()).decode()
        stable = encoded[-(-8 * pad // 6): 8 * (pad + len(secret)) // 6]
        for alphabet in (stable, stable.replace("+", "-").replace("/", "_")):
            out |= {alphabet[i:i + 16].encode() for i in range(len(alphabet) - 15)}
    return out


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


@pytest.mark.parametrize("secret", sorted(PLANTED))
def test_no_secret_in_any_output(run_dir: Path, secret: str) -> None:
    leaks = {name: piece.decode() for name, data in outputs(run_dir).items()
             if name != "providers.yaml" for piece in pieces(PLANTED[secret]) if piece in data}
    assert leaks == {}


def test_the_echoes_arrived_in_every_encoding(run_dir: Path) -> None:
    """Otherwise the test above proves nothing: the echoer's answers reached the evidence, redacted."""
    results = json.loads((run_dir / "out" / "results.json").read_text(encoding="utf-8"))
    excerpts = [ex["response"]["body_excerpt"] for r in results["results"] if r["provider"] == "echoer"
                for ex in r["evidence"]["exchanges"] if ex.get("response")]
    joined = "\n".join(excerpts)
    assert "X-CUSTOM-CRED=***REDACTED***" in joined  # upper-cased
    assert "x-custom-cred%3D***REDACTED***" in joined.lower() or "x-custom-cred%3d***redacted***" in joined.lower()
    assert "\\u0078\\u002d\\u0061\\u0070\\u0069" in joined  # "x-api" JSON-escaped, its value redacted
    assert joined.count("***REDACTED***") > 50


def test_evidence_shows_where_each_secret_went(run_dir: Path) -> None:
    """Placeholders, not blanks: the evidence and the curl say which variable goes where, keep the
    text around it (`session=$VAR; theme=dark`), and show what is public (`public_env`)."""
    results = json.loads((run_dir / "out" / "results.json").read_text(encoding="utf-8"))
    basic = next(r for r in results["results"] if r["provider"] == "planted" and r["check"] == "chat.basic")
    request = basic["evidence"]["exchanges"][0]["request"]
    assert request["headers"]["Authorization"] == "Bearer $API_KEY"
    assert request["headers"]["Cookie"] == "session=$CONFORMANCE_PLANTED_COOKIE; theme=dark"
    assert request["headers"]["X-Custom-Cred"] == "$CONFORMANCE_PLANTED_CRED"
    assert request["headers"]["X-Team"] == PUBLIC_TEAM
    assert request["url"].endswith("/chat/completions?code=$CONFORMANCE_PLANTED_SIG")
    curl = basic["evidence"]["exchanges"][0]["curl"]
    assert '--url-query code="$CONFORMANCE_PLANTED_SIG"' in curl
    echoer = next(p for p in results["providers"] if p["name"] == "echoer")
    assert "/$CONFORMANCE_PLANTED_PATH/v1" in echoer["base_url"]


def test_the_curl_of_errors_auth_shows_the_invalid_key_it_really_sent(run_dir: Path) -> None:
    from conformance.probes import INVALID_KEY

    results = json.loads((run_dir / "out" / "results.json").read_text(encoding="utf-8"))
    auth = next(r for r in results["results"] if r["provider"] == "planted" and r["check"] == "errors.auth")
    exchange = auth["evidence"]["exchanges"][0]
    assert exchange["request"]["headers"]["Authorization"] == f"Bearer {INVALID_KEY}"
    assert INVALID_KEY in exchange["curl"] and "$API_KEY" not in exchange["curl"]


def test_the_builtin_providers_own_key_never_appears(run_dir: Path) -> None:
    leaks = [name for name, data in outputs(run_dir).items() if BUILTIN_KEY.search(data)]
    assert leaks == []


def test_the_providers_file_holds_only_references(run_dir: Path) -> None:
    text = (run_dir / "providers.yaml").read_text(encoding="utf-8")
    assert all(s not in text for s in PLANTED.values())


HOSTILE_VALUES = {
    "X-Lit": 'a"; touch {d}/dq; : "$API_KEY',
    "X-Sub": "$(touch {d}/sub)`touch {d}/tick`",
    "X-Quote": "it's'; touch {d}/sq; '",
    "X-Var": "$HOME;touch {d}/var & touch {d}/amp | true",
}


def test_every_curl_in_the_results_is_safe_to_paste(tmp_path: Path) -> None:
    """Header values full of shell syntax: each recorded curl, run by bash (with a stand-in `curl`
    that records its argv, against a dead port), runs nothing else and passes every header as
    configured, with the key expanded from $API_KEY as its own word."""
    headers = {k: v.format(d=tmp_path) for k, v in HOSTILE_VALUES.items()}
    config = {"providers": [{"name": "dead", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "CONFORMANCE_DEAD_KEY",
                             "headers": headers, "timeout_s": 2, "models": {"chat": "m", "embeddings": "e"}}]}
    (tmp_path / "providers.yaml").write_text(json.dumps(config), encoding="utf-8")
    env = {**os.environ, "CONFORMANCE_DEAD_KEY": KEY}
    command = [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out",
               "--check", "chat.basic,stream.framing,errors.auth,embeddings.basic"]
    subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=RUN_LIMIT_S)
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["results"]
    curls = [ex["curl"] for r in results for ex in r["evidence"]["exchanges"] if ex.get("curl")]
    assert len(curls) >= 3
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "curl").write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$ARGV_OUT"\n', encoding="utf-8")
    (fake / "curl").chmod(0o755)
    for i, curl in enumerate(curls):
        argv_out = tmp_path / f"argv{i}"
        subprocess.run(["bash", "-c", curl], env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}",
                       "API_KEY": "sk-pasted", "ARGV_OUT": str(argv_out)}, timeout=30, check=True)
        argv = argv_out.read_bytes().decode().split("\0")
        for name, value in headers.items():
            assert f"{name}: {value}" in argv, (name, curl)
        assert any(a in ("Authorization: Bearer sk-pasted", f"Authorization: Bearer {INVALID}") for a in argv), curl
    planted = [name for name in ("dq", "sub", "tick", "sq", "var", "amp") if (tmp_path / name).exists()]
    assert planted == []
