"""An independent, timed OpenAI-compatible server for red-teaming ``conformance bench``.

Raw asyncio over TCP (no web framework, nothing from ``conformance``): it answers
``POST <prefix>/<framing>/v1/chat/completions`` with ``max_tokens`` tokens (one word
each), the first one ``--ttft-ms`` after the request was read and each next one
``--itl-ms`` later, at absolute deadlines. Every send is logged against its deadline;
``GET /stats`` returns that lateness and ``POST /stats/reset`` clears it.

Framings (the path segment ``<framing>``): see :data:`FRAMINGS`. Each changes only how
the same token timeline reaches the wire, so the truth is the same for all of them
(except ``coalesced*``, whose chunks hold several tokens: inter-chunk gap = k * ITL).

Run it in a process of its own::

    python tests/bench_redteam/server.py --port 0 --ttft-ms 50 --itl-ms 10

It prints ``PORT <n>`` on its first line of stdout once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["FRAMINGS", "Framing", "main"]


@dataclass(frozen=True, slots=True)
class Framing:
    """How a stream is put on the wire."""

    #: the role arrives alone at the headers (vLLM); else with the first content
    role_alone: bool = True
    crlf: bool = False
    #: ``: ping`` comment lines half-way between events (also during the TTFT wait)
    ping: bool = False
    #: tokens per content chunk
    per_chunk: int = 1
    #: ``Connection: close`` after each response
    close: bool = False
    #: no Transfer-Encoding and no Content-Length: the body ends when the connection closes
    close_delimited: bool = False
    #: a usage chunk at the end (when ``stream_options.include_usage`` is asked)
    usage: bool = True
    #: bytes of prompt echo in an extra field of the first content chunk
    echo_bytes: int = 0
    #: response headers held back until the first token is due
    late_headers: bool = False


FRAMINGS: dict[str, Framing] = {
    "vllm": Framing(),
    "role_inline": Framing(role_alone=False),
    "crlf": Framing(crlf=True),
    "ping": Framing(ping=True),
    "coalesced4": Framing(per_chunk=4),
    "no_usage": Framing(usage=False),
    "no_usage_coalesced4": Framing(usage=False, per_chunk=4),
    "conn_close": Framing(close=True),
    "close_delimited": Framing(close=True, close_delimited=True),
    "big_first": Framing(echo_bytes=2048),
    "huge_first": Framing(echo_bytes=100_000),
    "late_headers": Framing(late_headers=True, role_alone=False),
}


class Stats:
    """The server's own record: lateness of every send against its deadline."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first_late_ms: list[float] = []
        self.next_late_ms: list[float] = []
        #: the actual gaps between consecutive content chunks' sends
        self.gap_ms: list[float] = []
        #: from the moment a new connection's handler ran to its first request being read
        self.accept_to_request_ms: list[float] = []
        self.started: dict[str, int] = {}
        self.completed: dict[str, int] = {}
        self.tokens: dict[str, int] = {}

    def as_json(self) -> dict[str, Any]:
        def pct(values: list[float]) -> dict[str, float | None]:
            if not values:
                return {"p50": None, "p99": None, "max": None, "n": 0}
            s = sorted(values)
            return {
                "p50": round(s[len(s) // 2], 4),
                "p99": round(s[min(len(s) - 1, int(len(s) * 0.99))], 4),
                "max": round(s[-1], 4),
                "n": len(s),
            }

        return {
            "first_token_lateness_ms": pct(self.first_late_ms),
            "next_token_lateness_ms": pct(self.next_late_ms),
            "accept_to_request_ms": pct(self.accept_to_request_ms),
            "sent_gap_ms": pct(self.gap_ms),
            "started": self.started,
            "completed": self.completed,
            "tokens": self.tokens,
        }


class Server:
    """The HTTP/1.1 server: one coroutine per connection, keep-alive unless told otherwise."""

    def __init__(self, ttft_ms: float, itl_ms: float) -> None:
        self.ttft_s = ttft_ms / 1000.0
        self.itl_s = itl_ms / 1000.0
        self.stats = Stats()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        t_accept = time.perf_counter()
        first = True
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, OSError):
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    t0 = time.perf_counter()
                    lines = head.decode("latin-1").split("\r\n")
                    method, target, _ = lines[0].split(" ", 2)
                    headers = {}
                    for line in lines[1:]:
                        if ":" in line:
                            k, v = line.split(":", 1)
                            headers[k.strip().lower()] = v.strip()
                    length = int(headers.get("content-length", "0"))
                    body = await reader.readexactly(length) if length else b""
                    t0 = time.perf_counter()
                    if first:
                        self.stats.accept_to_request_ms.append((t0 - t_accept) * 1000.0)
                        first = False
                    keep = await self.route(method, target, body, writer, t0)
                    if not keep or headers.get("connection", "").lower() == "close":
                        break
            finally:
                writer.close()

    async def route(
        self, method: str, target: str, body: bytes, writer: asyncio.StreamWriter, t0: float
    ) -> bool:
        path = target.split("?", 1)[0]
        if path == "/stats" and method == "GET":
            return await self.json(writer, 200, self.stats.as_json())
        if path == "/stats/reset" and method == "POST":
            self.stats.reset()
            return await self.json(writer, 200, {"reset": True})
        parts = path.strip("/").split("/")
        if method == "GET" and parts[1:] == ["v1", "models"]:
            return await self.json(writer, 200, {"object": "list", "data": [_MODEL]})
        if (
            method != "POST"
            or len(parts) != 4
            or parts[0] not in FRAMINGS
            or parts[1:] != ["v1", "chat", "completions"]
        ):
            return await self.json(writer, 404, _error("no such route", "not_found"))
        try:
            req = json.loads(body)
            n = int(req.get("max_tokens") or 16)
        except (ValueError, TypeError, AttributeError):
            return await self.json(writer, 400, _error("bad JSON body", "invalid_request_error"))
        name = parts[0]
        framing = FRAMINGS[name]
        self.stats.started[name] = self.stats.started.get(name, 0) + 1
        prompt = json.dumps(req.get("messages"))
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            await self.stream(writer, framing, n, t0, include_usage, prompt)
        else:
            await self.whole(writer, framing, n, t0)
        self.stats.completed[name] = self.stats.completed.get(name, 0) + 1
        self.stats.tokens[name] = self.stats.tokens.get(name, 0) + n
        return not framing.close

    async def json(self, writer: asyncio.StreamWriter, status: int, obj: Any) -> bool:
        data = json.dumps(obj).encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        return True

    async def _until(self, deadline: float) -> float:
        delay = deadline - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        return time.perf_counter()

    async def whole(
        self, writer: asyncio.StreamWriter, framing: Framing, n: int, t0: float
    ) -> None:
        """A non-streamed answer, sent when its last token is due."""
        text = "".join(_word(i) for i in range(n))
        obj: dict[str, Any] = {
            "id": "chatcmpl-redteam",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": _MODEL["id"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length",
                }
            ],
        }
        if framing.usage:
            obj["usage"] = {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}
        data = json.dumps(obj).encode()
        deadline = t0 + self.ttft_s + (n - 1) * self.itl_s
        sent = await self._until(deadline)
        self.stats.first_late_ms.append((sent - deadline) * 1000.0)
        conn = "close" if framing.close else "keep-alive"
        writer.write(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: {conn}\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    async def stream(
        self,
        writer: asyncio.StreamWriter,
        framing: Framing,
        n: int,
        t0: float,
        include_usage: bool,
        prompt: str,
    ) -> None:
        eol = "\r\n" if framing.crlf else "\n"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            obj = {
                "id": "chatcmpl-redteam",
                "object": "chat.completion.chunk",
                "created": created,
                "model": _MODEL["id"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(obj)}{eol}{eol}".encode()

        def frame(data: bytes) -> bytes:
            if framing.close_delimited:
                return data
            return f"{len(data):x}\r\n".encode() + data + b"\r\n"

        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        head += "Connection: close\r\n" if framing.close else "Connection: keep-alive\r\n"
        if not framing.close_delimited:
            head += "Transfer-Encoding: chunked\r\n"
        head_bytes = (head + "\r\n").encode()
        pending = b"" if framing.late_headers else head_bytes
        if not framing.late_headers:
            if framing.role_alone:
                pending += frame(chunk({"role": "assistant", "content": ""}))
            writer.write(pending)
            pending = b""
        k = framing.per_chunk
        starts = list(range(0, n, k))
        ping = frame(f": ping{eol}{eol}".encode())
        prev = t0
        prev_sent = t0
        for j, start in enumerate(starts):
            last = min(n, start + k) - 1
            # a chunk of k tokens leaves when its first token is due; the next chunk k ITL later
            deadline = t0 + self.ttft_s + start * self.itl_s
            if framing.ping:
                await self._until((prev + deadline) / 2)
                writer.write(ping)
            text = "".join(_word(i) for i in range(start, last + 1))
            delta: dict[str, Any] = {"content": text}
            extra: dict[str, Any] = {}
            if j == 0:
                if not framing.role_alone:
                    delta = {"role": "assistant", "content": text}
                if framing.echo_bytes:
                    extra["prompt_echo"] = (
                        prompt * (framing.echo_bytes // max(1, len(prompt)) + 1)
                    )[: framing.echo_bytes]
            data = frame(chunk(delta, **extra))
            sent = await self._until(deadline)
            if j == 0 and framing.late_headers:
                data = head_bytes + data
            writer.write(data)
            sent = time.perf_counter()
            if j:
                self.stats.gap_ms.append((sent - prev_sent) * 1000.0)
            prev_sent = sent
            late = (sent - deadline) * 1000.0
            (self.stats.next_late_ms if j else self.stats.first_late_ms).append(late)
            prev = deadline
            if j % 8 == 7:
                await writer.drain()
        tail = frame(chunk({}, "length"))
        if include_usage and framing.usage:
            tail += frame(
                f"data: {json.dumps({'id': 'chatcmpl-redteam', 'object': 'chat.completion.chunk', 'created': created, 'model': _MODEL['id'], 'choices': [], 'usage': {'prompt_tokens': 8, 'completion_tokens': n, 'total_tokens': 8 + n}})}{eol}{eol}".encode()
            )
        tail += frame(f"data: [DONE]{eol}{eol}".encode())
        if not framing.close_delimited:
            tail += b"0\r\n\r\n"
        writer.write(tail)
        await writer.drain()


_MODEL = {"id": "redteam-1", "object": "model", "created": 0, "owned_by": "redteam"}


def _word(i: int) -> str:
    return f"w{i} "


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def _serve(port: int, ttft_ms: float, itl_ms: float, limit_s: float) -> None:
    app = Server(ttft_ms, itl_ms)
    server = await asyncio.start_server(app.handle, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    async with server:
        # bounded: never outlive the run that started it
        await asyncio.sleep(limit_s)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``--port``, ``--ttft-ms``, ``--itl-ms``, ``--limit-s`` (self-stop)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=10.0)
    p.add_argument("--limit-s", type=float, default=1800.0)
    a = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(a.port, a.ttft_ms, a.itl_ms, a.limit_s))


if __name__ == "__main__":
    main()
