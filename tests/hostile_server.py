"""A purpose-built hostile "provider" for the harness's own tests: raw asyncio sockets on 127.0.0.1.

Every misbehaviour a provider, a proxy or a broken network can show the suite, one per mode. The
mode is the first path segment, so one server serves all of them:
`http://127.0.0.1:PORT/<mode>/v1/chat/completions`. Every mode answers every endpoint the same
way (models, chat, streams, embeddings), whatever was asked. `running_hostile_server()` serves in
a thread of this process; `hostile_server_process()` (or `python tests/hostile_server.py`, which
prints its base URL) in a process of its own.

Why raw sockets rather than starlette: most modes break HTTP itself (wrong Content-Length,
garbage chunk framing, a connection that closes mid-body, headers that never finish), which a
conforming server framework will not produce.

What does not live here: deviations that are still valid HTTP and plausible OpenAI-ish JSON; those
are the reference server's quirks (conformance/reference/quirks.yaml).
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

HUGE_BODY_BYTES = 200 * 1024 * 1024
GZIP_BOMB_BYTES = 1024 * 1024 * 1024  # inflated size; about 1 MB on the wire
_MEGABYTE_OF_ZEROS = bytes(1024 * 1024)
_MAX_REQUEST_BYTES = 1024 * 1024

MODES: dict[str, str] = {
    "not_json": "200 application/json whose body is prose, not JSON",
    "truncated_json": "200 application/json whose JSON stops halfway",
    "invalid_utf8": "200 JSON / event stream with bytes that are not UTF-8 inside strings",
    "endless_stream": "200 text/event-stream that sends a chunk every 20 ms and never ends",
    "huge_body": "200 with Content-Length 200 MB, sent as fast as the client reads",
    "never_answers": "accepts the connection, reads the request, never sends a byte",
    "headers_stall": "sends the status line and one header, then nothing, forever",
    "empty_reply": "reads the request and closes the connection without a byte",
    "close_mid_stream": "200 chunked event stream: two events, then the connection closes mid-body",
    "proxy_html_502": "a proxy's 502 Bad Gateway as a text/html page",
    "gzip_bomb": "200 Content-Encoding: gzip of 1 GB of zeros (about 1 MB on the wire)",
    "content_length_long": "declares Content-Length 5000, sends 64 bytes and closes",
    "content_length_short": "declares Content-Length 10 but sends a whole JSON body after it",
    "chunked_garbage": "Transfer-Encoding: chunked with chunk-size lines that are not hex",
}

Writer = asyncio.StreamWriter
Behaviour = Callable[[asyncio.StreamReader, Writer, bool], Awaitable[None]]

_CHUNK = {
    "id": "chatcmpl-hostile",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "hostile",
    "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}],
}


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _until_client_leaves(reader: asyncio.StreamReader) -> None:
    """Hold the connection (sending nothing) until the client closes it."""
    while await reader.read(65536):
        pass


# asyncio's drain() does not raise once the client has gone (it only yields), so every
# endless writer checks writer.is_closing() itself.


async def _simple(writer: Writer, status: str, content_type: str, body: bytes) -> None:
    head = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
    writer.write(_head(status, head) + body)
    await writer.drain()


async def not_json(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    await _simple(writer, "200 OK", "application/json", b"Sure! Here is your answer: hello <b>world</b>")


async def truncated_json(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    body = b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assis'
    await _simple(writer, "200 OK", "application/json", body)


async def invalid_utf8(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    bad = b"caf\xc3 \xff\xfe \xed\xa0\x80 \xf0\x9f"  # truncated sequence, invalid bytes, an encoded surrogate
    if stream:
        event = _event(_CHUNK).replace(b'"a"', b'"' + bad + b'"')
        await _simple(writer, "200 OK", "text/event-stream", event + event + b"data: [DONE]\n\n")
        return
    body = (
        b'{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "hostile", "choices": [{"index": 0,'
        b' "message": {"role": "assistant", "content": "' + bad + b'"}, "finish_reason": "stop"}],'
        b' "data": [{"object": "model", "id": "' + bad + b'"}]}'
    )
    await _simple(writer, "200 OK", "application/json", body)


async def endless_stream(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    writer.write(_head("200 OK", {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}))
    while not writer.is_closing():
        writer.write(_chunked(_event(_CHUNK)))
        await writer.drain()
        await asyncio.sleep(0.02)


async def huge_body(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    head = {"Content-Type": "application/json", "Content-Length": str(HUGE_BODY_BYTES), "Connection": "close"}
    prefix = b'{"object": "chat.completion", "padding": "'
    writer.write(_head("200 OK", head) + prefix)
    block = b"a" * len(_MEGABYTE_OF_ZEROS)
    sent = len(prefix)
    while sent < HUGE_BODY_BYTES and not writer.is_closing():
        piece = block[: HUGE_BODY_BYTES - sent]
        writer.write(piece)
        sent += len(piece)
        await writer.drain()


async def never_answers(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    await _until_client_leaves(reader)


async def headers_stall(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    await writer.drain()
    await _until_client_leaves(reader)


async def empty_reply(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    return None  # the caller closes the connection


async def close_mid_stream(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    writer.write(_head("200 OK", {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}))
    writer.write(_chunked(_event(_CHUNK)) + _chunked(_event(_CHUNK)) + b"40\r\ndata: {\"choi")
    await writer.drain()


async def proxy_html_502(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    page = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
        b"</center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
    )
    await _simple(writer, "502 Bad Gateway", "text/html", page)


@functools.cache
def _gzip_of_zeros(size: int) -> bytes:
    """A gzip member inflating to `size` zero bytes, built in milliseconds: after a full flush the
    compressor starts afresh, so every further megabyte of zeros compresses to the same ~1 KB
    block, computed once and repeated. The CRC trailer is left out: a client that inflates all of
    it is already lost, and ours stops long before."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(_MEGABYTE_OF_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(_MEGABYTE_OF_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (size // len(_MEGABYTE_OF_ZEROS) - 1)


async def gzip_bomb(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    head = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Connection": "close"}
    writer.write(_head("200 OK", head) + _gzip_of_zeros(GZIP_BOMB_BYTES))
    await writer.drain()


async def content_length_long(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    writer.write(_head("200 OK", {"Content-Type": "application/json", "Content-Length": "5000"}))
    writer.write(b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": []}')
    await writer.drain()


async def content_length_short(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    body = b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": []}'
    writer.write(_head("200 OK", {"Content-Type": "application/json", "Content-Length": "10"}) + body)
    await writer.drain()


async def chunked_garbage(reader: asyncio.StreamReader, writer: Writer, stream: bool) -> None:
    writer.write(_head("200 OK", {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}))
    writer.write(_chunked(_event(_CHUNK)) + b"zz; not hex\r\n" + _event(_CHUNK) + b"\r\n0\r\n\r\n")
    await writer.drain()


BEHAVIOURS: dict[str, Behaviour] = {name: globals()[name] for name in MODES}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bool] | None:
    """(path, stream requested) of one request, its body read and discarded; None on EOF or garbage."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    length = min(int(headers.get("content-length", "0") or 0), _MAX_REQUEST_BYTES)
    body = await reader.readexactly(length) if length else b""
    stream = "text/event-stream" in headers.get("accept", "") or b'"stream": true' in body
    return parts[1], stream


async def _serve(reader: asyncio.StreamReader, writer: Writer) -> None:
    try:
        request = await _read_request(reader)
        if request is not None:
            mode = request[0].strip("/").split("/", 1)[0]
            behaviour = BEHAVIOURS.get(mode)
            if behaviour is None:
                await _simple(writer, "404 Not Found", "text/plain", f"no hostile mode {mode!r}".encode())
            else:
                await behaviour(reader, writer, request[1])
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextmanager
def running_hostile_server() -> Iterator[str]:
    """Serve every mode on a free 127.0.0.1 port; yield `http://127.0.0.1:PORT` (add `/<mode>/v1`)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hostile-server", daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(asyncio.start_server(_serve, "127.0.0.1", 0), loop).result(10)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:

        async def stop() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def hostile_server_process() -> Iterator[str]:
    """The same server in its own process, so that its CPU and buffers do not count as the client's."""
    proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("http://"):
            raise RuntimeError(f"the hostile server did not start: {line!r}")
        yield line.strip()
    finally:
        proc.kill()
        proc.wait(10)


def _main() -> None:
    with running_hostile_server() as base:
        print(base, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    _main()
