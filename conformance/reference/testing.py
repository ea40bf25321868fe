"""Run the reference server in-process for tests: `with running_server(...) as base_url: ...`.

What lives here: `running_server()`, which binds a free 127.0.0.1 port, serves the app with
uvicorn on a shared background event loop, yields `http://127.0.0.1:PORT/v1` once the server
accepts connections, and stops listening on exit. What does not: the server itself (server.py).

Why a shared loop: tests start a hundred servers or more. One daemon thread runs one asyncio
loop for all of them, so a server costs a socket and a uvicorn.Server, not a thread; on exit the
listening socket is closed at once (no new connections) and uvicorn finishes its graceful
shutdown (its 100 ms ticks, closing idle keep-alive connections) in the background instead of
making every test wait for it. Access logs are off and uvicorn's logging is not configured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from conformance.providers import ModelConfig, Provider
from conformance.reference.server import ServerConfig, create_app

__all__ = ["reference_provider", "running_server", "serving"]

STARTUP_TIMEOUT_S = 10.0
_lock = threading.Lock()
_loops: list[asyncio.AbstractEventLoop] = []  # at most one: the shared background loop


def _background_loop() -> asyncio.AbstractEventLoop:
    with _lock:
        if not _loops:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="reference-servers", daemon=True).start()
            _loops.append(loop)
        return _loops[0]


async def _stop_listening(server: uvicorn.Server) -> None:
    server.should_exit = True
    for listener in getattr(server, "servers", []):
        listener.close()


@contextmanager
def running_server(config: ServerConfig | None = None, **overrides: Any) -> Iterator[str]:
    """Serve the reference app on a free port; yield its base URL (`http://127.0.0.1:PORT/v1`).

    `overrides` replace fields of `config` (e.g. `running_server(quirks=("stream_no_done",))`).
    `host` and `port` are ignored: the server always binds 127.0.0.1 on a port the OS picks.
    """
    config = dataclasses.replace(config or ServerConfig(), **overrides)
    with serving(create_app(config)) as url:  # unknown quirks fail in create_app, before any socket
        yield url


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Any ASGI app (the reference app, or one wrapping it) on a free 127.0.0.1 port, on the
    shared background loop; yields `http://127.0.0.1:PORT/v1` and stops listening on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without TCP_NODELAY (inherited by accepted sockets) Nagle + delayed ACK cost ~40 ms a request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    loop = _background_loop()
    task = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
            raise RuntimeError("the server stopped before it started")
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not start")
        time.sleep(0.0005)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        asyncio.run_coroutine_threadsafe(_stop_listening(server), loop).result(timeout=5)


def reference_provider(base_url: str, api_key: str | None = None, name: str = "reference", **kw: Any) -> Provider:
    """A Provider pointing at a running reference server, configured like the shipped preset."""
    chat = (ModelConfig("ref-chat", 64, "max_tokens"),)
    return Provider(
        name=name,
        base_url=base_url,
        api_key_env="REF_KEY" if api_key else None,
        api_key=api_key,
        models={
            "chat": chat,
            "tools": chat,
            "embeddings": (ModelConfig("ref-embed", 64, "max_tokens"),),
            "vision": chat,
            "images": (ModelConfig("ref-image", 64, "max_tokens"),),
            "reasoning": (ModelConfig("ref-reason", 128, "max_completion_tokens"),),
        },
        **kw,
    )
