"""A hostile OpenAI-compatible server for ``conformance bench``'s verdict tests.

Raw asyncio over TCP (nothing from ``conformance``), one process of its own. Each request
``POST /<mode>/v1/chat/completions`` gets the behaviour its path names (see :data:`MODES`).
A mode written ``after1_<mode>`` answers the first request of that path correctly (the
bench's preflight) and every later one (the load) with ``<mode>``: a target that breaks
only under load. ``flaky`` answers the first request, then refuses every second one
with a 503. A name ``<mode>~<tag>`` is ``<mode>`` with a request count of its own (a
fresh "first request" for each test run). ``GET /stats`` returns how many requests each path received.

    python tests/bench_redteam/hostile.py --port 0 --limit-s 120

It prints ``PORT <n>`` on its first line of stdout once it listens on 127.0.0.1, and
exits by itself after ``--limit-s`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["MODES", "main"]

Writer = asyncio.StreamWriter
#: how many response headers the ``headers100k`` mode sends
FLOOD_HEADERS = 100_000


def _error(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}
    ).encode()


def _head(status: str, content_type: str, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}".encode()


async def _json(writer: Writer, status: str, body: bytes) -> None:
    writer.write(_head(status, "application/json", f"Content-Length: {len(body)}\r\n\r\n") + body)
    await writer.drain()


def _event(content: str | None, finish: str | None = None, usage: bool = False) -> bytes:
    """One SSE event of a chat completion stream (``data: {...}`` and its blank line)."""
    obj: dict[str, Any] = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "hostile-1",
        "choices": [] if usage else [{"index": 0, "delta": {}, "finish_reason": finish}],
    }
    if content is not None:
        obj["choices"][0]["delta"] = {"role": "assistant", "content": content}
    if usage:
        obj["usage"] = {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    return f"data: {json.dumps(obj)}\n\n".encode()


def _ok_events() -> list[bytes]:
    """The correct stream of four tokens, event by event, ``[DONE]`` last."""
    words = [_event(w) for w in ("a ", "b ", "c ", "d")]
    return [*words, _event(None, "length"), _event(None, usage=True), b"data: [DONE]\n\n"]


def _framed(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_SSE_HEAD = _head("200 OK", "text/event-stream", "Transfer-Encoding: chunked\r\n\r\n")


_STATUS_OK = b"HTTP/1.1 200 OK\r\n"


def _ok_bytes(stream: bool) -> bytes:
    """A whole correct response of four tokens (streamed or not), status line first."""
    if not stream:
        body = json.dumps(
            {
                "id": "chatcmpl-hostile",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "hostile-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "a b c d"},
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8},
            }
        ).encode()
        return _head("200 OK", "application/json", f"Content-Length: {len(body)}\r\n\r\n") + body
    return _SSE_HEAD + b"".join(_framed(e) for e in _ok_events()) + b"0\r\n\r\n"


async def ok(writer: Writer, stream: bool) -> None:
    """A correct answer of four tokens (streamed or not)."""
    writer.write(_ok_bytes(stream))
    await writer.drain()


async def status401(writer: Writer, stream: bool) -> None:
    """Every request refused: a wrong or missing key."""
    await _json(
        writer,
        "401 Unauthorized",
        _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    )


async def status500(writer: Writer, stream: bool) -> None:
    """Every request answered 500."""
    await _json(writer, "500 Internal Server Error", _error("boom", "server_error"))


async def status503(writer: Writer, stream: bool) -> None:
    """Overloaded: a 503 with a Retry-After."""
    body = _error("overloaded, try again", "server_error")
    writer.write(
        _head("503 Service Unavailable", "application/json", "Retry-After: 1\r\n")
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def hang(writer: Writer, stream: bool) -> None:
    """Read the request, never answer (the connection stays open)."""
    await asyncio.sleep(3600)


async def stall(writer: Writer, stream: bool) -> None:
    """Headers and one token, then silence with the connection open."""
    writer.write(_SSE_HEAD + _framed(_event("a ")))
    await writer.drain()
    await asyncio.sleep(3600)


async def drip(writer: Writer, stream: bool) -> None:
    """Headers, then a comment byte every 0.2 s forever: never silent, never done."""
    writer.write(_SSE_HEAD + _framed(_event("a ")))
    await writer.drain()
    while True:
        await asyncio.sleep(0.2)
        writer.write(b"3\r\n:\n\n\r\n")
        await writer.drain()


def _flood(count: int) -> Callable[[Writer, bool], Awaitable[None]]:
    """A correct answer behind ``count`` extra response headers (22 bytes each)."""

    async def flood(writer: Writer, stream: bool) -> None:
        block = b"".join(b"X-Flood-%06d: %04d\r\n" % (i, i % 10000) for i in range(1000))
        writer.write(_STATUS_OK)
        sent = 0
        while sent < count:
            n = min(1000, count - sent)
            writer.write(block if n == 1000 else block[: n * 22])
            await writer.drain()
            sent += n
        writer.write(_ok_bytes(stream)[len(_STATUS_OK) :])
        await writer.drain()

    flood.__doc__ = f"A correct answer behind {count} extra response headers."
    return flood


async def until_close(writer: Writer, stream: bool) -> None:
    """A correct answer whose body ends when the server closes the connection (HTTP/1.1
    allows it: no length, no chunking, ``Connection: close``), events a few ms apart."""
    if not stream:
        await ok(writer, stream)
        return
    writer.write(_head("200 OK", "text/event-stream", "Connection: close\r\n\r\n"))
    for event in _ok_events():
        writer.write(event)
        await writer.drain()
        await asyncio.sleep(0.005)
    writer.close()


async def sized(writer: Writer, stream: bool) -> None:
    """A correct streamed answer sent with a ``Content-Length`` (a buffering proxy's way)."""
    if not stream:
        await ok(writer, stream)
        return
    body = b"".join(_ok_events())
    writer.write(_head("200 OK", "text/event-stream", f"Content-Length: {len(body)}\r\n\r\n"))
    writer.write(body)
    await writer.drain()


MODES: dict[str, Callable[[Writer, bool], Awaitable[None]]] = {
    # valid framings of a correct stream: the body ends at the close, or at its length
    "until_close": until_close,
    "sized": sized,
    "ok": ok,
    "status401": status401,
    "status500": status500,
    "status503": status503,
    # the first request answered, then every second one 503 (handled in Server.route)
    "flaky": ok,
    # a 401 whose message echoes the key it was sent (handled in Server.route)
    "echo401": status401,
    "hang": hang,
    "stall": stall,
    "drip": drip,
    # about 2.2 MB of headers: far over the 100 KiB limit on a response head
    "headers100k": _flood(FLOOD_HEADERS),
    # about 44 KB of headers: under it (a legitimate if verbose answer)
    "headers2k": _flood(2000),
}


class Server:
    """One coroutine per connection; keep-alive; the request counts per path."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        quiet = (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, OSError)
        with contextlib.suppress(*quiet):
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    method, target, _ = lines[0].split(" ", 2)
                    length = 0
                    auth = ""
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                        elif name.strip().lower() == "authorization":
                            auth = value.strip()
                    body = await reader.readexactly(length) if length else b""
                    await self.route(method, target.split("?", 1)[0], body, writer, auth)
            finally:
                writer.close()

    async def route(
        self, method: str, path: str, body: bytes, writer: Writer, auth: str = ""
    ) -> None:
        if method == "GET" and path == "/stats":
            await _json(writer, "200 OK", json.dumps(self.seen).encode())
            return
        parts = path.strip("/").split("/")
        name = parts[0] if parts else ""
        # "<mode>~<tag>": the same mode under a name (and request count) of its own
        mode = name.partition("~")[0].removeprefix("after1_")
        if (
            method != "POST"
            or len(parts) != 4
            or parts[1:] != ["v1", "chat", "completions"]
            or mode not in MODES
        ):
            await _json(writer, "404 Not Found", _error("no such route", "not_found"))
            return
        count = self.seen.get(name, 0) + 1
        self.seen[name] = count
        try:
            stream = bool(json.loads(body).get("stream"))
        except (ValueError, AttributeError):
            stream = False
        if mode == "echo401":  # a careless server: the key it refuses, in its error
            message = f"Incorrect API key provided: {auth.partition(' ')[2]}"
            await _json(writer, "401 Unauthorized", _error(message, "invalid_request_error"))
            return
        handler: Callable[[Writer, bool], Awaitable[None]]
        if name.startswith("after1_") and count == 1:
            handler = ok
        elif mode == "flaky":  # the first request answered, then every second one refused
            handler = status503 if count % 2 == 0 else ok
        else:
            handler = MODES[mode]
        await handler(writer, stream)


async def _serve(port: int, limit_s: float) -> None:
    app = Server()
    server = await asyncio.start_server(app.handle, "127.0.0.1", port, backlog=256)
    sys.stdout.write(f"PORT {server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    async with server:
        await asyncio.sleep(limit_s)  # bounded: never outlives the tests that started it


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--port`` (0 picks one) and ``--limit-s`` (self-stop)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--limit-s", type=float, default=600.0)
    a = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(a.port, a.limit_s))


if __name__ == "__main__":
    main()
