"""The reference server: an OpenAI-compatible HTTP API in front of the rule-based reference model.

What lives here: `ServerConfig`, `create_app()` (the Starlette app: /v1/models, /v1/models/{id},
/v1/chat/completions with SSE streaming, /v1/embeddings; the newer routes come from surface.py), the per-app state (API key check,
sliding-window rate limit, simulated latency, response ids) and the calls into the quirk hook
points; `serve()` and the `conformance serve` argument helpers. What does not: validation
(json_body.py, validation.py), the model (responder.py, embeddings.py), wire shapes (render.py),
quirks (the quirks package), the test helper that runs it in a thread (testing.py).

There is deliberately no catch-all turning unexpected exceptions into 4xx: a 500 is a bug in
validation, and the Hypothesis tests in tests/test_reference_server.py and
tests/test_reference_hostile.py look for them.

One request cannot starve the others: bodies are capped at MAX_BODY_BYTES (refused from the
Content-Length header when it says so, else while reading), and parsing, validating and
answering, all CPU work, run in a worker thread while the event loop keeps serving other clients.
The regular expressions a request brings (schema patterns) share one time budget
(patterns.budget): `re` would hold the GIL, and so the event loop, for as long as one backtracks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import hashlib
import hmac
import itertools
import math
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conformance.reference import accounting, render, surface, vision
from conformance.reference.embeddings import embed, truncate
from conformance.reference.errors import ApiError
from conformance.reference.json_body import parse_json
from conformance.reference.models import MODELS, ModelCard, find_model
from conformance.reference.patterns import budget as regex_budget
from conformance.reference.quirks import HookContext, QuirkSet, load_quirks
from conformance.reference.responder import ChatRequest, content_text, respond
from conformance.reference.tokens import count_tokens
from conformance.reference.validation import check_chat, check_embeddings

__all__ = ["ServerConfig", "add_serve_arguments", "config_from_args", "create_app", "serve", "serve_from_args"]

MAX_BODY_BYTES = 16 * 1024 * 1024
# Tokens times (1 + top_logprobs), over all choices: each is a chunk when streamed and a logprob
# object when asked for. 2**17 is at most ~40 MB and ~5 s of work; n=128 with top_logprobs=20 on
# an answer of 1000 numbers would be 2.7 million (~600 MB, a minute) from a 100-byte request.
MAX_ANSWER_ENTRIES = 2**17
FINGERPRINT = "fp_ref0001"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Request kind (the model kind it needs) -> its validation and the hook point of its body.
_REQUEST_KINDS: Mapping[str, tuple[Callable[[Any], None], str]] = {
    "chat": (check_chat, "chat_request"),
    "embeddings": (check_embeddings, "embeddings_request"),
}


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8001
    api_key: str | None = None  # None: no authentication
    latency_ms: float = 0.0  # before each response, and between streamed events
    jitter_ms: float = 0.0  # up to this much more, from a RNG seeded with `seed`
    rpm: int | None = None  # requests per sliding 60 s window; None: unlimited
    quirks: tuple[str, ...] = ()
    seed: int = 0


Handler = Callable[[Request], Awaitable[Response]]


def _base62(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, r = divmod(number, 62)
        chars.append(_BASE62[r])
    return "".join(chars)


class _Reference:
    """Per-app state: configuration, active quirks, rate-limit window, latency RNG, id counter."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.quirks = QuirkSet(config.quirks)
        self._rng = random.Random(config.seed)
        self._serial = itertools.count(1)
        self._nonce = os.urandom(8)
        self._window: collections.deque[float] = collections.deque()
        self.prompt_cache = accounting.PromptCache()

    # --- plumbing ------------------------------------------------------------------------------

    def _delay(self) -> float:
        jitter = self._rng.uniform(0, self.config.jitter_ms) if self.config.jitter_ms > 0 else 0.0
        return max(self.config.latency_ms + jitter, 0.0) / 1000

    def _id(self, prefix: str, length: int) -> str:
        digest = hashlib.sha256(self._nonce + str(next(self._serial)).encode()).digest()
        return prefix + _base62(digest, length)

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"x-request-id": self._id("req_", 24), **(extra or {})}

    def endpoint(self, handler: Handler) -> Handler:
        """Latency, then API key, then rate limit, then the handler; ApiErrors become error replies."""

        async def run(request: Request) -> Response:
            delay = self._delay()
            if delay:
                await asyncio.sleep(delay)
            try:
                self._authorize(request)
                self._admit()
                return await handler(request)
            except ApiError as err:
                return self.error(err, getattr(request.state, "body", None))

        return run

    def _authorize(self, request: Request) -> None:
        expected = self.config.api_key
        if expected is None or not self.quirks.apply("auth_required", True):
            return
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("api-key")
        if not key:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not hmac.compare_digest(key.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")):
            shown = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "*" * len(key)
            raise ApiError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")

    def _admit(self) -> None:
        limit = self.config.rpm
        if not limit:
            return
        now = time.monotonic()
        while self._window and self._window[0] <= now - 60:
            self._window.popleft()
        if len(self._window) >= limit:
            wait = max(self._window[0] + 60 - now, 0.001)
            raise ApiError(
                429,
                f"Rate limit reached for requests per min (RPM): Limit {limit}, Used {len(self._window)}, "
                f"Requested 1. Please try again in {wait:.3f}s.",
                type="requests",
                code="rate_limit_exceeded",
                headers={
                    "retry-after": str(max(1, math.ceil(wait))),
                    "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
                    "x-ratelimit-limit-requests": str(limit),
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{wait:.3f}s",
                },
            )
        self._window.append(now)

    def error(self, err: ApiError, request_body: Any) -> Response:
        context = HookContext(request=request_body if isinstance(request_body, dict) else None)
        reply = self.quirks.apply("error_reply", err.reply(), context)
        headers = self._headers(reply.headers)
        if reply.raw is not None:
            return Response(reply.raw, reply.status, headers=headers, media_type=reply.media_type)
        return Response(render.dumps(reply.body, pretty=True), reply.status, headers=headers, media_type="application/json")

    def json(self, body: Any) -> Response:
        return Response(render.dumps(body, pretty=True), 200, headers=self._headers(), media_type="application/json")

    async def read(self, request: Request) -> bytes:
        """The raw body, at most MAX_BODY_BYTES; a 413 as soon as it is known to be larger."""
        too_large = ApiError(413, f"Request body too large: the limit is {MAX_BODY_BYTES} bytes.")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise too_large
        size, parts = 0, []
        async for part in request.stream():
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise too_large
            parts.append(part)
        return b"".join(parts)

    def parse(self, request: Request, raw: bytes) -> Any:
        value = parse_json(raw, request.headers.get("content-type"))
        request.state.body = value  # for the error_reply quirk's context
        return value

    def model(self, model_id: str, kind: str) -> ModelCard:
        card = self.quirks.apply("resolve_model", find_model(model_id), HookContext(kind=kind))
        if card is None:
            raise ApiError(
                404, f"The model `{model_id[:200]}` does not exist or you do not have access to it.", code="model_not_found"
            )
        if card.kind != kind:
            what = {"chat": "a chat model", "embeddings": "an embeddings model"}.get(kind, "an image generation model")
            raise ApiError(400, f"The model `{card.id}` is not {what} and cannot be used on this endpoint.", param="model")
        return card

    def gate(self, card: ModelCard, contents: list[Any], effort: Any, effort_param: str) -> None:
        """The 400s a model gives for what it cannot do: images without vision, effort without reasoning."""
        if not card.vision:
            vision.refuse_images(card.id, contents)
        if effort is not None and not card.reasoning:
            raise accounting.refuse_effort(card.id, effort_param)

    def usage(self, card: ModelCard, turns: list[tuple[str, str]], generated: int, effort: Any) -> dict[str, Any]:
        """A chat usage object: prompt caching from this server's cache, reasoning tokens for a reasoning model."""
        pieces = accounting.prompt_pieces(turns)
        hidden = accounting.reasoning_tokens(effort) if card.reasoning else 0
        cached = self.prompt_cache.lookup_and_add(pieces)
        return render.usage(len(pieces), generated + hidden, cached=cached, reasoning=hidden)

    # --- endpoints -------------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        return self.json(self.quirks.apply("models_list", render.models_list(MODELS), HookContext()))

    async def retrieve_model(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        card = find_model(model_id)
        if card is None:
            raise ApiError(
                404, f"The model `{model_id[:200]}` does not exist or you do not have access to it.", code="model_not_found"
            )
        return self.json(self.quirks.apply("model_retrieve", render.model_object(card), HookContext()))

    async def chat(self, request: Request) -> Response:
        return await run_in_threadpool(self._chat, request, await self.read(request))

    def _chat(self, request: Request, raw: bytes) -> Response:
        with regex_budget():  # one for the whole request, quirks that answer again included
            return self._chat_in_budget(request, raw)

    def admit_body(self, request: Request, raw: bytes, kind: str) -> tuple[ModelCard, dict[str, Any]]:
        """A request of `kind` parsed and validated, its model, and the body the model sees (a copy,
        after the request quirks)."""
        check, point = _REQUEST_KINDS[kind]
        body = self.parse(request, raw)
        check(body)
        card = self.model(body["model"], kind)
        return card, self.quirks.apply(point, copy.deepcopy(body), HookContext(request=body))

    def _chat_in_budget(self, request: Request, raw: bytes) -> Response:
        card, seen = self.admit_body(request, raw, "chat")
        messages = [m for m in seen.get("messages") or [] if isinstance(m, Mapping)]
        self.gate(card, [m.get("content") for m in messages], seen.get("reasoning_effort"), "reasoning_effort")
        context = HookContext(request=seen)
        completions = self.quirks.apply("completions", respond(ChatRequest.from_body(seen)), context)
        generated = sum(c.tokens for c in completions)
        top = (seen.get("top_logprobs") or 0) if seen.get("logprobs") else None
        _within_answer_budget(generated, top, len(completions))
        turns = [(str(m.get("role")), content_text(m.get("content"))) for m in messages]
        counted = self.usage(card, turns, generated, seen.get("reasoning_effort"))
        use = self.quirks.apply("chat_usage", counted, context)
        context = HookContext(request=seen, usage=use)
        envelope = render.Envelope(self._id("chatcmpl-", 29), int(time.time()), card.id, FINGERPRINT)
        if seen.get("stream") is True:
            return self._stream(envelope, completions, use, top, context)
        out = render.chat_body(envelope, completions, copy.deepcopy(use), top)
        return self.json(self.quirks.apply("chat_response", out, context))

    def _stream(self, envelope: render.Envelope, completions: Any, use: Any, top: int | None, context: HookContext) -> Response:
        options = (context.request or {}).get("stream_options")
        include = isinstance(options, Mapping) and options.get("include_usage") is True
        chunks = render.chat_chunks(envelope, completions, copy.deepcopy(use), top, include)
        chunks = self.quirks.apply("chat_chunks", chunks, context)
        events = self.quirks.apply("sse_events", render.sse_events(chunks), context)
        frames = self.quirks.apply("sse_bytes", render.frames(events), context)
        # The first event goes out right away (the request latency was already waited for).
        delays = self.quirks.apply("stream_delays", [0.0] + [self._delay() for _ in frames[1:]], context)
        headers = self._headers({"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
        headers = self.quirks.apply("stream_headers", headers, context)

        async def events_out() -> Any:
            for frame, delay in zip(frames, [*delays, *[0.0] * len(frames)]):
                if delay:
                    await asyncio.sleep(delay)
                yield frame

        return StreamingResponse(events_out(), 200, headers=headers)

    async def embeddings(self, request: Request) -> Response:
        return await run_in_threadpool(self._embeddings, request, await self.read(request))

    def _embeddings(self, request: Request, raw: bytes) -> Response:
        card, seen = self.admit_body(request, raw, "embeddings")
        context = HookContext(request=seen)
        value = seen["input"]
        inputs = [value] if isinstance(value, str) or isinstance(value[0], int) else value
        vectors = [embed(item) for item in inputs]
        if seen.get("dimensions"):
            vectors = [truncate(v, seen["dimensions"]) for v in vectors]
        vectors = self.quirks.apply("embedding_vectors", vectors, context)
        tokens = sum(count_tokens(item) if isinstance(item, str) else len(item) for item in inputs)
        out = render.embeddings_body(vectors, card.id, seen.get("encoding_format") or "float", tokens)
        return self.json(self.quirks.apply("embeddings_response", out, context))

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own 404 (unknown path) and 405 (known path, wrong method), OpenAI-shaped."""
        assert isinstance(exc, HTTPException)
        where = f"{request.method} {request.url.path}"[:300]
        message = {404: f"Invalid URL ({where})", 405: f"Invalid method for URL ({where})"}.get(exc.status_code, exc.detail)
        return self.error(ApiError(exc.status_code, message, headers=exc.headers), None)


def _within_answer_budget(tokens: int, top: int | None, choices: int) -> None:
    """A 400 naming the parameter to lower when an answer would pass MAX_ANSWER_ENTRIES.

    OpenAI would answer such a request, slowly and at a price; a local server that a test suite
    starts in its own process must not spend gigabytes on one, so it refuses the way it refuses
    other requests it cannot serve.
    """
    entries = tokens * (1 + (top or 0))
    if entries <= MAX_ANSWER_ENTRIES:
        return
    param = "n" if choices > 1 else "top_logprobs" if top else "max_completion_tokens"
    raise ApiError(
        400,
        f"This request asks for {entries} tokens and log probabilities in total (tokens over all choices times "
        f"1 + top_logprobs); this server answers at most {MAX_ANSWER_ENTRIES}. Lower '{param}'.",
        param=param,
        code="invalid_value",
    )


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The reference server's ASGI app. Raises UnknownQuirkError for an unknown quirk name."""
    state = _Reference(config or ServerConfig())
    routes = [
        Route("/v1/models", state.endpoint(state.list_models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", state.endpoint(state.retrieve_model), methods=["GET"]),
        Route("/v1/chat/completions", state.endpoint(state.chat), methods=["POST"]),
        Route("/v1/embeddings", state.endpoint(state.embeddings), methods=["POST"]),
        *surface.routes(state),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: state.http_error})
    app.router.redirect_slashes = False  # a redirect is not an OpenAI answer; trailing slashes get 404
    app.state.reference = state
    return app


def serve(config: ServerConfig) -> None:
    """Run the server in the foreground until interrupted (uvicorn, access log on stderr)."""
    import uvicorn

    app = create_app(config)
    uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, lifespan="off")).run()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The `conformance serve` options."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to bind (default 8001)")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key",
        default=None,
        help="require this key (Authorization: Bearer, or api-key header); other users see it in ps: prefer --api-key-env",
    )
    keys.add_argument(
        "--api-key-env", default=None, metavar="NAME", help="require the key held in environment variable NAME (kept out of argv)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated latency before each response and event")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="up to this much extra latency (seeded, deterministic)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute before 429 (sliding 60 s window)")
    parser.add_argument(
        "--quirk", action="append", default=[], dest="quirks", metavar="NAME", help="enable a deviation mode (repeatable)"
    )
    parser.add_argument("--list-quirks", action="store_true", help="list the deviation modes and exit")


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> ServerConfig:
    """The ServerConfig `conformance serve` arguments ask for; ValueError for an unusable one."""
    api_key = args.api_key
    name = getattr(args, "api_key_env", None)
    if name:
        api_key = environ.get(name)
        if not api_key:
            raise ValueError(f"--api-key-env {name}: the environment variable {name} is not set (or is empty)")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_key=api_key,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        rpm=args.rpm,
        quirks=tuple(args.quirks or ()),
    )
    QuirkSet(config.quirks)  # raises UnknownQuirkError, a ValueError
    return config


def serve_from_args(args: argparse.Namespace) -> int:
    """Run `conformance serve` from parsed arguments; the exit status (2: unusable arguments)."""
    if getattr(args, "list_quirks", False):
        for q in load_quirks():
            print(f"{q.name:<38} {q.kind:<9} {q.description}")
        return 0
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"conformance serve: {exc}", file=sys.stderr)
        return 2
    quirks = ", ".join(config.quirks) or "none"
    print(f"reference server on http://{config.host}:{config.port}/v1 (quirks: {quirks})", file=sys.stderr)
    serve(config)
    return 0
