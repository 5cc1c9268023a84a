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
  their concatenation. The raw bytes are read and any ``Content-Encoding`` is undone
  here, in pieces of at most 64 KiB (:mod:`conformance.wire.decode`), each counted
  against the size cap, with a pause for the event loop between pieces so that the
  total timeout interrupts a compression bomb. Requests say ``Accept-Encoding: gzip,
  deflate``; another coding, or corrupt compressed data, is ``ErrorKind.DECODING``.
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
timeout over the whole exchange, enforced even when bytes keep dribbling in. Memory is
bounded per exchange and per client (one client serves one run), whatever the target
sends; going past a cap ends the reading with ``ErrorKind.TOO_LARGE`` and the excess is
counted in ``meta``, not kept:

- body bytes after decoding (``max_body_bytes``, 16 MiB; ``meta["discarded_bytes"]``);
- SSE events (``max_events``, 100,000; ``meta["discarded_events"]``), and body chunks:
  past the same number, further chunks are merged into one (``meta["chunks_merged"]``),
  so a drip of one-byte chunks stays small;
- the response head: h11 refuses more than 100 KiB of status line and headers;
- per client, about ``max_run_bytes`` (32 MiB) and ``max_run_events`` (100,000 events,
  and as many chunks) in all; once they are spent, each further exchange keeps at most
  256 KiB, 1,000 events and 1,000 chunks.

Redirects are not followed by default: a 3xx answer is recorded as it is (and judged by
``robustness.no_redirect``). With ``follow_redirects=True`` each hop is sent by this
client, counted against ``max_requests`` (a hard cap on the requests the client sends,
hops and resends included; a request past it is ``ErrorKind.NOT_SENT``) and recorded in
``meta["redirects"]`` (status, from, to, method, whether credentials were dropped because
the origin changed); a loop, more than ``max_redirects`` hops or a spent budget stop the
following (``meta["redirect_stopped"]``) and the last 3xx is the answer.

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
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import httpx

from conformance.errors import ConfigError
from conformance.wire.decode import (
    ACCEPT_ENCODING,
    CorruptEncoding,
    UnsupportedEncoding,
    body_decoder,
)
from conformance.wire.exchange import (
    ErrorKind,
    Exchange,
    ExchangeError,
    RecordedRequest,
    SSEEvent,
    is_event_stream,
    looks_like_sse,
)
from conformance.wire.redact import Redactor
from conformance.wire.sse import SSEParser
from conformance.wire.transport_failure import FailurePoint, classify_failure

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_RUN_BYTES",
    "DEFAULT_MAX_RUN_EVENTS",
    "FLOOR_BODY_BYTES",
    "FLOOR_EVENTS",
    "WireClient",
    "attach_events",
]

#: body bytes (after decoding) one exchange keeps at most
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
#: SSE events (and, separately, body chunks) one exchange keeps at most
DEFAULT_MAX_EVENTS = 100_000
#: body bytes all the exchanges of one client keep together, at most (about)
DEFAULT_MAX_RUN_BYTES = 32 * 1024 * 1024
#: SSE events all the exchanges of one client keep together, at most (about)
DEFAULT_MAX_RUN_EVENTS = 100_000
#: what each exchange may still keep once the run's budget is spent
FLOOR_BODY_BYTES = 256 * 1024
FLOOR_EVENTS = 1_000
#: redirect hops followed at most per request (when following is turned on)
DEFAULT_MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: request headers that carry credentials, dropped when a redirect changes the origin
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"}
)
#: how long closing a response may take before it is abandoned
_CLOSE_TIMEOUT_S = 2.0


def attach_events(
    ex: Exchange, *, stream_requested: bool, max_events: int = DEFAULT_MAX_EVENTS
) -> None:
    """Parse ``ex.chunks`` as an event stream by the client's reading rules.

    Sets ``ex.events`` and ``ex.observations`` when the Content-Type is
    ``text/event-stream``, or when ``stream_requested`` and the body looks like an event
    stream; otherwise leaves them ``None`` (and says why in ``meta["sse_skipped"]`` when
    a stream was asked for). An event the body ended in the middle of is described in
    ``meta["sse_unterminated"]``. At most ``max_events`` events are kept: the ones past
    it are counted in ``meta["discarded_events"]`` and the exchange fails with
    ``ErrorKind.TOO_LARGE`` (unless it had failed already). Replay uses this too, so
    recorded and live exchanges are judged alike.
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
    discarded = 0
    for t, chunk in chunks:
        for event in parser.feed(chunk, t):
            if len(events) < max_events:
                events.append(event)
            else:
                discarded += 1
    parser.close(ex.t_end_ns or (chunks[-1][0] if chunks else 0))
    ex.events = events
    ex.observations = parser.observations
    if discarded:
        ex.meta["discarded_events"] = discarded
        if ex.error is None:
            ex.error = ExchangeError(
                ErrorKind.TOO_LARGE,
                f"the stream sent {max_events + discarded} events, more than the "
                f"{max_events} kept per exchange; the {discarded} past the cap were counted, "
                "not kept",
            )
    if parser.unterminated is not None:
        ev = parser.unterminated
        ex.meta["sse_unterminated"] = {"data": ev.data, "raw": ev.raw, "t_ns": ev.t_ns}


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
    waiting for bytes. ``max_body_bytes`` caps the recorded body (after decoding) and
    ``max_events`` the SSE events and body chunks kept per exchange; ``max_run_bytes`` and
    ``max_run_events`` bound what all the exchanges of this client keep together (past
    them, each further exchange keeps at most :data:`FLOOR_BODY_BYTES` and
    :data:`FLOOR_EVENTS`). ``max_requests`` is a hard cap on the HTTP requests this client
    sends, redirect hops and resends included (``None``: no cap). ``follow_redirects``
    (default off: a 3xx answer is recorded as it is) follows up to ``max_redirects`` hops,
    each recorded in ``meta["redirects"]``. ``transport`` replaces the network: an
    ``httpx.AsyncBaseTransport`` such as ``httpx.MockTransport``, ``httpx.ASGITransport``
    or a configured ``httpx.AsyncHTTPTransport``. ``secrets`` are strings redacted from
    every exchange in addition to each request's ``api_key``.
    """

    def __init__(
        self,
        timeout: float = 30.0,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_run_bytes: int = DEFAULT_MAX_RUN_BYTES,
        max_run_events: int = DEFAULT_MAX_RUN_EVENTS,
        max_requests: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
        trust_env: bool = True,
        follow_redirects: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        secrets: tuple[str, ...] = (),
    ) -> None:
        if not timeout or timeout <= 0:
            raise ConfigError(f"--timeout must be a positive number of seconds, not {timeout!r}")
        for label, value in (("connect timeout", connect_timeout), ("read timeout", read_timeout)):
            if value is not None and value <= 0:
                raise ConfigError(f"{label} must be a positive number of seconds, not {value!r}")
        for label, count in (
            ("max_body_bytes", max_body_bytes),
            ("max_events", max_events),
            ("max_run_bytes", max_run_bytes),
            ("max_run_events", max_run_events),
        ):
            if count <= 0:
                raise ConfigError(f"{label} must be positive, not {count!r}")
        if max_requests is not None and max_requests < 0:
            raise ConfigError(f"--max-requests must not be negative, not {max_requests!r}")
        if max_redirects < 0:
            raise ConfigError(f"max_redirects must not be negative, not {max_redirects!r}")
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                "transport must be an httpx.AsyncBaseTransport "
                "(httpx.MockTransport, httpx.ASGITransport or httpx.AsyncHTTPTransport)"
            )
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout or min(self.timeout, 10.0))
        self.read_timeout = float(read_timeout or self.timeout)
        self.max_body_bytes = int(max_body_bytes)
        self.max_events = int(max_events)
        self.max_requests = max_requests
        self.follow_redirects = follow_redirects
        self.max_redirects = int(max_redirects)
        #: HTTP requests sent so far (redirect hops and resends included)
        self.requests_sent = 0
        self._run_bytes_left = int(max_run_bytes)
        self._run_events_left = int(max_run_events)
        self._run_chunks_left = int(max_run_events)
        self._transport = transport
        self._verify = verify
        self._trust_env = trust_env
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
                # redirects are followed (or not) by asend itself, hop by hop, so that
                # each hop is counted and recorded
                follow_redirects=False,
            )
            self._clients[loop] = client
        return client

    # -- limits ----------------------------------------------------------------------

    def _take_request(self) -> bool:
        """Count one request about to be sent; ``False`` when the cap forbids it."""
        with self._lock:
            if self.max_requests is not None and self.requests_sent >= self.max_requests:
                return False
            self.requests_sent += 1
            return True

    def _byte_cap(self, kept: int) -> int:
        """How many body bytes this exchange may keep, having kept ``kept`` so far."""
        return min(self.max_body_bytes, max(FLOOR_BODY_BYTES, kept + self._run_bytes_left))

    def _event_cap(self) -> int:
        """How many SSE events the next exchange may keep."""
        return min(self.max_events, max(FLOOR_EVENTS, self._run_events_left))

    def _chunk_cap(self, kept: int) -> int:
        """How many body chunks this exchange may keep, having kept ``kept`` so far."""
        return min(self.max_events, max(FLOOR_EVENTS, kept + self._run_chunks_left))

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
        ex, unsent = await self._recorded(request, probe=probe, meta=meta, redactor=redactor)
        if unsent is not None:
            ex.error = unsent
            return ex
        error = await self._exchange(request, ex, redactor, credentials=(api_key, *self._secrets))
        if error is not None and self._worth_a_retry(error, ex, retried=_retried):
            retry = await self.asend(
                request, probe=probe, stream=stream, api_key=api_key, meta=meta, _retried=True
            )
            if retry.error is None or retry.error.kind is not ErrorKind.NOT_SENT:
                retry.meta["retried_after"] = error.message
                return retry
        self._finish(ex, error, redactor, stream=stream)
        return ex

    async def _recorded(
        self,
        request: httpx.Request,
        *,
        probe: str,
        meta: Mapping[str, Any] | None,
        redactor: Redactor,
    ) -> tuple[Exchange, ExchangeError | None]:
        """The exchange holding the request as it is sent (secrets redacted), and why it
        cannot be sent (a request body that fails to produce itself, a spent budget), if it
        cannot. Counts the request against ``max_requests``."""
        if "accept-encoding" not in request.headers:
            # say what can be undone within bounds: without the header any coding is
            # acceptable (RFC 9110, 12.5.3), with it an unasked-for coding is a finding
            request.headers["Accept-Encoding"] = ACCEPT_ENCODING
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
            return ex, ExchangeError(
                ErrorKind.OTHER,
                redactor.text(f"the request body could not be read: {body_error!r}"),
            )
        if not self._take_request():
            return ex, ExchangeError(
                ErrorKind.NOT_SENT,
                f"not sent: the run's budget of {self.max_requests} requests (--max-requests) "
                "is spent",
            )
        return ex, None

    async def _exchange(
        self,
        request: httpx.Request,
        ex: Exchange,
        redactor: Redactor,
        *,
        credentials: tuple[str | None, ...],
    ) -> ExchangeError | None:
        """Send ``request`` (following redirects when asked) and read the answer into
        ``ex`` within the total timeout; the error that ended the exchange, if any."""
        client = self._client()
        reading = _Reading(ex)
        error: ExchangeError | None = None
        response: httpx.Response | None = None

        def fail(kind: ErrorKind, message: str) -> ExchangeError:
            after = (time.perf_counter_ns() - ex.t_send_ns) / 1e9
            return ExchangeError(kind, redactor.text(message), after_s=round(after, 6))

        ex.t_send_ns = time.perf_counter_ns()
        try:
            async with asyncio.timeout(self.timeout):
                current = request
                visited = {str(request.url)}
                while True:
                    response = await client.send(current, stream=True)
                    following = self._next_hop(
                        current, response, ex, credentials, redactor, visited
                    )
                    if following is None:
                        break
                    await _close(response)
                    response = None
                    current = following
                ex.t_headers_ns = time.perf_counter_ns()
                ex.status = response.status_code
                ex.headers = [
                    (
                        k.decode("latin-1").lower(),
                        redactor.header(k.decode("latin-1"), v.decode("latin-1")),
                    )
                    for k, v in response.headers.raw
                ]
                error = await self._read_body(response, ex, reading, fail)
        except Exception as exc:
            if isinstance(exc, (MemoryError, RecursionError)):
                reading.drop(ex)  # what a hostile answer could still exhaust
            error = fail(*classify_failure(exc, self._failure_point(request, ex, reading)))
        finally:
            ex.t_end_ns = time.perf_counter_ns()
            if response is not None:
                await _close(response)
        reading.finish(ex)
        return error

    def _failure_point(
        self, request: httpx.Request, ex: Exchange, reading: _Reading
    ) -> FailurePoint:
        """Where ``ex`` stands now, for :func:`classify_failure`."""
        return FailurePoint(
            host=_host(request),
            url=ex.request.url,
            headers_received=ex.t_headers_ns is not None,
            body_bytes=reading.kept,
            total_timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def _worth_a_retry(self, error: ExchangeError, ex: Exchange, *, retried: bool) -> bool:
        """Whether the request is sent once more, on a fresh connection.

        A kept-alive connection the server dropped (say, after a crash on an earlier
        request) fails at once with no response at all. The official SDK retries such a
        request; so do we, once, and say so in the record (``meta["retried_after"]``).
        """
        return (
            error.kind is ErrorKind.PROTOCOL
            and ex.t_headers_ns is None
            and not retried
            and (error.after_s or 0.0) < min(1.0, self.timeout / 2)
        )

    def _finish(
        self, ex: Exchange, error: ExchangeError | None, redactor: Redactor, *, stream: bool
    ) -> None:
        """Record ``error``, redact the chunks, join them into the body and parse the
        events (counted against the run's budget)."""
        ex.error = error
        if redactor:
            ex.chunks = redactor.chunks(ex.chunks)
        ex.body = b"".join(c for _, c in ex.chunks)
        try:
            attach_events(ex, stream_requested=stream, max_events=self._event_cap())
        except (MemoryError, RecursionError) as exc:  # bounded above; a last resort
            ex.chunks, ex.body, ex.events, ex.observations = [], b"", None, None
            ex.error = ExchangeError(
                ErrorKind.OTHER, f"parsing the event stream exhausted the harness: {exc!r}"
            )
        self._run_events_left -= len(ex.events or ())

    async def _read_body(
        self,
        response: httpx.Response,
        ex: Exchange,
        reading: _Reading,
        fail: Callable[[ErrorKind, str], ExchangeError],
    ) -> ExchangeError | None:
        """Read, decode and keep the body within the caps; the error that stopped it."""
        try:
            decoder = body_decoder(
                response.headers.get_list("content-encoding"),
                accepted=response.request.headers.get("accept-encoding", ACCEPT_ENCODING),
            )
        except UnsupportedEncoding as exc:
            decoder = None
            undecodable: str | None = str(exc)
        else:
            undecodable = None
        raw_cap = self.max_body_bytes
        async for raw in _raw_chunks(response):
            t = time.perf_counter_ns()
            if not raw:
                continue
            reading.raw += len(raw)
            if decoder is not None and reading.raw > raw_cap:
                # compressed data that decodes to little or nothing, endlessly
                return fail(
                    ErrorKind.TOO_LARGE,
                    f"the encoded body exceeded the cap of {raw_cap} bytes as sent; "
                    "the rest was not read",
                )
            pieces: Iterable[bytes] = (raw,) if decoder is None else decoder.feed(raw)
            try:
                for piece in pieces:
                    cap = self._byte_cap(reading.kept)
                    if reading.kept + len(piece) > cap:
                        room = max(0, cap - reading.kept)
                        reading.keep(t, piece[:room], self)
                        # what had arrived past the cap; the rest is not read at all
                        ex.meta["discarded_bytes"] = len(piece) - room
                        coded = f" after decoding {', '.join(decoder.codings)}" if decoder else ""
                        return fail(
                            ErrorKind.TOO_LARGE,
                            f"the body exceeded the cap of {cap} bytes{coded} "
                            f"({reading.raw} bytes received); the rest was not read"
                            + (
                                ""
                                if cap == self.max_body_bytes
                                else " (the run's memory budget for responses is spent)"
                            ),
                        )
                    reading.keep(t, piece, self)
                    if decoder is not None:
                        await asyncio.sleep(0)  # let the total timeout interrupt a bomb
            except CorruptEncoding as exc:
                return fail(ErrorKind.DECODING, f"{exc}; {reading.kept} bytes were decoded")
        if undecodable is not None:
            return fail(ErrorKind.DECODING, f"{undecodable}; the body is kept as received")
        if decoder is not None and decoder.trailing:
            ex.meta["encoding_trailing_bytes"] = decoder.trailing
        return None

    def _next_hop(
        self,
        request: httpx.Request,
        response: httpx.Response,
        ex: Exchange,
        credentials: tuple[str | None, ...],
        redactor: Redactor,
        visited: set[str],
    ) -> httpx.Request | None:
        """The request that follows ``response`` when it is a redirect to follow, else
        ``None`` (and why following stopped in ``meta["redirect_stopped"]``)."""
        location = response.headers.get("location")
        if not self.follow_redirects or response.status_code not in _REDIRECTS or not location:
            return None
        hops: list[dict[str, Any]] = ex.meta.setdefault("redirects", [])
        try:
            target = request.url.join(location)
        except httpx.InvalidURL:
            ex.meta["redirect_stopped"] = "the Location header is not a URL"
            return None
        stop = None
        if str(target) in visited:
            stop = "loop: the redirect leads back to a URL already visited"
        elif len(hops) >= self.max_redirects:
            stop = f"more than {self.max_redirects} redirects"
        elif not self._take_request():
            stop = f"the run's budget of {self.max_requests} requests (--max-requests) is spent"
        follow, dropped = _redirect_request(request, response.status_code, target, credentials)
        hops.append(
            {
                "status": response.status_code,
                "from": redactor.url(str(request.url)),
                "to": redactor.url(str(target)),
                "method": follow.method,
                "credentials_dropped": dropped,
            }
        )
        if stop is not None:
            hops[-1]["followed"] = False
            ex.meta["redirect_stopped"] = stop
            return None
        visited.add(str(target))
        return follow

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


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as sent (still encoded), chunk by chunk."""
    if response.is_stream_consumed:
        # a response built in memory (httpx.MockTransport): httpx has read it already,
        # and its stream still holds the bytes as they were given
        stream = response.stream
        if isinstance(stream, httpx.AsyncByteStream):
            async for chunk in stream:
                yield chunk
        elif isinstance(stream, httpx.SyncByteStream):
            for chunk in stream:
                yield chunk
        return
    async for chunk in response.aiter_raw():
        yield chunk


async def _close(response: httpx.Response) -> None:
    # a connection that will not close cleanly is simply dropped
    with contextlib.suppress(Exception):
        await asyncio.wait_for(response.aclose(), _CLOSE_TIMEOUT_S)


class _Reading:
    """What the body read so far cost: raw and kept bytes, and the chunks past the cap
    on their number (merged into one, so a drip of tiny chunks stays small)."""

    __slots__ = ("ex", "kept", "merged", "raw", "tail", "tail_t")

    def __init__(self, ex: Exchange | None = None) -> None:
        self.ex = ex
        self.raw = 0
        self.kept = 0
        self.merged = 0
        self.tail = bytearray()
        self.tail_t = 0

    def keep(self, t: int, piece: bytes, client: WireClient) -> None:
        if not piece or self.ex is None:
            return
        self.kept += len(piece)
        client._run_bytes_left -= len(piece)
        chunks = self.ex.chunks
        if not self.tail and len(chunks) < client._chunk_cap(len(chunks)):
            chunks.append((t, piece))
            client._run_chunks_left -= 1
            return
        if not self.tail:
            self.tail_t = t
        self.tail += piece
        self.merged += 1

    def finish(self, ex: Exchange) -> None:
        """Append the merged chunks (stamped with the first one's time)."""
        if self.tail:
            ex.chunks.append((self.tail_t, bytes(self.tail)))
            ex.meta["chunks_merged"] = self.merged
            self.tail = bytearray()

    def drop(self, ex: Exchange) -> None:
        """Forget the body (after a MemoryError)."""
        ex.chunks.clear()
        self.tail = bytearray()


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))


def _redirect_request(
    request: httpx.Request,
    status: int,
    target: httpx.URL,
    credentials: tuple[str | None, ...],
) -> tuple[httpx.Request, bool]:
    """The request a client sends after a redirect, and whether credentials were dropped.

    Like browsers and httpx: 303 (and 301/302 after a POST) turn into a GET without a
    body; 307 and 308 resend the method and body. A hop to another origin (scheme, host
    or port) loses every header that carries credentials.
    """
    method = request.method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    headers = httpx.Headers(request.headers)
    headers.pop("host", None)
    content = request.content
    if method != request.method:
        content = b""
        for name in ("content-length", "content-type", "transfer-encoding"):
            headers.pop(name, None)
    dropped = False
    if _origin(target) != _origin(request.url):
        secrets = [c for c in credentials if c]
        for name, value in list(headers.multi_items()):
            if name.lower() in _CREDENTIAL_HEADERS or any(s in value for s in secrets):
                headers.pop(name, None)
                dropped = True
    return httpx.Request(method, target, headers=headers, content=content), dropped
