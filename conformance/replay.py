"""Replaying recorded exchanges to client libraries: the loopback replay server and the workers.

- `ReplayServer`: one per library worker, on 127.0.0.1, started on first use. It serves one
  step at a time, at any path (the library is given the provider's own base path), each request
  answered with the recorded status, content type and body bytes of the exchange the step picks
  for it (`ServedStep.pick`: the first request gets the first exchange, a follow-up the next; an
  embeddings request gets the base64 answer if it asked for base64). What the library sent is kept
  (`ServedStep.requests`), for the comparators that judge what a library sends back.
- `Worker`: a library's replay worker (conformance/clients/python/harness.py in its venv, or a
  node script), started once per process and reused, one step at a time under a lock. A step that
  gets no answer within its timeout is a hang: the worker is killed, the step says so, and the
  next step starts a new worker. The worker's environment points HTTP(S)_PROXY at a closed
  loopback port (NO_PROXY covers 127.0.0.1), so a library that tries to reach anything but the
  replay server fails instead of leaving the machine.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conformance.transport import Exchange

MAX_REQUEST_BYTES = 8 * 1024 * 1024
_HOP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens, so any proxied request fails at once
HELLO_TIMEOUT_S = 120.0  # importing a library the first time after install compiles its bytecode


@dataclass
class ServedStep:
    """The exchanges one step may serve, and the requests the library made."""

    exchanges: Sequence[Exchange]
    base64: Exchange | None = None  # embeddings: served when the request asks for base64
    base_path: str = "/v1"  # the provider's base path: a request outside it gets a 404, as it would there
    requests: list[dict[str, Any]] = field(default_factory=list)

    def pick(self, body: Any) -> tuple[Exchange, str]:
        """The exchange for the next request (and which it is: "first", "followup", "base64")."""
        n = len(self.requests)
        if self.base64 is not None and isinstance(body, dict) and body.get("encoding_format") == "base64":
            return self.base64, "base64"
        if n == 0 or len(self.exchanges) == 1:
            return self.exchanges[0], "first"
        return self.exchanges[min(n, len(self.exchanges) - 1)], "followup"


class ReplayServer:
    """A loopback replay server (a stdlib ThreadingHTTPServer in a daemon thread), one per library
    worker. It serves one step at a time (`serving`), at any path under the provider's own base
    path (a library may build URLs its own way: LiteLLM lists models at the host's /v1/models,
    which works where the provider's base path is /v1 and nowhere else, here as there); a worker
    makes one step's calls at a time."""

    def __init__(self) -> None:
        self._current: ServedStep | None = None
        self._lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="conformance-replay", daemon=True).start()

    def base_url(self, path: str = "/v1") -> str:
        """The base URL a library is given: this server, with the provider's own base path."""
        return f"http://127.0.0.1:{self.port}{path.rstrip('/')}"

    @contextmanager
    def serving(self, step: ServedStep) -> Iterator[ServedStep]:
        """Answer every request with `step`'s exchanges until the block ends."""
        with self._lock:
            self._current = step
        try:
            yield step
        finally:
            with self._lock:
                self._current = None

    def current(self) -> ServedStep | None:
        with self._lock:
            return self._current

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(min(length, MAX_REQUEST_BYTES)) if length > 0 else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            step = server.current()
            if step is None:
                self._send(404, {"content-type": "application/json"},
                           b'{"error":{"message":"no replay step is being served","type":"invalid_request_error","param":null,"code":null}}')
                return
            prefix = step.base_path.rstrip("/")
            if prefix and self.path.split("?", 1)[0] != prefix and not self.path.startswith(prefix + "/"):
                step.requests.append({"method": self.command, "path": self.path, "body": body, "served": "404"})
                self._send(404, {"content-type": "application/json"},
                           b'{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}')
                return
            ex, which = step.pick(body)
            step.requests.append({"method": self.command, "path": self.path, "body": body, "served": which})
            headers = {k: v for k, v in ex.headers.items() if k.lower() not in _HOP_HEADERS}
            self._send(ex.status or 502, headers, ex.body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    return Handler


_servers: dict[str, ReplayServer] = {}
_server_lock = threading.Lock()


def replay_server(key: str) -> ReplayServer:
    """The replay server of one library's worker (`key`), started on first use."""
    with _server_lock:
        if key not in _servers:
            _servers[key] = ReplayServer()
        return _servers[key]


# ---------------------------------------------------------------- workers


@dataclass(frozen=True)
class Hello:
    """What a worker says when it starts."""

    versions: dict[str, str]
    runtime: str
    calls: dict[str, str]  # the calls of the plan it has -> how the library spells each


class WorkerError(Exception):
    """The worker cannot run (it would not start, or said it cannot import its library)."""


class Worker:
    """One library's replay worker process, reused across steps (one at a time)."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.argv, self.cwd = argv, cwd
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._hello: Hello | None = None
        self._stderr: list[str] = []
        self.lock = threading.Lock()

    def hello(self) -> Hello:
        """Start the worker if it is not running; its hello (WorkerError when it cannot start)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        assert self._hello is not None
        return self._hello

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("OPENAI_", "AZURE_OPENAI"))}
        env.update({"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "http_proxy": DEAD_PROXY,
                    "https_proxy": DEAD_PROXY, "ALL_PROXY": DEAD_PROXY, "NO_PROXY": "127.0.0.1,localhost",
                    "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
        try:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1)
        except OSError as exc:
            raise WorkerError(f"could not start {self.argv[0]}: {exc}") from None
        self._proc, self._lines, self._stderr = proc, queue.Queue(), []
        threading.Thread(target=_pump, args=(proc.stdout, self._lines.put), daemon=True).start()
        threading.Thread(target=_pump, args=(proc.stderr, self._keep_stderr), daemon=True).start()
        line = self._read(HELLO_TIMEOUT_S)
        msg = _parse(line)
        if not msg.get("hello"):
            self.stop()
            raise WorkerError(str(msg.get("error") or f"no hello: {self.stderr_tail()}"))
        calls = msg.get("calls") or {}
        spelled = {str(k): str(v) for k, v in calls.items()} if isinstance(calls, dict) else {str(c): str(c) for c in calls}
        self._hello = Hello({str(k): str(v) for k, v in dict(msg.get("versions") or {}).items()},
                            str(msg.get("runtime") or ""), spelled)

    def _keep_stderr(self, line: str | None) -> None:
        if line is not None:
            self._stderr.append(line)
            del self._stderr[:-200]

    def stderr_tail(self, limit: int = 600) -> str:
        text = "".join(self._stderr).strip()
        return ("…" + text[-limit:]) if len(text) > limit else (text or "(no stderr)")

    def _read(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def step(self, step: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One step: {"ok", "observed"} or {"ok": False, "error"}; a hang kills the worker."""
        self.hello()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(step, ensure_ascii=False) + "\n")
            self._proc.stdin.flush()
        except OSError as exc:
            self.stop()
            return {"ok": False, "error": f"the worker died before the step: {exc}: {self.stderr_tail()}", "worker": True}
        line = self._read(timeout)
        if line is None:
            alive = self._proc.poll() is None
            self.stop()
            if alive:
                return {"ok": False, "error": f"hung: no answer within {timeout:g} s", "hung": True}
            return {"ok": False, "error": f"the worker exited during the step: {self.stderr_tail()}", "worker": True}
        return _parse(line)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def _pump(stream: Any, put: Callable[[str | None], None]) -> None:
    for line in stream:
        put(line)
    put(None)


def _parse(line: str | None) -> dict[str, Any]:
    if line is None:
        return {"ok": False, "hello": False, "error": "the worker closed its output"}
    try:
        msg = json.loads(line)
    except ValueError:
        return {"ok": False, "hello": False, "error": f"the worker wrote a line that is not JSON: {line[:200]!r}"}
    return msg if isinstance(msg, dict) else {"ok": False, "error": f"the worker wrote {line[:200]!r}"}


_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def worker(key: str, argv: list[str], cwd: Path) -> Worker:
    """The process's worker for `key` (created on first use, stopped at exit)."""
    with _workers_lock:
        w = _workers.get(key)
        if w is None or w.argv != argv:
            if w is not None:
                w.stop()
            w = _workers[key] = Worker(argv, cwd)
        return w


@atexit.register
def _stop_workers() -> None:
    for w in list(_workers.values()):
        w.stop()
