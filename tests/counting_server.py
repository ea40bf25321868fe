"""A reference server that counts what it receives: for tests and benchmarks of what a run sends.

What lives here: `counting_servers()`, which serves N reference apps (conformance.reference) on
free 127.0.0.1 ports, each wrapped in an ASGI middleware that records every request it receives
(method, path, a digest of the body) and the peak number of requests in flight (from the first
byte received to the last byte sent, so a stream counts until it ends), and
`providers_yaml()`, a providers file pointing at them. The servers run in the calling process
on one background event loop, so a `conformance run` subprocess (and its xdist workers) talk to
the same counters. What does not: the server itself (conformance/reference/server.py).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any


from conformance.reference.server import ServerConfig, create_app
from conformance.reference.testing import serving as serve_app

KEY = "sk-count-test-key-93f1c0a7"
KEY_ENV = "COUNTING_SERVER_KEY"


_STORED_ID = re.compile(rb"resp_[A-Za-z0-9]+")


@dataclass
class Counts:
    """What one server received: every request, and the most it had in flight at once."""

    received: list[tuple[str, str, str]] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    first_at: float | None = None  # time.monotonic() of the first request received
    last_done_at: float | None = None  # ... and of the last response completed
    busy_s: float = 0.0  # the sum of every request's time from arrival to its last byte sent
    bodies: dict[str, bytes] = field(default_factory=dict)  # digest -> body, to show what differs
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return len(self.received)

    def multiset(self) -> Counter[tuple[str, str, str]]:
        return Counter(self.received)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.peak = self.in_flight
            self.first_at = self.last_done_at = None
            self.busy_s = 0.0


class _Counting:
    """ASGI middleware: record the request, count it in flight until the response is complete."""

    def __init__(self, app: Any, counts: Counts) -> None:
        self.app, self.counts = app, counts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:  # read the whole body first, then replay it to the app
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        # Stored responses get a fresh id each run: counted under one name, so runs compare.
        digest = hashlib.sha256(_STORED_ID.sub(b"resp_{id}", body)).hexdigest()[:16]
        arrived = time.monotonic()
        with self.counts.lock:
            path = _STORED_ID.sub(b"resp_{id}", scope["path"].encode()).decode()
            self.counts.received.append((scope["method"], path, digest))
            self.counts.bodies[digest] = body
            self.counts.in_flight += 1
            self.counts.peak = max(self.counts.peak, self.counts.in_flight)
            if self.counts.first_at is None:
                self.counts.first_at = arrived
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay, send)
        finally:
            done = time.monotonic()
            with self.counts.lock:
                self.counts.in_flight -= 1
                self.counts.busy_s += done - arrived
                self.counts.last_done_at = max(self.counts.last_done_at or done, done)


@dataclass(frozen=True)
class CountingServer:
    name: str
    base_url: str
    counts: Counts


@contextmanager
def counting_server(name: str, latency_ms: float = 0.0, **config: Any) -> Iterator[CountingServer]:
    """One counting reference server on a free port (key `KEY`), until the block ends."""
    counts = Counts()
    app = _Counting(create_app(ServerConfig(api_key=KEY, latency_ms=latency_ms, **config)), counts)
    with serve_app(app) as base_url:
        yield CountingServer(name, base_url, counts)


@contextmanager
def counting_servers(names: list[str], latency_ms: dict[str, float] | float = 0.0) -> Iterator[list[CountingServer]]:
    """Several counting servers; `latency_ms` is one value or one per name."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(counting_server(
                name, latency_ms[name] if isinstance(latency_ms, dict) else latency_ms))
            for name in names
        ]


def providers_yaml(servers: list[CountingServer], max_concurrency: int = 4, extra: str = "") -> str:
    """A providers file with one provider per server (key from $COUNTING_SERVER_KEY)."""
    lines = ["providers:"]
    for s in servers:
        lines += [
            f"  - name: {s.name}",
            f"    base_url: {s.base_url}",
            f"    api_key_env: {KEY_ENV}",
            f"    max_concurrency: {max_concurrency}",
            "    models: {chat: ref-chat, tools: ref-chat, embeddings: ref-embed}",
        ]
        if extra:
            lines += ["    " + line for line in extra.splitlines()]
    return "\n".join(lines) + "\n"
