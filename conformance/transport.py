"""Talking to a provider: an httpx wrapper that records every exchange as evidence.

Each request becomes an `Exchange`: what was sent (secrets redacted at the source), the status,
headers, the raw body bytes (bounded: a hostile provider cannot make us read 200 MB), timings
(total and time to first byte) and a transport error if there was one. Retries for 429 and
transient 5xx honour `retry-after` / `retry-after-ms`. Parsing of the body (JSON, SSE) is lazy and
never raises. What does not live here: deciding verdicts (checks/) and building the requests
(probes.py).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import random
import shlex
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx

from conformance.chat_stream import ChatStream, decode_chat_stream
from conformance.evidence import ExchangeRecord, RequestRecord, ResponseRecord, Timing
from conformance.providers import Provider
from conformance.redact import REDACTED, Redactor, Secret  # noqa: F401 - REDACTED re-exported

MAX_BODY_BYTES = 16 * 1024 * 1024
TRUNCATED_KEEP_BYTES = 256 * 1024  # what is kept of a body that went past MAX_BODY_BYTES
INFLATE_STEP_BYTES = 1024 * 1024  # gzip/deflate are inflated at most this much at a time
EXCERPT_BYTES = 8 * 1024
RATE_LIMITED = 429
UNAVAILABLE = frozenset({502, 503, 504})  # a gateway or server saying "not now"
RETRY_STATUSES = UNAVAILABLE | {RATE_LIMITED}  # retried; still there after the retries: no verdict
MAX_RETRIES = 3
MAX_RETRY_WAIT_S = 20.0
_NO_KEY = object()
_MARK = "\0"  # wraps a placeholder's name in a shown string, so a curl can splice "$NAME" in


@dataclass(frozen=True)
class Request:
    """What a probe sends. `api_key=None` sends no key; the default sends the provider's key."""

    method: str
    path: str
    json: Any = None
    raw_body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    api_key: Any = _NO_KEY


@dataclass
class Exchange:
    """One HTTP exchange with a provider, as evidence and as input to checks."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None
    elapsed_ms: float = 0.0
    ttfb_ms: float | None = None
    retries: int = 0
    stream_requested: bool = False
    curl: str = ""
    target: str = field(default="", repr=False)  # the URL really requested (`url` is the shown one)
    refused: bool = False  # the session's gate refused it (circuit open, budget spent): `error` says why

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @functools.cached_property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @functools.cached_property
    def json_body(self) -> Any:
        """The body parsed as JSON, or `NOT_JSON` (never raises)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return NOT_JSON

    @functools.cached_property
    def stream(self) -> ChatStream:
        return decode_chat_stream(self.body)

    @functools.cached_property
    def utf8_error(self) -> str | None:
        try:
            self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid UTF-8 at byte {exc.start}: {self.body[max(0, exc.start - 8):exc.start + 8]!r}"
        return None

    def evidence(self, redactor: Redactor, excerpt_bytes: int = EXCERPT_BYTES) -> ExchangeRecord:
        """A bounded, redacted record of this exchange."""
        response = None
        if self.status is not None:
            response = ResponseRecord(
                status=self.status,
                headers=redactor.value(_interesting_headers(self.headers)),
                body_excerpt=redactor.text(self.body[:excerpt_bytes].decode("utf-8", errors="replace")),
                body_bytes=len(self.body),
                truncated=self.truncated or len(self.body) > excerpt_bytes,
            )
        return ExchangeRecord(
            request=RequestRecord(
                method=self.method,
                url=redactor.text(self.url),
                headers=redactor.value(self.request_headers),
                body=redactor.value(_bounded_json(self.request_body)),
            ),
            response=response,
            error=redactor.text(self.error) if self.error else None,
            timing=Timing(total_ms=round(self.elapsed_ms, 1), ttfb_ms=_round(self.ttfb_ms)),
            retries=self.retries,
            curl=redactor.text(self.curl),
        )


class _SecretLogFilter(logging.Filter):
    """Redacts provider secrets from httpx/httpcore log records, which carry URLs with their query
    string (INFO) and response headers (DEBUG): `conformance run --log-level=DEBUG` or a log file
    must not leak a `sig` query value. Logging is process-wide, so this one filter is too: every
    ProviderClient adds its secrets and none is removed (a secret once used stays masked)."""

    LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.socks")

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._redactor = Redactor(())

    def add(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            self._redactor = Redactor(self._redactor.secrets + secrets)
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)  # no-op when already there

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor
        if redactor.secrets:
            message = record.getMessage()
            clean = redactor.text(message)
            if clean != message:
                record.msg, record.args = clean, ()
        return True


_LOG_FILTER = _SecretLogFilter()


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"

    def __bool__(self) -> bool:
        return False


NOT_JSON: Any = _NotJson()


class Limiter:
    """At most `max_concurrency` requests in flight and `rpm` started per rolling minute.

    It is per process. That is enough because a provider's checks run in exactly one process:
    the plugin puts every case of a provider in one xdist group (`--dist loadgroup`), and that
    worker runs them as one concurrent batch (see runner.run_batch). A limiter shared between
    processes (a lock file or a coordinator) would add IPC to every request for no gain.
    """

    def __init__(self, max_concurrency: int, rpm: int | None, window_s: float = 60.0) -> None:
        self._sem = threading.BoundedSemaphore(max(1, max_concurrency))
        self._rpm = rpm
        self._window = window_s
        self._starts: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        t0 = time.monotonic()
        with self._sem:
            self._wait_for_rate()
            self.waited_s += time.monotonic() - t0
            yield

    def _wait_for_rate(self) -> None:
        if not self._rpm:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self._window:
                    self._starts.popleft()
                if len(self._starts) < self._rpm:
                    self._starts.append(now)
                    return
                wait = self._window - (now - self._starts[0]) + 0.01
            time.sleep(min(wait, 1.0))


class ProviderClient:
    """A recording HTTP client for one provider (one per process and provider)."""

    def __init__(
        self, provider: Provider, transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None
    ) -> None:
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.redactor = Redactor(provider.secrets())
        _LOG_FILTER.add(provider.secrets())
        timeout = httpx.Timeout(provider.timeout_s, connect=min(10.0, provider.timeout_s))
        limits = httpx.Limits(max_connections=max(1, provider.max_concurrency) + 2)
        self._client = httpx.Client(
            timeout=timeout, transport=transport, follow_redirects=False, limits=limits,
            headers={"Accept-Encoding": "gzip, deflate"},  # only what _body_chunks inflates with a bound
        )
        self.limiter = Limiter(provider.max_concurrency, provider.rpm)
        self.requests_sent = 0

    def close(self) -> None:
        self._client.close()

    def url(self, path: str, mark: str = "") -> str:
        """The URL for `path`; with `mark`, secrets in it appear as marked placeholders."""
        url = self._base_path(path, mark)
        query = self._query_marked(mark) if mark else list(self.provider.query.items())
        if query:
            pairs = [f"{quote_plus(k)}={v}" if mark and mark in v else urlencode({k: v}) for k, v in query]
            url += ("&" if "?" in url else "?") + "&".join(pairs)
        return url

    def _base_path(self, path: str, mark: str = _MARK) -> str:
        base = self.provider.shown(self.provider.base_url, mark) if mark else self.provider.base_url
        return base.rstrip("/") + "/" + path.lstrip("/")

    def _query_marked(self, mark: str = _MARK) -> list[tuple[str, str]]:
        return [(k, self.provider.shown(v, mark)) for k, v in self.provider.query.items()]

    def send(
        self,
        req: Request,
        gate: Callable[[], str | None] | None = None,
        settle: Callable[[Exchange], None] | None = None,
    ) -> Exchange:
        """Send with bounded retries on 429/502/503/504 and connection errors; never raises.

        `gate` is asked once a limiter slot is held, right before each attempt: a reason it
        returns (circuit open, budget spent) ends the exchange unsent, with that reason as its
        error. Asking only before queueing would let every waiting request through after the
        breaker opened. `settle` sees the exchange after its last attempt, still inside that
        slot: a failure it counts is known before the next queued request asks the gate."""
        key = self.provider.api_key if req.api_key is _NO_KEY else req.api_key
        headers = {"Accept": "text/event-stream" if req.stream else "application/json"}
        if key and self.provider.auth == "api-key":
            headers["api-key"] = key
        elif key:
            headers["Authorization"] = f"Bearer {key}"
        headers.update(self.provider.headers)
        headers.update(req.headers)
        body: bytes | None = req.raw_body
        if body is None and req.json is not None:
            body = json.dumps(req.json, ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        url = self.url(req.path)
        marked = {k: self.provider.shown(v, _MARK) for k, v in headers.items()}
        ex = Exchange(
            method=req.method,
            url=_unmark(self.url(req.path, _MARK)),
            request_headers={k: _unmark(v) for k, v in marked.items()},
            request_body=req.json if req.json is not None else (body or b"").decode("utf-8", "replace")[:2000],
            stream_requested=req.stream,
            curl=_curl(req.method, self._base_path(req.path), self._query_marked(), marked, body),
        )
        ex.target = url
        attempt = 0
        while True:
            if not self._attempt(ex, headers, body, gate, attempt, settle):
                break  # refused by the gate, or the last attempt: nothing more to send
            time.sleep(self.retry.wait_s(ex, attempt))
            attempt += 1
            ex.retries = attempt
        return ex

    def _attempt(
        self,
        ex: Exchange,
        headers: dict[str, str],
        body: bytes | None,
        gate: Callable[[], str | None] | None,
        attempt: int,
        settle: Callable[[Exchange], None] | None,
    ) -> bool:
        """One attempt in a limiter slot; True when another attempt should follow."""
        with self.limiter.slot():
            refusal = gate() if gate is not None else None
            if refusal:
                ex.status, ex.error, ex.refused = None, refusal, True
                return False
            self._attempt_now(ex, headers, body)
            again = attempt < self.retry.max_retries and self.retry.retryable(ex)
            if not again and settle is not None:
                settle(ex)
            return again

    def _attempt_now(self, ex: Exchange, headers: dict[str, str], body: bytes | None) -> None:
        self.requests_sent += 1
        ex.status, ex.headers, ex.body, ex.truncated, ex.error, ex.ttfb_ms = None, {}, b"", False, None, None
        for attr in ("text", "json_body", "stream", "utf8_error"):
            ex.__dict__.pop(attr, None)
        start = time.perf_counter()
        deadline = start + self.provider.timeout_s
        received = bytearray()  # outside the try: what arrived before a transport error is evidence
        try:
            with self._client.stream(ex.method, ex.target or ex.url, headers=headers, content=body) as resp:
                ex.status = resp.status_code
                ex.headers = {k.lower(): v for k, v in resp.headers.items()}
                for chunk in _body_chunks(resp):
                    if ex.ttfb_ms is None and chunk:
                        ex.ttfb_ms = (time.perf_counter() - start) * 1000
                    received += chunk
                    if len(received) > MAX_BODY_BYTES:
                        # Only a prefix is kept: every check fails a truncated body without reading
                        # it, and a session caches dozens of exchanges (16 MB each would be GBs).
                        del received[TRUNCATED_KEEP_BYTES:]
                        ex.truncated = True
                        ex.error = f"response body larger than {MAX_BODY_BYTES} bytes: read stopped"
                        break
                    if time.perf_counter() > deadline:
                        ex.truncated = True
                        ex.error = f"response not finished within {self.provider.timeout_s:g} s: read stopped"
                        break
        except httpx.TimeoutException as exc:
            ex.error = f"timeout after {self.provider.timeout_s:g} s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
        except (OSError, ValueError) as exc:  # malformed responses surface as these in h11
            ex.error = f"{type(exc).__name__}: {exc}"
        except zlib.error as exc:
            ex.error = f"DecodingError: {ex.headers.get('content-encoding')} body does not inflate: {exc}"
        # The raw bytes: verdicts are taken on what the provider sent. Only what is recorded
        # (messages, evidence, logs) is redacted, by `Redactor`, which also catches pieces of a
        # secret that an excerpt cut in half (see conformance/redact.py).
        ex.body = bytes(received)
        ex.elapsed_ms = (time.perf_counter() - start) * 1000


def _body_chunks(resp: httpx.Response) -> Iterator[bytes]:
    """The response body, content-decoded, in pieces of at most INFLATE_STEP_BYTES when inflated.

    gzip and deflate (all we advertise) are inflated here rather than by httpx, whose decoder
    inflates a whole network read at once: 64 KiB of a gzip bomb is 64 MB in one piece, before
    any size bound can look at it. Other encodings fall back to httpx's decoders.
    """
    if hasattr(resp, "_content"):  # already read (a mock transport built it from bytes or json)
        yield resp.content
        return
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from resp.iter_raw()
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        yield from resp.iter_bytes()
        return
    inflater = None
    for raw in resp.iter_raw():
        if inflater is None:
            # "deflate" is meant to be zlib-wrapped; some servers send raw deflate (as httpx, accept both)
            zlib_header = len(raw) >= 2 and raw[0] & 0x0F == 8 and ((raw[0] << 8) | raw[1]) % 31 == 0
            raw_deflate = encoding == "deflate" and not zlib_header
            inflater = zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS | 32)
        data = raw
        while data and not inflater.eof:
            piece = inflater.decompress(data, INFLATE_STEP_BYTES)
            if piece:
                yield piece
            elif data == inflater.unconsumed_tail:
                break
            data = inflater.unconsumed_tail
    if inflater is not None and not inflater.eof:
        rest = inflater.flush()
        if rest:
            yield rest


@dataclass(frozen=True)
class RetryPolicy:
    """Which attempts are retried, how often, and how long to wait in between.

    `statuses` (429, 502/503/504) and connection errors are retried up to `max_retries` times; a
    timeout is not (a hang costs the timeout once, not four times). The wait honours
    `retry-after-ms` / `retry-after`, else backs off exponentially (`backoff_s * 2**attempt` plus
    up to `jitter_s`), and is never longer than `max_wait_s`: `RetryPolicy(max_wait_s=0)` retries
    without waiting (tests)."""

    statuses: frozenset[int] = RETRY_STATUSES
    max_retries: int = MAX_RETRIES
    max_wait_s: float = MAX_RETRY_WAIT_S
    backoff_s: float = 0.5
    jitter_s: float = 0.25

    def retryable(self, ex: Exchange) -> bool:
        if ex.error is not None and ex.status is None:
            return "timeout" not in ex.error
        return ex.status in self.statuses

    def wait_s(self, ex: Exchange, attempt: int) -> float:
        """Seconds to wait before retry number `attempt + 1`, whatever the headers say."""
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            raw = ex.headers.get(name)
            if raw:
                try:
                    return min(self.max_wait_s, max(0.0, float(raw) * scale))
                except ValueError:
                    pass
        return min(self.max_wait_s, self.backoff_s * 2**attempt + _JITTER.uniform(0, self.jitter_s))


# Our own generator: the global one is reseeded by Hypothesis while a fuzz check generates.
_JITTER = random.Random()


_INTERESTING = ("content-type", "content-length", "content-encoding", "transfer-encoding", "retry-after",
                "retry-after-ms", "x-request-id", "openai-processing-ms", "allow", "www-authenticate")


def _interesting_headers(headers: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k in _INTERESTING or k.startswith("x-ratelimit")}
    return {k: v[:300] for k, v in out.items()}


def _bounded_json(value: Any, limit: int = 4000) -> Any:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    if len(text) <= limit:
        return value
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _curl(method: str, url: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes | None) -> str:
    """A command that reproduces the request: every argument shell-quoted, each secret spliced in
    as its own `"$NAME"` word (so it expands from the environment and nothing else does), query
    parameters holding a secret passed with `--url-query` (curl URL-encodes the expanded value)."""
    parts = ["curl", "-sS"]
    if headers.get("Accept") == "text/event-stream":
        parts.append("-N")
    plain = [(k, v) for k, v in query if _MARK not in v]
    if plain:
        url += ("&" if "?" in url else "?") + urlencode(plain)
    parts += ["-X", shlex.quote(method), _shell_word(url)]
    parts += [f"--url-query {_shell_word(f'{k}={v}')}" for k, v in query if _MARK in v]
    for k, v in headers.items():
        if k != "Accept":
            parts += ["-H", _shell_word(f"{k}: {v}")]
    if body:
        text = body.decode("utf-8", errors="replace")
        parts += ["--data-raw", shlex.quote(text if len(text) < 6000 else text[:6000] + "...")]
    return " ".join(parts)


def _shell_word(marked: str) -> str:
    """One shell word: literal text single-quoted, each marked placeholder as `"$NAME"`."""
    pieces = marked.split(_MARK)
    out = [f'"${p}"' if i % 2 else shlex.quote(p) for i, p in enumerate(pieces) if p or i % 2]
    return "".join(out) or "''"


def _unmark(marked: str) -> str:
    """A marked string as shown in evidence: `\\0API_KEY\\0` -> `$API_KEY`."""
    pieces = marked.split(_MARK)
    return "".join(f"${p}" if i % 2 else p for i, p in enumerate(pieces))
