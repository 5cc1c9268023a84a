"""Capacity of the embedded reference backend: streamed requests/s and timing lateness.

The backend runs in a process of its own (``serve_in_process``); this process is the
load generator: a small asyncio client on raw sockets (keep-alive connections, one
request in flight per connection, the response read to its final chunk). Each phase
is bounded in time. Phases:

* throughput: streams of 16 content chunks with zero delay, ``--connections``
  concurrent streams, for ``--duration`` seconds;
* lateness at 64 and 256 concurrent streams with TTFT 50 ms / ITL 10 ms: the
  backend's own measurement (``GET /stats``: send time minus deadline, per token),
  in the steady state (statistics reset 1 s in, after the 200 ms ramp-up of the
  connections, and read just before the load stops).

Usage: ``python benchmarks/backend_capacity.py [--duration 5] [--connections 64]``.
The figures depend on the machine and on whatever else shares its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conformance.backend import BackendConfig, serve_in_process

END = b"\r\n0\r\n\r\n"


def _request(host: str, port: int, ttft_ms: float, itl_ms: float) -> bytes:
    body = json.dumps(
        {
            "model": "reference-small",
            "messages": [{"role": "user", "content": "Tell me about rivers."}],
            "max_tokens": 16,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Conformance-TTFT-Ms: {ttft_ms}\r\nX-Conformance-ITL-Ms: {itl_ms}\r\n\r\n"
    )
    return head.encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection that sends a request and waits for the stream's end."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.done: asyncio.Future[bytes] | None = None
        self.transport: Any = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.buffer.endswith(END) and self.done is not None and not self.done.done():
            self.done.set_result(bytes(self.buffer))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("connection lost"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def exchange(self, request: bytes) -> bytes:
        assert self.transport is not None
        self.buffer.clear()
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await asyncio.wait_for(self.done, timeout=30)


@dataclass
class _Result:
    completed: int
    failed: int
    seconds: float


#: the backend's /stats as taken at the end of the last run with ``steady_after``
_steady_stats: list[dict[str, Any]] = [{}]


async def _load(
    url: str,
    concurrency: int,
    seconds: float,
    ttft: float,
    itl: float,
    steady_after: float | None = None,
) -> _Result:
    """Keep ``concurrency`` streams going for ``seconds``.

    With ``steady_after``, the backend's lateness statistics are reset that many seconds
    in (after the ramp-up) and read just before the load stops: the steady state.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(host, port, ttft, itl)
    loop = asyncio.get_running_loop()
    completed = failed = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal completed, failed
        _, conn = await loop.create_connection(_Connection, host, port)
        try:
            while time.perf_counter() < stop_at:
                try:
                    answer = await conn.exchange(request)
                except (ConnectionError, TimeoutError):
                    failed += 1
                    return
                if answer.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in answer:
                    completed += 1
                else:
                    failed += 1
        finally:
            if conn.transport is not None:
                conn.transport.close()

    async def staggered(position: int) -> None:
        # connections open over the first 200 ms, as a load generator ramps up
        await asyncio.sleep(0.2 * position / concurrency)
        await worker()

    async def observe() -> None:
        if steady_after is None:
            return
        await asyncio.sleep(steady_after)
        await loop.run_in_executor(None, _http, "POST", url + "/stats/reset")
        await asyncio.sleep(max(0.0, seconds - steady_after - 0.05))
        _steady_stats[0] = await loop.run_in_executor(None, _http, "GET", url + "/stats")

    start = time.perf_counter()
    await asyncio.gather(observe(), *(staggered(i) for i in range(concurrency)))
    return _Result(completed, failed, time.perf_counter() - start)


def _http(method: str, url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def _run(coro: Any) -> Any:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=64, help="throughput concurrency")
    args = parser.parse_args(argv)
    rows: list[tuple[str, str]] = []
    with serve_in_process(BackendConfig()) as url:
        _run(_load(url, 8, 1.0, 0, 0))  # warm-up
        _http("POST", url + "/stats/reset")
        result = _run(_load(url, args.connections, args.duration, 0, 0))
        rate = result.completed / result.seconds
        rows.append(
            (
                f"streamed req/s (16 chunks, zero delay, {args.connections} conns)",
                f"{rate:,.0f}  ({result.completed} ok, {result.failed} failed)",
            )
        )
        for concurrency in (64, 256):
            _http("POST", url + "/stats/reset")
            result = _run(_load(url, concurrency, args.duration, 50, 10, steady_after=1.0))
            stats = _steady_stats[0]
            ttft, itl = stats["ttft_lateness_ms"], stats["itl_lateness_ms"]
            rows.append(
                (
                    f"lateness @ {concurrency} streams, TTFT 50 / ITL 10 ms",
                    f"ttft p50 {ttft['p50']:.3f} p99 {ttft['p99']:.3f} | itl p50 "
                    f"{itl['p50']:.3f} p99 {itl['p99']:.3f} ms  ({result.completed} streams, "
                    f"{result.failed} failed, {result.completed / result.seconds:,.0f}/s)",
                )
            )
    width = max(len(name) for name, _ in rows)
    print(f"backend capacity ({os.cpu_count()} cores, shared with other work: figures are noisy)")
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 60}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
