"""The wire client: records, stream reading, timeouts, size cap, errors and redaction.

Misbehaving servers are tiny asyncio servers on 127.0.0.1 written here (hangs, dribbles,
truncation), or httpx.MockTransport with async streams. Every test is bounded by short
client timeouts; nothing asserts on how long anything took beyond "it finished".
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import socket
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import fields
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ConfigError
from conformance.providers import PROVIDERS, get_provider
from conformance.schemas import schemas_for, violations
from conformance.wire import REDACTED, ErrorKind, Exchange, WireClient
from conformance.wire.client import FLOOR_BODY_BYTES, attach_events
from conformance.wire.decode import PIECE_BYTES
from conformance.wire.redact import Redactor

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
MESSAGES = [{"role": "user", "content": "hi"}]


@contextlib.contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """An HTTP-ish server on 127.0.0.1 that runs ``handler`` per connection, in a thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        holder["port"] = server.sockets[0].getsockname()[1]
        holder["server"] = server
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield f"http://127.0.0.1:{holder['port']}"
    finally:

        async def shutdown() -> None:
            holder["server"].close()
            for task in list(tasks):
                task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


def openai_request(base_url: str, *, stream: bool = False, key: str | None = None) -> httpx.Request:
    provider = get_provider("openai", base_url=base_url + "/v1")
    return provider.encode(MESSAGES, {"stream": True} if stream else {}, api_key=key)


def mock(handler: Callable[[httpx.Request], Any]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


async def agen(*parts: bytes, delay: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if delay:
            await asyncio.sleep(delay)
        yield part


# -- normal exchanges -------------------------------------------------------------------------


def test_json_exchange_is_recorded_with_times() -> None:
    body = json.dumps({"id": "x", "choices": []}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": "application/json", "X-Req": "1"}, content=body
        )

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="basic")
    assert ex.ok and ex.error is None
    assert ex.probe == "basic" and ex.status == 200
    assert ex.body == body and b"".join(c for _, c in ex.chunks) == body
    assert ex.header("x-req") == "1" and ex.content_type == "application/json"
    assert ex.events is None and ex.observations is None
    assert ex.t_headers_ns is not None and ex.t_end_ns is not None
    assert ex.t_send_ns <= ex.t_headers_ns <= ex.t_end_ns
    assert all(ex.t_headers_ns <= t <= ex.t_end_ns for t, _ in ex.chunks)
    assert ex.request.method == "POST"
    assert ex.request.url == "http://t/v1/chat/completions"
    assert json.loads(ex.request.body)["messages"] == MESSAGES


def test_stream_events_carry_the_arrival_time_of_their_first_byte() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        parts = (b'data: {"a":1}\n', b'\ndata: {"a"', b":2}\n\n: ka\n\n", b"data: [DONE]\n\n")
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=agen(*parts, delay=0.01)
        )

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="s", stream=True)
    assert ex.error is None and ex.events is not None and ex.observations is not None
    assert [e.data for e in ex.events] == ['{"a":1}', '{"a":2}', "[DONE]"]
    times = [t for t, _ in ex.chunks]
    assert len(times) == 4
    assert [e.t_ns for e in ex.events] == [times[0], times[1], times[3]]
    assert ex.observations.comments == 1
    assert "sse_unterminated" not in ex.meta


def test_event_stream_is_parsed_even_when_no_stream_was_asked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream; charset=utf-8"},
            content=b"data: x\n\n",
        )

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="s", stream=False)
    assert ex.events is not None and [e.data for e in ex.events] == ["x"]


def test_json_answer_to_a_stream_request_is_kept_raw_without_events() -> None:
    body = b'{"id": "x", "object": "chat.completion"}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="s", stream=True)
    assert ex.error is None and ex.body == body
    assert ex.events is None
    assert "application/json" in ex.meta["sse_skipped"]


def test_sse_body_with_a_wrong_content_type_is_still_parsed_when_a_stream_was_asked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/plain"}, content=b"\xef\xbb\xbfdata: x\n\n"
        )

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="s", stream=True)
    assert ex.events is not None and [e.data for e in ex.events] == ["x"]
    assert ex.observations is not None and ex.observations.bom


def test_unterminated_last_event_is_described_in_meta() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=b"data: a\n\ndata: [DONE]"
        )

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="s", stream=True)
    assert ex.events is not None and [e.data for e in ex.events] == ["a"]
    assert ex.observations is not None and ex.observations.unterminated_last_event
    assert ex.meta["sse_unterminated"]["data"] == "[DONE]"


def test_error_status_is_an_exchange_not_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "no key"}})

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="auth")
    assert ex.error is None and ex.status == 401 and not ex.ok


def test_meta_is_copied_into_the_exchange() -> None:
    with WireClient(timeout=5, transport=mock(lambda r: httpx.Response(204))) as client:
        ex = client.send(openai_request("http://t"), probe="m", meta={"params": {"n": 2}})
    assert ex.meta == {"params": {"n": 2}}


def test_async_send_works_and_sync_send_works_inside_a_running_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}")

    async def main() -> tuple[Exchange, Exchange]:
        async with WireClient(timeout=5, transport=mock(handler)) as client:
            a = await client.asend(openai_request("http://t"), probe="a")
            b = client.send(openai_request("http://t"), probe="b")  # from inside this loop
            return a, b

    a, b = asyncio.run(main())
    assert a.ok and b.ok and a.body == b.body == b"{}"


def test_async_sends_run_concurrently() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=agen(b"{", b"}", delay=0.05))

    async def main() -> list[Exchange]:
        async with WireClient(timeout=5, transport=mock(handler)) as client:
            return await asyncio.gather(
                *(client.asend(openai_request("http://t"), probe=f"p{i}") for i in range(5))
            )

    exchanges = asyncio.run(main())
    assert [ex.probe for ex in exchanges] == [f"p{i}" for i in range(5)]
    assert all(ex.ok and ex.body == b"{}" for ex in exchanges)


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"connect_timeout": 0},
        {"read_timeout": -2},
        {"max_body_bytes": 0},
    ],
)
def test_bad_limits_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        WireClient(**kwargs)


def test_a_sync_only_transport_is_refused_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match="AsyncBaseTransport"):
        WireClient(transport=httpx.HTTPTransport())  # type: ignore[arg-type]


def test_send_after_close_is_an_error() -> None:
    client = WireClient(timeout=5, transport=mock(lambda r: httpx.Response(200)))
    client.send(openai_request("http://t"), probe="x")
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.send(openai_request("http://t"), probe="x")


# -- network trouble ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_a_connect_error_that_says_what_to_fix() -> None:
    with WireClient(timeout=5) as client:
        ex = client.send(openai_request(f"http://127.0.0.1:{free_port()}"), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.CONNECT
    assert "--base-url" in ex.error.message and "running" in ex.error.message
    assert ex.status is None and ex.t_end_ns is not None


def test_unsupported_scheme_is_a_connect_error() -> None:
    with WireClient(timeout=5) as client:
        ex = client.send(httpx.Request("GET", "ftp://127.0.0.1/x"), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.CONNECT
    assert "http://" in ex.error.message


def test_server_that_never_answers_hits_the_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    with raw_server(handler) as url, WireClient(timeout=10, read_timeout=0.3) as client:
        ex = client.send(openai_request(url), probe="hang")
    assert ex.error is not None and ex.error.kind is ErrorKind.READ_TIMEOUT
    assert "headers" in ex.error.message
    assert ex.status is None


def test_server_that_never_answers_hits_the_total_timeout_first_when_it_is_shorter() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    with raw_server(handler) as url, WireClient(timeout=0.4, read_timeout=20) as client:
        ex = client.send(openai_request(url), probe="hang")
    assert ex.error is not None and ex.error.kind is ErrorKind.TOTAL_TIMEOUT
    assert ex.error.after_s is not None and ex.error.after_s < 20


def test_stream_that_stops_mid_way_hits_the_read_timeout_and_keeps_what_came() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        payload = b'data: {"a":1}\n\n'
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        await writer.drain()
        await asyncio.sleep(30)

    with raw_server(handler) as url, WireClient(timeout=10, read_timeout=0.3) as client:
        ex = client.send(openai_request(url, stream=True), probe="s", stream=True)
    assert ex.error is not None and ex.error.kind is ErrorKind.READ_TIMEOUT
    assert ex.status == 200
    assert ex.events is not None and [e.data for e in ex.events] == ['{"a":1}']


def test_dribbling_server_is_cut_at_the_total_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        while True:  # one byte at a time, forever, always well inside the read timeout
            writer.write(b"1\r\n:\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)

    with raw_server(handler) as url, WireClient(timeout=0.5, read_timeout=5) as client:
        ex = client.send(openai_request(url, stream=True), probe="dribble", stream=True)
    assert ex.error is not None and ex.error.kind is ErrorKind.TOTAL_TIMEOUT
    assert "body bytes" in ex.error.message
    assert len(ex.chunks) > 1 and set(ex.body) == {ord(":")}


def test_truncated_chunked_body_is_truncated() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        payload = b'data: {"a":1}\n\ndata: {"a"'
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        await writer.drain()
        # close without the terminating zero-length chunk

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        ex = client.send(openai_request(url, stream=True), probe="s", stream=True)
    assert ex.error is not None and ex.error.kind is ErrorKind.TRUNCATED
    assert ex.events is not None and [e.data for e in ex.events] == ['{"a":1}']
    assert ex.observations is not None and ex.observations.unterminated_last_event


def test_body_shorter_than_its_content_length_is_truncated() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":'
        )
        await writer.drain()

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        ex = client.send(openai_request(url), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.TRUNCATED
    assert ex.body == b'{"id":'


def test_garbage_instead_of_http_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
        await writer.drain()

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        ex = client.send(openai_request(url), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.PROTOCOL


def test_connection_closed_before_any_response_is_a_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        ex = client.send(openai_request(url), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.PROTOCOL


def test_huge_body_is_cut_at_the_cap() -> None:
    block = b"x" * (1 << 20)

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1024):  # a gigabyte, if anyone read it all
            yield block

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=endless())

    cap = 3 * (1 << 20) + 123
    with WireClient(timeout=10, max_body_bytes=cap, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="big")
    assert ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE
    assert len(ex.body) == cap
    assert str(cap) in ex.error.message


def test_huge_stream_is_cut_at_the_cap_and_still_parsed() -> None:
    event = b"data: " + b"y" * 1000 + b"\n\n"

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield event * 100

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=endless())

    with WireClient(timeout=10, max_body_bytes=1 << 20, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="big", stream=True)
    assert ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE
    assert len(ex.body) == 1 << 20
    assert ex.events is not None and len(ex.events) == (1 << 20) // len(event)


def test_transport_that_raises_something_unexpected_is_recorded_not_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise ValueError("boom")

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.OTHER
    assert "boom" in ex.error.message


# -- redaction ------------------------------------------------------------------------------

KEY = "sk-DISTINCTIVE-7f3a9c-KEY"


def every_field_repr(ex: Exchange) -> str:
    return "\n".join(repr(getattr(ex, f.name)) for f in fields(ex)) + repr(ex)


def test_the_key_appears_nowhere_in_the_exchange() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # a careless server echoes the key in a header, and across chunk boundaries
        echo = f'data: {{"error": "bad key {KEY}"}}\n\n'.encode()
        cut = echo.index(KEY.encode()) + 5
        return httpx.Response(
            401,
            headers={"content-type": "text/event-stream", "x-echo": KEY},
            content=agen(echo[:cut], echo[cut:], b"data: " + KEY.encode() + b"\n\n"),
        )

    provider = get_provider("openai", base_url="http://t/v1")
    request = provider.encode(
        [{"role": "user", "content": f"my key is {KEY}"}], {"stream": True}, api_key=KEY
    )
    request.url = request.url.copy_merge_params({"api_key": KEY, "other": "v"})
    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(request, probe="redact", stream=True, api_key=KEY)
    text = every_field_repr(ex)
    assert KEY not in text
    assert KEY[3:-3] not in text  # no piece of it left at a chunk boundary either
    assert ex.request.header("authorization") == f"Bearer {REDACTED}"
    assert REDACTED in ex.request.url and "other=v" in ex.request.url
    assert REDACTED.encode() in ex.request.body
    assert ex.header("x-echo") == REDACTED
    assert ex.events is not None and ex.events[1].data == REDACTED
    assert ex.body.count(REDACTED.encode()) == 2
    # the chunks still add up to the body, and keep their times
    assert b"".join(c for _, c in ex.chunks) == ex.body


def test_the_key_in_a_wetrocloud_form_and_in_error_messages_is_redacted() -> None:
    provider = get_provider("wetrocloud", base_url=f"http://127.0.0.1:{free_port()}")
    request = provider.encode([{"role": "user", "content": KEY}], api_key=KEY)
    request.url = request.url.copy_merge_params({"token": KEY})
    with WireClient(timeout=5) as client:  # nothing listens: the error message names the URL
        ex = client.send(request, probe="redact", api_key=KEY)
    assert ex.error is not None
    assert KEY not in every_field_repr(ex)
    assert ex.request.header("authorization") == f"Token {REDACTED}"


def test_client_secrets_are_redacted_and_credential_headers_always_are() -> None:
    other = "another-secret-value-123"
    request = httpx.Request(
        "POST",
        "http://t/x",
        headers={"X-Api-Key": "undeclared-but-a-credential", "X-Custom": other},
        content=other.encode(),
    )
    with WireClient(
        timeout=5,
        secrets=(other,),
        transport=mock(lambda r: httpx.Response(200, content=other.encode())),
    ) as client:
        ex = client.send(request, probe="x")
    text = every_field_repr(ex)
    assert other not in text and "undeclared-but-a-credential" not in text
    assert ex.request.header("x-api-key") == REDACTED


def test_a_percent_encoded_key_in_the_url_is_redacted() -> None:
    key = "k3y/with+special=chars"
    request = httpx.Request("GET", "http://t/x", params={"q": key})
    with WireClient(timeout=5, transport=mock(lambda r: httpx.Response(200))) as client:
        ex = client.send(request, probe="x", api_key=key)
    assert "k3y" not in ex.request.url


# -- end to end against the reference backend on 127.0.0.1 ------------------------------------

BACKEND_KEY = "backend-test-key-0123456789"


@pytest.fixture(scope="module")
def backend_root() -> Iterator[str]:
    from conformance.backend import BackendConfig, serve_in_thread

    config = BackendConfig(api_keys=(BACKEND_KEY,), min_natural_tokens=5, max_natural_tokens=12)
    with serve_in_thread(config) as root:
        yield root


def profile(name: str, root: str, fault: str | None = None) -> Any:
    cls = PROVIDERS[name]
    base = root + (f"/fault/{fault}" if fault else "")
    model = "llama3.1-8B" if name == "weai" else None
    return cls(base_url=cls.embedded_base_url(base), model=model)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_backend_round_trip_non_streamed(backend_root: str, name: str) -> None:
    provider = profile(name, backend_root)
    request = provider.encode(MESSAGES, {"max_tokens": 6}, api_key=BACKEND_KEY)
    with WireClient(timeout=10) as client:
        ex = client.send(request, probe="basic", api_key=BACKEND_KEY)
    assert ex.ok, (ex.status, ex.error, ex.body_excerpt())
    assert violations(schemas_for(provider).response, ex.json()) == []
    gen = provider.decode(ex.body)
    assert gen.text and gen.usage is not None and gen.usage.total_tokens
    assert BACKEND_KEY not in repr(ex)


@pytest.mark.parametrize("name", ["openai", "nebulablock", "weai"])
def test_backend_round_trip_streamed(backend_root: str, name: str) -> None:
    provider = profile(name, backend_root)
    params = {"stream": True, "stream_options": {"include_usage": True}, "max_tokens": 6}
    with WireClient(timeout=10) as client:
        ex = client.send(
            provider.encode(MESSAGES, params, api_key=BACKEND_KEY),
            probe="stream",
            stream=True,
            api_key=BACKEND_KEY,
        )
    assert ex.ok and ex.events is not None, (ex.status, ex.error)
    assert ex.events[-1].data == "[DONE]"
    chunk_model = schemas_for(provider).chunk
    assert chunk_model is not None
    for event in ex.events[:-1]:
        assert violations(chunk_model, event.json()) == []
    gen = provider.decode_stream(ex.events)
    assert gen.text and gen.choices[0].finish_reason in ("stop", "length")
    assert gen.usage is not None and gen.usage.completion_tokens is not None
    assert ex.t_headers_ns is not None
    assert all(ex.t_headers_ns <= e.t_ns <= (ex.t_end_ns or 0) for e in ex.events)


@pytest.mark.parametrize(
    "variant", ["ok_crlf", "ok_cr", "ok_no_space", "ok_comments", "ok_split_writes", "ok_sse_id"]
)
def test_valid_framing_variants_decode_to_the_same_text(backend_root: str, variant: str) -> None:
    params = {"stream": True, "max_tokens": 8, "seed": 1}

    def run(fault: str | None) -> tuple[Exchange, str]:
        provider = profile("openai", backend_root, fault)
        with WireClient(timeout=10) as client:
            ex = client.send(
                provider.encode(MESSAGES, params, api_key=BACKEND_KEY), probe="v", stream=True
            )
        assert ex.ok and ex.events is not None, (variant, ex.status, ex.error)
        return ex, provider.decode_stream(ex.events).text

    _, plain = run(None)
    ex, text = run(variant)
    assert text == plain
    assert ex.observations is not None and not ex.observations.unterminated_last_event


def test_backend_hang_before_headers_times_out(backend_root: str) -> None:
    provider = profile("openai", backend_root, "hang_before_headers")
    with WireClient(timeout=0.5) as client:
        ex = client.send(provider.encode(MESSAGES, api_key=BACKEND_KEY), probe="hang")
    assert ex.error is not None
    assert ex.error.kind in (ErrorKind.READ_TIMEOUT, ErrorKind.TOTAL_TIMEOUT)
    assert ex.status is None


def test_backend_hang_mid_stream_times_out_with_the_events_so_far(backend_root: str) -> None:
    provider = profile("openai", backend_root, "hang_mid_stream")
    params = {"stream": True, "max_tokens": 10}
    with WireClient(timeout=0.7) as client:
        ex = client.send(
            provider.encode(MESSAGES, params, api_key=BACKEND_KEY), probe="hang", stream=True
        )
    assert ex.error is not None
    assert ex.error.kind in (ErrorKind.READ_TIMEOUT, ErrorKind.TOTAL_TIMEOUT)
    assert ex.status == 200 and ex.events


def test_backend_huge_body_is_cut_at_the_cap(backend_root: str) -> None:
    provider = profile("openai", backend_root, "huge_body")
    with WireClient(timeout=10, max_body_bytes=1 << 20) as client:
        ex = client.send(provider.encode(MESSAGES, api_key=BACKEND_KEY), probe="huge")
    assert ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE
    assert len(ex.body) == 1 << 20


def test_backend_truncated_stream_is_visible(backend_root: str) -> None:
    provider = profile("openai", backend_root, "truncated_stream")
    with WireClient(timeout=10) as client:
        ex = client.send(
            provider.encode(MESSAGES, {"stream": True}, api_key=BACKEND_KEY),
            probe="trunc",
            stream=True,
        )
    assert ex.events is not None
    done = [e for e in ex.events if e.data == "[DONE]"]
    assert not done
    assert ex.error is not None or ex.observations is not None


def test_backend_wrong_key_gets_a_decodable_error(backend_root: str) -> None:
    for name in sorted(PROVIDERS):
        provider = profile(name, backend_root)
        with WireClient(timeout=10) as client:
            ex = client.send(
                provider.encode(MESSAGES, api_key="wrong-key-abcdef"),
                probe="auth",
                api_key="wrong-key-abcdef",
            )
        assert ex.status == 401, name
        err = provider.decode_error(ex.status, ex.body)
        assert err.message, name
        assert "wrong-key-abcdef" not in repr(ex)


# -- how transport exceptions are classified ---------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectTimeout("slow connect"), ErrorKind.CONNECT_TIMEOUT),
        (httpx.ReadTimeout("slow read"), ErrorKind.READ_TIMEOUT),
        (httpx.ConnectError("refused"), ErrorKind.CONNECT),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ErrorKind.PROTOCOL,
        ),
        (httpx.ReadError("reset"), ErrorKind.PROTOCOL),
        (httpx.WriteTimeout("slow write"), ErrorKind.OTHER),
        (httpx.PoolTimeout("no connection free"), ErrorKind.OTHER),
    ],
)
def test_errors_before_the_headers_are_classified(exc: Exception, kind: ErrorKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="x")
    assert ex.error is not None and ex.error.kind is kind
    assert ex.error.after_s is not None and ex.error.after_s >= 0


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.RemoteProtocolError("incomplete chunked read"), ErrorKind.TRUNCATED),
        (httpx.ReadError("connection reset"), ErrorKind.TRUNCATED),
        (httpx.ReadTimeout("slow read"), ErrorKind.READ_TIMEOUT),
    ],
)
def test_errors_in_the_body_keep_what_arrived(exc: Exception, kind: ErrorKind) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: a\n\n"
        raise exc

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="x", stream=True)
    assert ex.error is not None and ex.error.kind is kind
    assert ex.status == 200 and ex.body == b"data: a\n\n"
    assert ex.events is not None and [e.data for e in ex.events] == ["a"]


def test_gzip_body_is_recorded_decoded() -> None:
    import gzip

    payload = b'{"ok": true}' * 100

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
            content=gzip.compress(payload),
        )

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="gz")
    assert ex.error is None and ex.body == payload


def test_corrupt_gzip_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip at all")

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="gz")
    assert ex.error is not None and ex.error.kind is ErrorKind.PROTOCOL


# -- attach_events: the same reading rules for replayed exchanges ------------------------------


def recorded(content_type: str | None, chunks: list[tuple[int, bytes]]) -> Exchange:
    from conformance.wire import RecordedRequest

    ex = Exchange(probe="r", request=RecordedRequest("POST", "http://t/x", [], b""), status=200)
    if content_type:
        ex.headers = [("content-type", content_type)]
    ex.chunks = chunks
    ex.body = b"".join(c for _, c in chunks)
    ex.t_end_ns = 99
    return ex


def test_attach_events_parses_recorded_chunks_with_their_times() -> None:
    ex = recorded(
        "text/event-stream", [(10, b"data: a\n"), (20, b"\ndata: b\n\n"), (30, b"data: c")]
    )
    attach_events(ex, stream_requested=True)
    assert ex.events is not None and [(e.data, e.t_ns) for e in ex.events] == [("a", 10), ("b", 20)]
    assert ex.meta["sse_unterminated"] == {"data": "c", "raw": "data: c", "t_ns": 30}


def test_attach_events_leaves_json_alone_and_says_why_when_a_stream_was_asked() -> None:
    ex = recorded("application/json", [(1, b'{"id": 1}')])
    attach_events(ex, stream_requested=True)
    assert ex.events is None and "sse_skipped" in ex.meta
    ex = recorded("application/json", [(1, b'{"id": 1}')])
    attach_events(ex, stream_requested=False)
    assert ex.events is None and "sse_skipped" not in ex.meta


def test_attach_events_on_sse_without_content_type() -> None:
    ex = recorded(None, [(1, b"\r\n: hi\r\ndata: a\r\n\r\n")])
    attach_events(ex, stream_requested=True)
    assert ex.events is not None and [e.data for e in ex.events] == ["a"]
    ex = recorded(None, [(1, b"data: a\n\n")])
    attach_events(ex, stream_requested=False)
    assert ex.events is None


def test_a_request_body_that_fails_is_recorded_not_raised() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"{"
        raise OSError("disk gone")

    request = httpx.Request("POST", "http://t/x", content=broken())
    with WireClient(timeout=5, transport=mock(lambda r: httpx.Response(200))) as client:
        ex = client.send(request, probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.OTHER
    assert "disk gone" in ex.error.message and ex.status is None


# -- the redactor on its own ---------------------------------------------------------------------


_secret_chars = st.characters(codec="utf-8", exclude_characters="<>")


@given(
    secret=st.text(_secret_chars, min_size=6, max_size=20),
    pieces=st.lists(st.binary(max_size=20), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_redacted_chunks_never_hold_the_secret_and_keep_their_times(
    secret: str, pieces: list[bytes], cuts: list[int]
) -> None:
    body = secret.encode().join(pieces)
    bounds = sorted({0, len(body), *(c for c in cuts if c <= len(body))})
    chunks = [(i, body[a:b]) for i, (a, b) in enumerate(itertools.pairwise(bounds))]
    out = Redactor([secret]).chunks(chunks)
    joined = b"".join(c for _, c in out)
    assert secret.encode() not in joined
    assert [t for t, _ in out] == [t for t, _ in chunks]
    if len(pieces) > 1 and secret.encode() not in b"".join(pieces):
        assert joined.count(REDACTED.encode()) >= 1


def test_short_secrets_are_only_redacted_in_credential_headers() -> None:
    redactor = Redactor(["abc"])
    assert not redactor
    assert redactor.data(b"abcdef") == b"abcdef"
    assert redactor.header("Authorization", "Bearer abc") == f"Bearer {REDACTED}"


def test_credential_headers_without_a_credential_are_kept() -> None:
    redactor = Redactor([])
    assert redactor.header("Authorization", "Bearer") == "Bearer"
    assert redactor.header("Authorization", "Bearer ") == "Bearer "
    assert redactor.header("Authorization", "") == ""
    assert redactor.header("Authorization", "rawkey123") == REDACTED
    assert redactor.header("Content-Type", "application/json") == "application/json"


def test_url_userinfo_and_credential_parameters_are_redacted() -> None:
    url = Redactor([]).url("https://user:pa55word@host/v1?key=abc&api_key=def&page=2")
    assert "pa55word" not in url and "abc" not in url and "def" not in url
    # the whole userinfo goes: some put the key in the user name (https://KEY@host)
    assert "page=2" in url and "user" not in url and url.startswith("https://<redacted>@host/")


# -- a dropped keep-alive connection is retried once -------------------------------------------


def test_a_kept_alive_connection_dropped_by_the_server_is_retried_once() -> None:
    """After answering once, the server silently drops the kept-alive connection (as a
    proxy does after an internal crash): the next request fails with no response at all.
    The official SDK retries such a request; the client does too, once, and says so."""
    answered = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await read_request(reader)
        if answered == 0:
            answered += 1
            body = b'{"ok": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
            # keep the connection open, then drop it without answering the next request
            await read_request(reader)
            writer.close()
            return
        answered += 1
        body = b'{"ok": "again"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        first = client.send(openai_request(url), probe="x")
        second = client.send(openai_request(url), probe="x")
    assert first.error is None and first.json() == {"ok": True}
    assert second.error is None and second.json() == {"ok": "again"}
    assert "retried_after" in second.meta


def test_a_server_that_always_drops_the_connection_is_tried_twice_then_reported() -> None:
    attempts = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await read_request(reader)

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        ex = client.send(openai_request(url), probe="x")
    assert ex.error is not None and ex.error.kind is ErrorKind.PROTOCOL
    assert attempts == 2


def _slash_redirect(seen: list[tuple[str, str, bytes]]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        if not request.url.path.endswith("/"):
            return httpx.Response(307, headers={"location": str(request.url) + "/"})
        return httpx.Response(200, json={"ok": True})

    return handler


def test_a_redirect_is_not_followed_by_default() -> None:
    seen: list[tuple[str, str, bytes]] = []
    with WireClient(timeout=5, transport=mock(_slash_redirect(seen))) as client:
        ex = client.send(httpx.Request("POST", "http://t/v1/x", content=b"{}"), probe="r")
    assert ex.error is None and ex.status == 307
    assert ex.header("location") == "http://t/v1/x/"
    assert len(seen) == 1 and "redirects" not in ex.meta and client.requests_sent == 1


def test_a_307_redirect_is_followed_with_method_and_body_when_asked() -> None:
    seen: list[tuple[str, str, bytes]] = []
    with WireClient(
        timeout=5, transport=mock(_slash_redirect(seen)), follow_redirects=True
    ) as client:
        ex = client.send(httpx.Request("POST", "http://t/v1/x", content=b"{}"), probe="r")
    assert ex.error is None and ex.status == 200
    assert [m for m, _, _ in seen] == ["POST", "POST"] and seen[1][2] == b"{}"
    assert ex.meta["redirects"] == [
        {
            "status": 307,
            "from": "http://t/v1/x",
            "to": "http://t/v1/x/",
            "method": "POST",
            "credentials_dropped": False,
        }
    ]
    assert client.requests_sent == 2


# -- hostile answers: decoding, caps, budgets, redirects --------------------------------------


def _zero_gzip(size: int, *, level: int = 9) -> bytes:
    return gzip.compress(b"\0" * size, level)


def _served(body: bytes, headers: dict[str, str], *, piece: int = 4096) -> Any:
    """A handler that streams ``body`` as given (httpx does not decode a streamed
    response in the transport)."""

    async def parts() -> AsyncIterator[bytes]:
        for i in range(0, len(body), piece):
            yield body[i : i + piece]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=parts())

    return handler


def test_a_stacked_gzip_bomb_is_decoded_in_bounded_pieces_up_to_the_cap() -> None:
    bomb = gzip.compress(_zero_gzip(64 << 20), 9)
    assert len(bomb) < 200_000
    handler = _served(bomb, {"content-type": "application/json", "content-encoding": "gzip, gzip"})
    cap = 3 << 20
    with WireClient(timeout=10, max_body_bytes=cap, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="bomb")
    assert ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE
    assert "after decoding gzip, gzip" in ex.error.message
    assert len(ex.body) == cap and set(ex.body) == {0}
    assert max(len(c) for _, c in ex.chunks) <= PIECE_BYTES
    assert 0 < ex.meta["discarded_bytes"] <= PIECE_BYTES


def test_the_total_timeout_interrupts_decoding() -> None:
    bomb = _zero_gzip(1 << 30, level=1)  # about 1 MB on the wire, 1 GiB decoded
    handler = _served(bomb, {"content-encoding": "gzip"}, piece=1 << 20)
    with WireClient(
        timeout=0.05,
        max_body_bytes=2 << 30,
        max_run_bytes=2 << 30,
        transport=mock(handler),
    ) as client:
        ex = client.send(openai_request("http://t"), probe="slow-bomb")
    assert ex.error is not None and ex.error.kind is ErrorKind.TOTAL_TIMEOUT
    assert len(ex.body) < 1 << 30


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("gzip, deflate", lambda b: zlib.compress(gzip.compress(b))),
        ("identity, gzip", gzip.compress),
        ("gzip", lambda b: gzip.compress(b[:100]) + gzip.compress(b[100:])),  # two members
    ],
)
def test_content_codings_are_undone_like_httpx_does(
    coding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = json.dumps({"id": "x", "text": "hello " * 5000}).encode()
    handler = _served(
        encode(body), {"content-type": "application/json", "content-encoding": coding}
    )
    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="coded")
    assert ex.error is None, ex.error
    assert ex.body == body


def test_the_client_accepts_only_the_codings_it_can_bound() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding"))
        return httpx.Response(200, json={})

    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="p")
    assert seen == ["gzip, deflate"] == [ex.request.header("accept-encoding")]


@pytest.mark.parametrize(
    ("coding", "body", "words"),
    [
        ("br", b"\x8b\x02\x80hello\x03", "'br', which the request did not accept"),
        ("zstd", b"(\xb5/\xfd", "'zstd'"),
        ("gzip", b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip data is corrupt"),
        ("deflate", b"\xff\xff\xff\xff", "deflate data is corrupt"),
        ("gzip, gzip, gzip, gzip, gzip", gzip.compress(b"{}", mtime=0), "stacks 5 content codings"),
    ],
)
def test_an_undecodable_body_is_a_decoding_error_with_the_bytes_kept(
    coding: str, body: bytes, words: str
) -> None:
    handler = _served(body, {"content-type": "application/json", "content-encoding": coding})
    with WireClient(timeout=5, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="coded")
    assert ex.error is not None and ex.error.kind is ErrorKind.DECODING
    assert words in ex.error.message
    if "corrupt" not in words:
        assert ex.body == body  # as received, for the evidence


def test_events_past_the_cap_are_counted_not_kept() -> None:
    stream = b"".join(b'data: {"n": %d}\n\n' % i for i in range(25))
    handler = _served(stream, {"content-type": "text/event-stream"}, piece=7)
    with WireClient(timeout=5, max_events=10, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t", stream=True), probe="s", stream=True)
    assert ex.events is not None and len(ex.events) == 10
    assert ex.events[-1].data == '{"n": 9}'
    assert ex.meta["discarded_events"] == 15
    assert ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE
    assert "25 events" in ex.error.message
    # past the chunk cap, the chunks are merged into one: the bytes are all there
    assert len(ex.chunks) == 11 and ex.meta["chunks_merged"] > 0
    assert ex.body == stream


def test_the_run_budget_shrinks_the_cap_of_later_exchanges() -> None:
    body = b"x" * (1 << 20)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=agen(body))

    with WireClient(
        timeout=5, max_body_bytes=1 << 20, max_run_bytes=(3 << 20) // 2, transport=mock(handler)
    ) as client:
        first = client.send(openai_request("http://t"), probe="a")
        second = client.send(openai_request("http://t"), probe="b")
        third = client.send(openai_request("http://t"), probe="c")
    assert first.error is None and len(first.body) == 1 << 20
    assert second.error is not None and second.error.kind is ErrorKind.TOO_LARGE
    assert len(second.body) == (1 << 20) // 2 and "budget" in second.error.message
    assert third.error is not None and len(third.body) == FLOOR_BODY_BYTES


def test_max_requests_is_a_hard_cap_on_what_is_sent() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={})

    with WireClient(timeout=5, max_requests=2, transport=mock(handler)) as client:
        exs = [client.send(openai_request("http://t"), probe=f"p{i}") for i in range(3)]
    assert len(sent) == 2 == client.requests_sent
    assert exs[2].error is not None and exs[2].error.kind is ErrorKind.NOT_SENT
    assert "--max-requests" in exs[2].error.message


def _redirects(to: Callable[[httpx.URL], str], seen: list[httpx.Request]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"location": to(request.url)})

    return handler


def test_a_followed_redirect_loop_stops_with_the_chain_on_record() -> None:
    seen: list[httpx.Request] = []
    flip = {"/v1/chat/completions": "/v1/b", "/v1/b": "/v1/chat/completions"}
    handler = _redirects(lambda url: flip[url.path], seen)
    with WireClient(timeout=5, follow_redirects=True, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="loop")
    assert len(seen) == 2 == client.requests_sent
    assert ex.status == 307 and "loop" in ex.meta["redirect_stopped"]
    hops = ex.meta["redirects"]
    assert [h["to"] for h in hops] == ["http://t/v1/b", "http://t/v1/chat/completions"]
    assert hops[-1]["followed"] is False


def test_endless_redirects_stop_at_max_redirects_and_at_the_request_budget() -> None:
    seen: list[httpx.Request] = []
    handler = _redirects(lambda url: url.path + "x", seen)
    with WireClient(
        timeout=5, follow_redirects=True, max_redirects=3, transport=mock(handler)
    ) as client:
        ex = client.send(openai_request("http://t"), probe="far")
    assert len(seen) == 4 and "more than 3 redirects" in ex.meta["redirect_stopped"]
    seen.clear()
    with WireClient(
        timeout=5, follow_redirects=True, max_requests=5, transport=mock(handler)
    ) as client:
        ex = client.send(openai_request("http://t"), probe="far")
    assert len(seen) == 5 == client.requests_sent
    assert "budget" in ex.meta["redirect_stopped"]


def test_a_redirect_to_another_origin_drops_the_credentials_and_says_so() -> None:
    key = "sk-cross-origin-secret-1234"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "t":
            return httpx.Response(307, headers={"location": "http://other:8080/v1/x"})
        return httpx.Response(200, json={})

    request = openai_request("http://t", key=key)
    request.headers["X-Custom-Key"] = key
    with WireClient(timeout=5, follow_redirects=True, transport=mock(handler)) as client:
        ex = client.send(request, probe="cross", api_key=key)
    assert ex.status == 200
    assert seen[0].headers.get("authorization") == f"Bearer {key}"
    assert "authorization" not in seen[1].headers and "x-custom-key" not in seen[1].headers
    assert seen[1].method == "POST" and seen[1].content == seen[0].content
    assert ex.meta["redirects"][0]["credentials_dropped"] is True
    assert key not in json.dumps(ex.meta)


def test_a_303_is_followed_with_a_get_without_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(303, headers={"location": "/v1/result"})
        return httpx.Response(200, json={})

    with WireClient(timeout=5, follow_redirects=True, transport=mock(handler)) as client:
        ex = client.send(openai_request("http://t"), probe="see-other")
    assert [r.method for r in seen] == ["POST", "GET"] and seen[1].content == b""
    assert "content-type" not in seen[1].headers
    assert ex.meta["redirects"][0]["method"] == "GET"


def test_too_many_response_headers_are_named_as_such() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: 1\r\n" * 20_000 + b"\r\n")
        await writer.drain()

    with raw_server(handler) as url, WireClient(timeout=5) as client:
        ex = client.send(openai_request(url), probe="headers")
    assert ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE
    assert "100 KiB" in ex.error.message and "closed" not in ex.error.message
