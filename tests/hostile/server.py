"""A raw asyncio HTTP/1.1 server that answers every request with one hostile behaviour.

``python -m tests.hostile.server MODE [LOG]`` listens on 127.0.0.1 on a free port, prints
``PORT <n>`` (and, for ``redirect_cross``, ``OTHER <n>``: a second origin), then serves
until it is terminated. Every request is appended to ``LOG`` (one JSON line: the port
it came to, method, path, whether it carried an ``Authorization`` header) so a test can
count what the harness sent. Written from RFC 9112, sharing nothing with the harness.

Modes (what the harness must survive, and say):

- ``gzip_bomb``: ``Content-Encoding: gzip, gzip``, about 2 KB that inflate to 1 GiB;
- ``deflate_bomb``: ``Content-Encoding: deflate``, about 1 MB that inflate to 1 GiB;
- ``endless_sse``: an event stream of chunks, as fast as the socket takes them, never
  ``[DONE]``;
- ``deep_json``: a chat completion with a member nested 1,100 levels deep (2 KB);
- ``deep_stream``: a valid stream whose second chunk nests 1,100 levels deep;
- ``redirect_loop``: every request answered ``307`` to its own URL;
- ``redirect_cross``: every request answered ``307`` to the same path on another origin
  (the second port), which answers a valid completion;
- ``many_headers``: a 200 answer with 100,000 header lines;
- ``drip``: a 200 event stream that sends one byte every 0.1 s, forever;
- ``hang``: reads the request and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import sys
import zlib
from pathlib import Path

MODES = (
    "gzip_bomb",
    "deflate_bomb",
    "endless_sse",
    "deep_json",
    "deep_stream",
    "redirect_loop",
    "redirect_cross",
    "many_headers",
    "drip",
    "hang",
)

_GIB = 1 << 30
_BLOCK = 1 << 20


def _zero_deflate(total: int) -> bytes:
    """Raw deflate data of ``total`` zero bytes, built from one compressed 1 MiB block
    repeated (a full flush makes every block compress to the same bytes)."""
    block = b"\0" * _BLOCK
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = first.compress(block) + first.flush(zlib.Z_FULL_FLUSH)
    again = first.compress(block) + first.flush(zlib.Z_FULL_FLUSH)
    assert one == again, "a fully flushed block should compress the same way twice"
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    return one * (total // _BLOCK) + end


def _checksums(total: int) -> tuple[int, int]:
    """(CRC-32, Adler-32) of ``total`` zero bytes."""
    block = b"\0" * _BLOCK
    crc, adler = 0, 1
    for _ in range(total // _BLOCK):
        crc = zlib.crc32(block, crc)
        adler = zlib.adler32(block, adler)
    return crc, adler


def gzip_bomb() -> bytes:
    """``gzip, gzip``: 1 GiB of zeros gzipped, then gzipped again."""
    crc, _ = _checksums(_GIB)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    inner = header + _zero_deflate(_GIB) + struct.pack("<II", crc, _GIB & 0xFFFFFFFF)
    outer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return outer.compress(inner) + outer.flush()


def deflate_bomb() -> bytes:
    """``deflate`` (the zlib format): 1 GiB of zeros."""
    _, adler = _checksums(_GIB)
    return b"\x78\xda" + _zero_deflate(_GIB) + struct.pack(">I", adler)


def deep_value(depth: int = 1100) -> str:
    return "[" * depth + "]" * depth


def completion(extra: str = "") -> bytes:
    doc = (
        '{"id":"chatcmpl-h","object":"chat.completion","created":1700000000,"model":"m",'
        '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how are '
        'you?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":6,'
        '"total_tokens":11}' + (f',"x_nested":{extra}' if extra else "") + "}"
    )
    return doc.encode()


def chunk(content: str | None, finish: str | None = None, extra: str = "") -> str:
    delta = {} if content is None else {"content": content}
    doc = json.dumps(
        {
            "id": "chatcmpl-h",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        },
        separators=(",", ":"),
    )
    if extra:
        doc = doc[:-1] + f',"x_nested":{extra}}}'
    return f"data: {doc}\n\n"


class Server:
    def __init__(self, mode: str, log: Path | None) -> None:
        self.mode = mode
        self.log = log
        self.port = 0
        self.other_port = 0
        self.payload = b""
        if mode == "gzip_bomb":
            self.payload = gzip_bomb()
        elif mode == "deflate_bomb":
            self.payload = deflate_bomb()

    def record(self, port: int, method: str, path: str, headers: dict[str, str]) -> None:
        if self.log is None:
            return
        line = {"port": port, "method": method, "path": path, "auth": "authorization" in headers}
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        with contextlib.suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                self.record(port, method, target, headers)
                keep = await self.answer(writer, port, target, headers, body)
                await writer.drain()
                if not keep:
                    break
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()

    async def answer(
        self,
        writer: asyncio.StreamWriter,
        port: int,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> bool:
        """Write the answer; whether the connection stays open."""
        stream = b'"stream":true' in body.replace(b" ", b"")
        mode = self.mode
        if mode == "redirect_cross" and port == self.other_port:
            return self.plain(writer, 200, "application/json", completion())
        if mode in ("gzip_bomb", "deflate_bomb"):
            coding = "gzip, gzip" if mode == "gzip_bomb" else "deflate"
            extra = [("Content-Encoding", coding)]
            return self.plain(writer, 200, "application/json", self.payload, extra)
        if mode == "deep_json":
            return self.plain(writer, 200, "application/json", completion(deep_value()))
        if mode == "deep_stream":
            events = [
                chunk("Hello"),
                chunk(" there", extra=deep_value()),
                chunk(None, "stop"),
                "data: [DONE]\n\n",
            ]
            return self.plain(writer, 200, "text/event-stream", "".join(events).encode())
        if mode == "redirect_loop":
            return self.plain(writer, 307, "text/plain", b"", [("Location", target)])
        if mode == "redirect_cross":
            location = f"http://127.0.0.1:{self.other_port}{target}"
            return self.plain(writer, 307, "text/plain", b"", [("Location", location)])
        if mode == "many_headers":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            line = b"X-Filler: 1\r\n"
            for _ in range(100):
                writer.write(line * 1000)
                await writer.drain()
            writer.write(b"Content-Length: 2\r\n\r\n{}")
            return False
        if mode == "endless_sse":
            writer.write(_stream_head())
            piece = chunk("token " * 5).encode() * 64
            while True:
                writer.write(piece)
                await writer.drain()
        if mode == "drip":
            writer.write(_stream_head())
            data = (chunk("x") if stream else completion().decode()).encode()
            while True:
                for byte in data:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)
        if mode == "hang":
            await asyncio.sleep(3600)
        return False

    @staticmethod
    def plain(
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str,
        body: bytes,
        extra: list[tuple[str, str]] | None = None,
    ) -> bool:
        reason = {200: "OK", 307: "Temporary Redirect"}.get(status, "Status")
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
        lines += [f"{k}: {v}" for k, v in extra or []]
        lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return True


def _stream_head() -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )


async def main(mode: str, log: Path | None) -> None:
    server = Server(mode, log)
    main_server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = main_server.sockets[0].getsockname()[1]
    servers = [main_server]
    if mode == "redirect_cross":
        other = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.other_port = other.sockets[0].getsockname()[1]
        servers.append(other)
        print(f"OTHER {server.other_port}", flush=True)
    print(f"PORT {server.port}", flush=True)
    async with contextlib.AsyncExitStack() as stack:
        for srv in servers:
            await stack.enter_async_context(srv)
        await asyncio.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(f"usage: python -m tests.hostile.server {{{','.join(MODES)}}} [LOG]")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None))
