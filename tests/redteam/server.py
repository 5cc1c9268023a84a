"""A raw asyncio HTTP/1.1 server for the red-team fakes, with control over every byte.

Written from RFC 9112, independently of ``conformance.backend``: a handler receives a
parsed :class:`Request` and returns a :class:`Reply` whose body is a list of parts
(bytes, or a :class:`Pause`), framed by Content-Length, chunked transfer coding or
by closing the connection. A :data:`STALL` part keeps the connection open and silent
until the client gives up, so a hanging server can be imitated without hanging the
test (the client's timeout ends it; the server drops the connection on shutdown).

Every connection serves one request and is closed (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DROP_STATUS", "STALL", "Pause", "Reply", "Request", "serve"]


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds before sending the next part."""

    seconds: float


#: send nothing more and keep the connection open (until the client closes it)
STALL = Pause(-1.0)
#: a reply status that means: close the connection without answering at all (a handler
#: that crashed, as http.server does on an uncaught exception)
DROP_STATUS = 0

Part = bytes | Pause


@dataclass(slots=True)
class Reply:
    """What to send back: status, headers, the body parts and how to frame them."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    framing: Literal["length", "chunked", "close"] = "length"
    reason: str = "OK"


Handler = Callable[[Request], Reply]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    301: "Moved Permanently",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    501: "Not Implemented",
}


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        pieces: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                break
            pieces.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(pieces)
    return Request(method=method, path=target, headers=headers, body=body)


async def _write(writer: asyncio.StreamWriter, reply: Reply) -> None:
    reason = _REASONS.get(reply.status, reply.reason)
    names = {k.lower() for k, _ in reply.headers}
    headers = list(reply.headers)
    if reply.framing == "length":
        size = sum(len(p) for p in reply.parts if isinstance(p, bytes))
        if "content-length" not in names:
            headers.append(("Content-Length", str(size)))
    elif reply.framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    headers.append(("Connection", "close"))
    head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    writer.write(head.encode("latin-1") + b"\r\n")
    await writer.drain()
    for part in reply.parts:
        if isinstance(part, Pause):
            if part is STALL or part.seconds < 0:
                await asyncio.sleep(3600)
            await asyncio.sleep(part.seconds)
            continue
        if not part:
            continue
        if reply.framing == "chunked":
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        else:
            writer.write(part)
        await writer.drain()
    if reply.framing == "chunked":
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _server(
    handler: Handler,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is not None:
                try:
                    reply = handler(request)
                except Exception as exc:  # a bug in a fake must show, not hang
                    reply = Reply(
                        500,
                        [("Content-Type", "text/plain")],
                        [f"fake server bug: {exc!r}".encode()],
                    )
                if reply.status != DROP_STATUS:
                    await _write(writer, reply)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    return on_connect


@contextlib.contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in a thread; yields ``http://host:port``."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        server = await asyncio.start_server(_server(handler), "127.0.0.1", 0)
        holder["server"] = server
        holder["port"] = server.sockets[0].getsockname()[1]
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="redteam-server", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the red-team server did not start")
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:

        async def stop() -> None:
            server = holder["server"]
            assert isinstance(server, asyncio.Server)
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
