"""Small ASGI helpers shared by the backend's handlers: body reading, JSON answers, hangs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from starlette.types import Message, Receive, Send

from conformance.backend.errors import RequestError

JSON = b"application/json"


class ClientGone(Exception):
    """The client went away before the request body was read."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; RequestError(413) past ``limit`` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises RequestError(413) once the body passes ``limit`` bytes."""
    seen = 0

    async def guarded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return guarded


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        f"The request body is larger than {limit} bytes.",
        "invalid_request_error",
        None,
        "request_too_large",
    )


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A complete response with a Content-Length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class DisconnectWatch:
    """Notices when the client goes away (after the request body has been read)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                return

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._watch())

    @property
    def gone(self) -> bool:
        """True once the client has disconnected (only after :meth:`start`)."""
        return self._task is not None and self._task.done()

    async def wait(self, timeout: float) -> None:
        """Wait until the client disconnects or ``timeout`` seconds pass (a bounded hang)."""
        self.start()
        assert self._task is not None
        await asyncio.wait({self._task}, timeout=timeout)

    def stop(self) -> None:
        """Stop watching (call when the response is complete)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` (never wakes early)."""
    now = time.monotonic()
    while now < deadline:
        await asyncio.sleep(deadline - now)
        now = time.monotonic()


async def send_endless(send: Send, receive: Receive, head: bytes, block: bytes, cap: int) -> None:
    """Send ``head`` then ``block`` again and again until ``cap`` bytes or a disconnect."""
    watch = DisconnectWatch(receive)
    watch.start()
    try:
        sent = len(head)
        await send({"type": "http.response.body", "body": head, "more_body": True})
        while sent < cap and not watch.gone:
            await send({"type": "http.response.body", "body": block, "more_body": True})
            sent += len(block)
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watch.stop()
