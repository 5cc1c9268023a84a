"""A careless OpenAI-style server that echoes the caller's key back, in one spelling per mode.

The mode is the first path segment of the base URL (``http://127.0.0.1:PORT/<mode>/v1``),
so one server serves every case of the secret-leak table. Requests with any key other
than the expected one are refused with a 401 that does not echo it (the leak test is
about the real key). Raw asyncio on 127.0.0.1, in a thread of its own; each response
closes its connection.

Modes (``SPELLINGS`` lists them):

- ``raw``, ``json-slash`` (``\\/``), ``json-dash`` (``\\u002d``), ``json-all`` (every
  character as ``\\uXXXX``, upper-case hex), ``percent``, ``html-entities``: the answer's
  text (and each stream's middle delta) is ``echo <the key spelled so>``;
- ``sse-split``: a stream carries the key split across two content deltas (a plain
  answer carries it whole);
- ``tcp-split``: the response is written in two TCP writes cut inside the key;
- ``header``: the key comes back in response headers, the body is harmless;
- ``error``: every completion is refused with a 401 whose message quotes the key;
- ``html-page``: a 502 HTML error page (as a proxy writes one) quoting the key as
  HTML character references;
- ``mixed``: each request gets the next of the modes above (for the load run).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

SPELLINGS = (
    "raw",
    "json-slash",
    "json-dash",
    "json-all",
    "percent",
    "html-entities",
    "sse-split",
    "tcp-split",
    "header",
    "error",
    "html-page",
)
_MARK = "@@KEY@@"


def spell(mode: str, key: str) -> str:
    """``key`` as it appears inside a JSON string of the answer in ``mode``."""
    if mode == "json-slash":
        return key.replace("/", "\\/")
    if mode == "json-dash":
        return key.replace("-", "\\u002d")
    if mode == "json-all":
        return "".join(f"\\u{ord(c):04X}" for c in key)
    if mode == "percent":
        return quote(key, safe="")
    if mode in ("html-entities", "html-page"):
        return "".join(f"&#x{ord(c):x};" if not c.isalnum() else f"&#{ord(c)};" for c in key)
    return key


@dataclass
class _Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    split_at: int | None = None  # write the body in two TCP writes, cut here


def _json_with(template: object, spelled: str) -> bytes:
    """``template`` as JSON, with the marker replaced by a JSON-string-safe spelling."""
    return json.dumps(template).replace(_MARK, spelled).encode()


def _completion(model: str, text: str) -> object:
    return {
        "id": "chatcmpl-echo",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def _chunk(model: str, delta: dict[str, str], finish: str | None = None) -> object:
    return {
        "id": "chatcmpl-echo",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _stream(model: str, pieces: list[str]) -> bytes:
    """An SSE body; each piece is already JSON-string-safe text."""
    events = [_json_with(_chunk(model, {"role": "assistant", "content": ""}), "")]
    events += [_json_with(_chunk(model, {"content": _MARK}), piece) for piece in pieces]
    events.append(_json_with(_chunk(model, {}, "stop"), ""))
    usage = {
        "id": "chatcmpl-echo",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    events.append(json.dumps(usage).encode())
    return b"".join(b"data: " + e + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def answer(mode: str, key: str, method: str, path: str, body: bytes) -> _Answer:
    """What the server sends for one request (the key is the right one)."""
    if method == "GET" and path.endswith("/models"):
        data = {"object": "list", "data": [{"id": "echo-model", "object": "model"}]}
        return _Answer(200, "application/json", json.dumps(data).encode())
    if method != "POST" or not path.endswith("/chat/completions"):
        error = {"error": {"message": "no such route", "type": "invalid_request_error"}}
        return _Answer(404, "application/json", json.dumps(error).encode())
    try:
        request = json.loads(body)
        model = str(request.get("model") or "echo-model")
        stream = bool(request.get("stream"))
    except (ValueError, AttributeError):
        error = {"error": {"message": "invalid JSON", "type": "invalid_request_error"}}
        return _Answer(400, "application/json", json.dumps(error).encode())
    if mode == "error":
        error = {
            "error": {
                "message": f"Incorrect API key provided: {_MARK}. Find your key elsewhere.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
        return _Answer(401, "application/json", _json_with(error, key))
    if mode == "html-page":
        page = f"<html><body><h1>502 Bad Gateway</h1><p>upstream refused {spell(mode, key)}</p>"
        return _Answer(502, "text/html", (page + "</body></html>").encode())
    headers: tuple[tuple[str, str], ...] = ()
    spelled = spell(mode, key)
    if mode == "header":
        headers = (("x-echo-key", key), ("x-request-note", f"sent with key={quote(key)}"))
        spelled = "hello"
    if stream:
        cut = len(key) // 2
        pieces = (
            ["echo ", key[:cut], key[cut:], " done"]
            if mode == "sse-split"
            else ["echo ", spelled, " done"]
        )
        data = _stream(model, pieces)
        content_type = "text/event-stream"
    else:
        data = _json_with(_completion(model, f"echo {_MARK} done"), spelled)
        content_type = "application/json"
    split_at = None
    if mode == "tcp-split":
        split_at = data.index(key.encode()) + len(key) // 2
    return _Answer(200, content_type, data, headers, split_at)


class KeyEcho:
    """The server; ``url(mode)`` is the base URL of one mode."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.port = 0
        self.requests = 0
        self._mixed = itertools.cycle(SPELLINGS)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            self.requests += 1
            mode, _, rest = target.lstrip("/").partition("/")
            if mode == "mixed":
                mode = next(self._mixed)
            _, _, key = headers.get("authorization", "").partition(" ")
            if key != self.key:
                refusal = {"error": {"message": "wrong key", "type": "invalid_request_error"}}
                reply = _Answer(401, "application/json", json.dumps(refusal).encode())
            else:
                reply = answer(mode, key, method, "/" + rest.partition("?")[0], body)
            await self._send(writer, reply)
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, reply: _Answer) -> None:
        head = [
            f"HTTP/1.1 {reply.status} X",
            f"content-type: {reply.content_type}",
            f"content-length: {len(reply.body)}",
            "connection: close",
            *(f"{k}: {v}" for k, v in reply.headers),
        ]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + reply.body
        if reply.split_at is None:
            writer.write(data)
        else:
            cut = len(data) - len(reply.body) + reply.split_at
            writer.write(data[:cut])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(data[cut:])
        await writer.drain()

    def __enter__(self) -> KeyEcho:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def key_echo(key: str) -> Iterator[KeyEcho]:
    """Run the server while the block runs."""
    with KeyEcho(key) as server:
        yield server
