"""The wire client: send one request, record everything that happens, never raise.

:class:`WireClient` sends an ``httpx.Request`` and returns an
:class:`~conformance.wire.exchange.Exchange`: the request as sent (keys redacted), the
status and headers, every body chunk with its arrival time, the SSE events with the
arrival time of their first byte, and the send, header and end times. Network trouble
never raises: it lands in ``Exchange.error`` with an :class:`ErrorKind` and a message
that says what to fix.

Reading rules:

- The body is always read chunk by chunk and every chunk is kept with its
  ``time.perf_counter_ns()`` arrival time (``Exchange.chunks``); ``Exchange.body`` is
  their concatenation, after any ``Content-Encoding`` was undone by httpx.
- SSE events are parsed when the response Content-Type is ``text/event-stream``, or
  when the caller asked for a stream and the body looks like an event stream (it starts,
  after an optional BOM and blank lines, with ``data``, ``event``, ``id``, ``retry`` or
  a ``:`` comment). A JSON answer to a streaming request is therefore recorded raw with
  ``events=None`` and ``meta["sse_skipped"]`` saying why, so checks can report "asked
  for a stream, got JSON" instead of a pile of bogus events.
- An event left open when the body ended is not in ``events`` (the WHATWG rules
  discard it); it is described in ``meta["sse_unterminated"]`` (data, raw, t_ns) and
  flagged in ``observations.unterminated_last_event``.

Secrets (each request's ``api_key`` and the client's ``secrets``) are replaced by
``<redacted>`` everywhere in the record: request URL, headers and body, and also the
response headers, body, chunks, events and error messages, since a careless server may
echo the key back (see :mod:`conformance.wire.redact`).

Limits: a connect timeout, a read timeout (longest silence between bytes) and a total
timeout over the whole exchange, enforced even when bytes keep dribbling in; and a body
size cap, past which the rest is discarded (``ErrorKind.TOO_LARGE``).

The async :meth:`WireClient.asend` does the work. The sync :meth:`WireClient.send` runs
it on a private event loop in a background thread, so it behaves identically (same
timeouts, same records) and may be called from anywhere, even from inside a running
event loop. (Not under gevent monkey-patching: the load generator has its own client
and shares only the SSE parser.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import httpx

from conformance.errors import ConfigError
from conformance.wire.exchange import (
    ErrorKind,
    Exchange,
    ExchangeError,
    RecordedRequest,
    SSEEvent,
)
from conformance.wire.redact import Redactor
from conformance.wire.sse import SSEParser

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "WireClient",
    "attach_events",
    "is_event_stream",
    "is_json_media_type",
    "looks_like_sse",
    "media_type",
]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
#: how long closing a response may take before it is abandoned
_CLOSE_TIMEOUT_S = 2.0
_SSE_START = re.compile(rb"^(?::|(?:data|event|id|retry)(?::|\r|\n|$))")


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header value, lower-cased, without parameters
    (``""`` for none)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_event_stream(content_type: str | None) -> bool:
    """Whether a Content-Type header value names ``text/event-stream``."""
    return media_type(content_type) == "text/event-stream"


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or a `+json` type (parameters such as charset aside): what the
    official SDKs parse as JSON."""
    media = media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def looks_like_sse(body: bytes) -> bool:
    """Whether ``body`` starts like an event stream (after a BOM and blank lines)."""
    head = body[:64]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip(b"\r\n")
    return bool(head) and _SSE_START.match(head) is not None


def attach_events(ex: Exchange, *, stream_requested: bool) -> None:
    """Parse ``ex.chunks`` as an event stream by the client's reading rules.

    Sets ``ex.events`` and ``ex.observations`` when the Content-Type is
    ``text/event-stream``, or when ``stream_requested`` and the body looks like an event
    stream; otherwise leaves them ``None`` (and says why in ``meta["sse_skipped"]`` when
    a stream was asked for). An event the body ended in the middle of is described in
    ``meta["sse_unterminated"]``. Replay uses this too, so recorded and live exchanges
    are judged alike.
    """
    content_type = ex.content_type
    body_head = b"".join(c for _, c in ex.chunks[:4])[:64] if ex.chunks else ex.body[:64]
    if not is_event_stream(content_type) and not (stream_requested and looks_like_sse(body_head)):
        ex.events = None
        ex.observations = None
        if stream_requested:
            ex.meta["sse_skipped"] = (
                f"a stream was asked for but the Content-Type is {content_type or 'missing'!r} "
                "and the body does not look like an event stream; events were not parsed"
            )
        return
    parser = SSEParser()
    events: list[SSEEvent] = []
    chunks = ex.chunks or ([(ex.t_headers_ns or ex.t_send_ns, ex.body)] if ex.body else [])
    for t, chunk in chunks:
        events.extend(parser.feed(chunk, t))
    parser.close(ex.t_end_ns or (chunks[-1][0] if chunks else 0))
    ex.events = events
    ex.observations = parser.observations
    if parser.unterminated is not None:
        ev = parser.unterminated
        ex.meta["sse_unterminated"] = {"data": ev.data, "raw": ev.raw, "t_ns": ev.t_ns}


def _phase(ex: Exchange, n_bytes: int) -> str:
    if ex.t_headers_ns is None:
        return "waiting for the response headers"
    return f"after {n_bytes} body bytes"


def _host(request: httpx.Request) -> str:
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


class _LoopThread:
    """A private event loop running in a daemon thread, for the sync API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="conformance-wire", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class WireClient:
    """Sends requests and records exchanges; see the module docstring for the rules.

    ``timeout`` is the total time one exchange may take, from sending to the last body
    byte. ``connect_timeout`` (default ``min(timeout, 10)``) bounds opening the
    connection and ``read_timeout`` (default ``timeout``) the longest silence while
    waiting for bytes. ``max_body_bytes`` caps the recorded body. ``transport`` replaces
    the network: an ``httpx.AsyncBaseTransport`` such as ``httpx.MockTransport``,
    ``httpx.ASGITransport`` or a configured ``httpx.AsyncHTTPTransport``. ``secrets``
    are strings redacted from every exchange in addition to each request's ``api_key``.
    """

    def __init__(
        self,
        timeout: float = 30.0,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
        trust_env: bool = True,
        follow_redirects: bool = True,
        secrets: tuple[str, ...] = (),
    ) -> None:
        if not timeout or timeout <= 0:
            raise ConfigError(f"--timeout must be a positive number of seconds, not {timeout!r}")
        for label, value in (("connect timeout", connect_timeout), ("read timeout", read_timeout)):
            if value is not None and value <= 0:
                raise ConfigError(f"{label} must be a positive number of seconds, not {value!r}")
        if max_body_bytes <= 0:
            raise ConfigError(f"max_body_bytes must be positive, not {max_body_bytes!r}")
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                "transport must be an httpx.AsyncBaseTransport "
                "(httpx.MockTransport, httpx.ASGITransport or httpx.AsyncHTTPTransport)"
            )
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout or min(self.timeout, 10.0))
        self.read_timeout = float(read_timeout or self.timeout)
        self.max_body_bytes = int(max_body_bytes)
        self._transport = transport
        self._verify = verify
        self._trust_env = trust_env
        self._follow_redirects = follow_redirects
        self._secrets = tuple(secrets)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._clients = weakref.WeakKeyDictionary()
        self._loop_thread: _LoopThread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<WireClient timeout={self.timeout:g}s connect={self.connect_timeout:g}s "
            f"read={self.read_timeout:g}s max_body={self.max_body_bytes}>"
        )

    # -- clients ---------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(
                    self.timeout,
                    connect=self.connect_timeout,
                    read=self.read_timeout,
                    pool=self.timeout,
                ),
                verify=self._verify,
                trust_env=self._trust_env,
                follow_redirects=self._follow_redirects,
            )
            self._clients[loop] = client
        return client

    # -- sending ---------------------------------------------------------------------

    def send(
        self,
        request: httpx.Request,
        *,
        probe: str,
        stream: bool = False,
        api_key: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Exchange:
        """Send ``request`` and return what happened (the sync twin of :meth:`asend`)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("WireClient is closed")
            if self._loop_thread is None:
                self._loop_thread = _LoopThread()
            loop_thread = self._loop_thread
        if threading.current_thread() is loop_thread.thread:
            raise RuntimeError("WireClient.send() called from its own loop; use asend()")
        future = loop_thread.submit(
            self.asend(request, probe=probe, stream=stream, api_key=api_key, meta=meta)
        )
        try:
            # asend enforces the total timeout itself; this is a last resort.
            result: Exchange = future.result(timeout=self.timeout + 4 * _CLOSE_TIMEOUT_S + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            redactor = Redactor((api_key, *self._secrets))
            return Exchange(
                probe=probe,
                request=RecordedRequest(request.method, redactor.url(str(request.url)), [], b""),
                error=ExchangeError(
                    ErrorKind.TOTAL_TIMEOUT,
                    f"the exchange did not finish within the total timeout of {self.timeout:g} s",
                ),
                meta=dict(meta or {}),
            )
        return result

    async def asend(
        self,
        request: httpx.Request,
        *,
        probe: str,
        stream: bool = False,
        api_key: str | None = None,
        meta: Mapping[str, Any] | None = None,
        _retried: bool = False,
    ) -> Exchange:
        """Send ``request`` and return the :class:`Exchange`; never raises for network
        trouble.

        ``probe`` names what the request tests; ``stream`` says the caller asked for a
        stream; ``api_key`` (and the client's ``secrets``) are redacted from the record;
        ``meta`` is copied into ``Exchange.meta`` as given.
        """
        redactor = Redactor((api_key, *self._secrets))
        try:
            body = await _request_body(request)
        except Exception as exc:  # a streaming request body that fails to produce itself
            body = b""
            body_error: Exception | None = exc
        else:
            body_error = None
        ex = Exchange(
            probe=probe,
            request=RecordedRequest(
                method=request.method,
                url=redactor.url(str(request.url)),
                headers=[
                    (k.decode("latin-1"), redactor.header(k.decode("latin-1"), v.decode("latin-1")))
                    for k, v in request.headers.raw
                ],
                body=redactor.data(body),
            ),
            meta=dict(meta or {}),
        )
        if body_error is not None:
            ex.error = ExchangeError(
                ErrorKind.OTHER,
                redactor.text(f"the request body could not be read: {body_error!r}"),
            )
            return ex
        client = self._client()
        n_bytes = 0
        error: ExchangeError | None = None
        response: httpx.Response | None = None

        def fail(kind: ErrorKind, message: str) -> ExchangeError:
            after = (time.perf_counter_ns() - ex.t_send_ns) / 1e9
            return ExchangeError(kind, redactor.text(message), after_s=round(after, 6))

        ex.t_send_ns = time.perf_counter_ns()
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.send(request, stream=True)
                ex.t_headers_ns = time.perf_counter_ns()
                ex.status = response.status_code
                if response.history:
                    # followed like the official SDK does (307/308 keep the method and
                    # body); the hops stay on record for the checks and the evidence
                    ex.meta["redirects"] = [
                        {
                            "status": hop.status_code,
                            "location": redactor.text(hop.headers.get("location", "")),
                        }
                        for hop in response.history
                    ]
                ex.headers = [
                    (
                        k.decode("latin-1").lower(),
                        redactor.header(k.decode("latin-1"), v.decode("latin-1")),
                    )
                    for k, v in response.headers.raw
                ]
                cap = self.max_body_bytes
                async for chunk in response.aiter_bytes():
                    t = time.perf_counter_ns()
                    if not chunk:
                        continue
                    too_large = n_bytes + len(chunk) > cap
                    if too_large:
                        chunk = chunk[: cap - n_bytes]
                    n_bytes += len(chunk)
                    if chunk:
                        ex.chunks.append((t, chunk))
                    if too_large:
                        error = fail(
                            ErrorKind.TOO_LARGE,
                            f"the body exceeded the cap of {cap} bytes; the rest was discarded",
                        )
                        break
        except TimeoutError:
            error = fail(
                ErrorKind.TOTAL_TIMEOUT,
                f"the exchange took longer than the total timeout of {self.timeout:g} s "
                f"({_phase(ex, n_bytes)}); the server is hanging or too slow, "
                "raise --timeout if it is just slow",
            )
        except httpx.ConnectTimeout:
            error = fail(
                ErrorKind.CONNECT_TIMEOUT,
                f"no connection to {_host(request)} within {self.connect_timeout:g} s; "
                "check --base-url and the network",
            )
        except httpx.ReadTimeout:
            error = fail(
                ErrorKind.READ_TIMEOUT,
                f"no data for {self.read_timeout:g} s ({_phase(ex, n_bytes)}); "
                "the server stopped answering",
            )
        except httpx.ConnectError as exc:
            error = fail(
                ErrorKind.CONNECT,
                f"could not connect to {_host(request)} ({exc or type(exc).__name__}); "
                "check that the server is running and that --base-url is right",
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            error = fail(
                ErrorKind.CONNECT,
                f"cannot send to {ex.request.url:.200} ({exc}); "
                "--base-url must be an http:// or https:// URL",
            )
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if ex.t_headers_ns is not None:
                error = fail(
                    ErrorKind.TRUNCATED,
                    f"the connection closed before the body was complete, after {n_bytes} "
                    f"bytes ({exc or type(exc).__name__})",
                )
            else:
                error = fail(
                    ErrorKind.PROTOCOL,
                    f"the server closed the connection without a valid response "
                    f"({exc or type(exc).__name__})",
                )
        except (httpx.DecodingError, httpx.LocalProtocolError) as exc:
            error = fail(ErrorKind.PROTOCOL, f"the server broke HTTP: {exc}")
        except httpx.TimeoutException as exc:
            error = fail(ErrorKind.OTHER, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            error = fail(ErrorKind.OTHER, f"{type(exc).__name__}: {exc}")
        finally:
            ex.t_end_ns = time.perf_counter_ns()
            if response is not None:
                await _close(response)
        if (
            error is not None
            and error.kind is ErrorKind.PROTOCOL
            and ex.t_headers_ns is None
            and not _retried
            and (error.after_s or 0.0) < min(1.0, self.timeout / 2)
        ):
            # A kept-alive connection the server dropped (say, after a crash on an earlier
            # request) fails at once with no response at all. The official SDK retries such
            # a request; so do we, once, on a fresh connection, and say so in the record.
            retry = await self.asend(
                request, probe=probe, stream=stream, api_key=api_key, meta=meta, _retried=True
            )
            retry.meta["retried_after"] = error.message
            return retry
        ex.error = error
        if redactor:
            ex.chunks = redactor.chunks(ex.chunks)
        ex.body = b"".join(c for _, c in ex.chunks)
        attach_events(ex, stream_requested=stream)
        return ex

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections opened by :meth:`send` and stop its thread."""
        with self._lock:
            self._closed = True
            loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is None:
            return
        client = self._clients.pop(loop_thread.loop, None)
        if client is not None:
            with contextlib.suppress(Exception):  # closing is best effort
                loop_thread.submit(client.aclose()).result(timeout=_CLOSE_TIMEOUT_S * 2)
        loop_thread.stop()

    async def aclose(self) -> None:
        """Close the connections of the running loop (and those of :meth:`send`)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            with contextlib.suppress(Exception):  # closing is best effort
                await asyncio.wait_for(client.aclose(), _CLOSE_TIMEOUT_S)
        if self._loop_thread is not None:
            await asyncio.to_thread(self.close)

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _request_body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return await request.aread()


async def _close(response: httpx.Response) -> None:
    # a connection that will not close cleanly is simply dropped
    with contextlib.suppress(Exception):
        await asyncio.wait_for(response.aclose(), _CLOSE_TIMEOUT_S)
