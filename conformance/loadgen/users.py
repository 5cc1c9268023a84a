"""Locust users that put text-generation APIs under load, one class per dialect and mode.

Use them from a locustfile (see ``loadtests/``)::

    from conformance.loadgen.users import OpenAIChatStreamUser  # noqa: F401

and run ``locust -f that_file.py --host http://127.0.0.1:8000/v1``. Each request is
encoded by the provider profile, sent with geventhttpclient, and its stream read straight
from the socket: every received block is timestamped as ``recv`` returns it (no
buffering layer in between), then split into SSE events by
:class:`~conformance.loadgen.sse_fast.EventScanner`. On a plain TCP connection that
happens in the socket's read callback in the event loop, the user's greenlet waking once
per stream; over TLS the greenlet reads through the TLS socket's own ``recv``. Beside the request itself, TTFT,
ITL (the request's mean gap) and TPOT appear as entries of their own in Locust's
statistics; the exact values go to the run's histograms (:mod:`conformance.metrics`).

Every request is bounded (:mod:`conformance.loadgen.limits`): ``--request-timeout`` is
the longest silence and also the whole request's time (a server that drips a byte now
and then ends as ``total_timeout``), the response head, body and stream have size caps,
and a request still in flight when the load process stops is counted as ``unfinished``.
A failed request is recorded with its kind (``http_<status>`` for a non-2xx answer).

This module imports Locust (and so gevent's monkey-patching): only load-generating
processes import it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
import gevent.socket
import geventhttpclient.client
from gevent.pool import Group
from geventhttpclient._parser import HTTPParseError
from geventhttpclient.client import HTTPClient
from geventhttpclient.response import HTTPResponse, HTTPSocketPoolResponse
from locust import User, constant, task
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_STOPPING

from conformance.loadgen import plugin as _hooks  # noqa: F401  (registers the Locust event hooks)
from conformance.loadgen.limits import (
    MAX_BODY_BYTES,
    MAX_ERROR_BODY_BYTES,
    MAX_RESPONSE_HEAD_BYTES,
    MAX_STREAM_BYTES,
)
from conformance.loadgen.process import ProcessState, process_state
from conformance.loadgen.schedule import arrival_offsets
from conformance.loadgen.sse_fast import EventScanner, LineTooLong
from conformance.loadgen.target import Target
from conformance.metrics import FailureKind, RequestTiming, StreamTracker, http_failure_kind
from conformance.providers import DecodeError

__all__ = [
    "GenerationUser",
    "OpenAIChatStreamUser",
    "OpenAIChatUser",
    "OpenLoopUser",
    "WetrocloudUser",
    "new_client",
    "send_one",
]

_perf_ns = time.perf_counter_ns
_wall = time.time
#: bytes asked of each ``recv``
_BLOCK = 64 * 1024
#: the response's own ``feed``, for reading a body once the headers are in (no head check)
_parser_feed = HTTPResponse.feed
#: the HTTP parser's own ``feed`` (C), for the body of a streamed answer: the response's
#: Python ``feed`` above only adds a repair for bodies sent after a HEAD request's head,
#: which the load never sends; one Python call less per received block
_body_feed = getattr(HTTPResponse.__mro__[1], "feed", _parser_feed)


class HeaderLimitExceeded(Exception):
    """The status line and headers outgrew :data:`MAX_RESPONSE_HEAD_BYTES`."""


class TotalTimeout(TimeoutError):
    """The whole request took longer than the timeout, although bytes kept coming."""


class _HeadLimitedResponse(HTTPSocketPoolResponse):
    """geventhttpclient's pooled response with a cap on the response head.

    Every byte fed before the headers are complete counts (a body byte that arrived in
    the same read as the last header line too, as in h11); past the cap the response is
    abandoned and its connection closed, not returned to the pool.
    """

    _head_bytes = 0

    def feed(self, data: str | bytes) -> Any:
        if not self.headers_complete:
            seen = self._head_bytes + len(data)
            self._head_bytes = seen
            if seen > MAX_RESPONSE_HEAD_BYTES:
                raise HeaderLimitExceeded(
                    f"the response head outgrew {MAX_RESPONSE_HEAD_BYTES} bytes"
                )
        return _parser_feed(self, data)


# geventhttpclient builds its responses from this module-level name; in a load process
# (the only place this module is imported) every response is head-limited
geventhttpclient.client.HTTPSocketPoolResponse = _HeadLimitedResponse  # type: ignore[misc]


def new_client(target: Target, *, concurrency: int, timeout_s: float) -> HTTPClient:
    """A geventhttpclient connection pool to the target's origin."""
    import gevent.ssl

    client = HTTPClient.from_url(
        target.origin,
        concurrency=concurrency,
        connection_timeout=timeout_s,
        network_timeout=timeout_s,
        ssl_context_factory=gevent.ssl.create_default_context,
    )
    _resolve_once(client)
    _check_idle_without_yielding(client)
    return client


def _peek_idle(raw: Any) -> bool:
    """Whether an idle keep-alive connection can carry the next request.

    An idle connection has nothing to read: one non-blocking peek says so. Something to
    read (the server's close, or bytes nobody asked for) or an error means it cannot.
    """
    try:
        raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True  # idle: alive
    except (OSError, ValueError):
        return False
    return False


def _check_idle_without_yielding(client: HTTPClient) -> None:
    """Check pooled connections without handing the greenlet back to the hub.

    geventhttpclient checks a pooled connection with ``select.select`` at timeout 0 before
    every request, and gevent's ``select`` then always yields to the hub, so each request
    waited behind every other ready greenlet (at 64 streams about 0.25 ms at the median,
    1.7 ms at p90) after its send time was taken and before its first byte was written:
    client delay inside the measured TTFT. The peek answers the same question without
    the switch (and without ``select``'s limit of 1024 file descriptors); a socket
    without the expected gevent internals keeps the library's own check.
    """
    pool = getattr(client, "_connection_pool", None)
    library_check = getattr(pool, "_is_socket_alive", None)
    if pool is None or library_check is None:
        return

    def alive(sock: Any) -> bool:
        raw = getattr(sock, "_sock", None)
        if raw is None:
            return bool(library_check(sock))
        return sock.fileno() >= 0 and _peek_idle(raw)

    pool._is_socket_alive = alive


def _resolve_once(client: HTTPClient) -> None:
    """Resolve the target's address once per pool, not once per new connection.

    geventhttpclient calls ``getaddrinfo`` (through gevent's thread-pool resolver) for
    every connection it opens. Against a server that closes the connection after each
    response, every request then pays a hop to a resolver thread and back inside its
    TTFT (tens of microseconds on an idle process, more when the hub is busy with many
    streams): client cost, not the server's latency. A failed lookup is not cached (the
    next connection tries again); the address is kept for the pool's life (one run).
    """
    pool = getattr(client, "_connection_pool", None)
    resolve = getattr(pool, "_resolve", None)
    if pool is None or resolve is None:
        return
    cached: list[Any] = []

    def resolve_cached() -> Any:
        if not cached:
            cached.append(resolve())
        return cached[0]

    pool._resolve = resolve_cached


class _Watchdog:
    """Ends streams that stay silent longer than the read timeout.

    gevent sockets with a timeout create a timer for every ``recv``; a stream makes one
    ``recv`` per event. Streams are read without a socket timeout instead, and this one
    greenlet per process checks twice a second when each stream last received a byte,
    raising :class:`TimeoutError` in the streams that have been silent too long.
    """

    def __init__(self) -> None:
        #: reading greenlet -> (its cell of the latest block's arrival (perf ns), timeout ns)
        self.active: dict[Any, tuple[list[int], int]] = {}
        self._greenlet: Any = None

    def watch(self, last: list[int], timeout_s: float) -> None:
        """Watch the current greenlet, whose reader keeps ``last[0]`` at each block's arrival."""
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        self.active[gevent.getcurrent()] = (last, int(timeout_s * 1e9))

    def unwatch(self) -> None:
        self.active.pop(gevent.getcurrent(), None)

    def _run(self) -> None:
        while True:
            gevent.sleep(0.5)
            now = _perf_ns()
            for glet, (last, limit) in list(self.active.items()):
                if now - last[0] > limit:
                    self.active.pop(glet, None)
                    gevent.kill(glet, TimeoutError("no byte within the read timeout"))


_WATCHDOG = _Watchdog()


class _Failed:
    """An exception met while reading in the hub, to be raised in the reading greenlet."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


#: the stream reached its end (or its size cap): sent to the reading greenlet
_OVER = object()


def _read_blocks(sock: Any, take: Callable[[bytes], bool]) -> None:
    """Hand each block received on ``sock`` to ``take`` until it returns True.

    For a plain TCP socket the blocks are read where the event loop learns that the
    socket is readable: the socket's read watcher calls back in the hub, which reads,
    timestamps and parses the block there, and wakes the reading greenlet only once,
    when the stream is over (or an error ends it). Waking the greenlet for every
    event (a switch into it and back, a waiter, a watcher started and stopped, and
    gevent's ``recv`` trying the read before waiting) was most of the client's cost
    per streamed request. Exceptions met in the hub are raised in the reading greenlet;
    a timeout or kill thrown into the waiting greenlet stops the watcher.

    Any other socket (TLS above all: its bytes must go through the TLS layer, which may
    also hold decrypted bytes the kernel no longer signals) is read in the greenlet
    through its own ``recv``, as is a socket whose gevent internals are not as expected.
    """
    raw = getattr(sock, "_sock", None)
    watcher = getattr(sock, "_read_event", None)
    hub = getattr(sock, "hub", None)
    if (
        type(sock) is not gevent.socket.socket
        or raw is None
        or watcher is None
        or hub is None
        or watcher.active  # another greenlet waits on it: leave it alone
    ):
        recv = sock.recv
        while not take(recv(_BLOCK)):
            pass
        return
    raw_recv = raw.recv
    reader = gevent.getcurrent()

    def readable() -> None:  # runs in the hub
        try:
            over = take(raw_recv(_BLOCK))
        except BlockingIOError:  # woken without data: wait for the next readiness
            return
        except Exception as exc:  # raised where the request is handled
            watcher.stop()
            reader.switch(_Failed(exc))
            return
        if over:
            watcher.stop()
            reader.switch(_OVER)

    watcher.start(readable)
    try:
        while True:
            outcome = hub.switch()
            if outcome is _OVER:
                return
            if isinstance(outcome, _Failed):
                raise outcome.exc
            # anything else is not ours: keep waiting
    finally:
        watcher.stop()


def _read_stream(
    resp: Any, t_send: int, t_headers: int, timeout_s: float, last: list[int]
) -> tuple[RequestTiming, int]:
    """Read an SSE body from the socket, timestamping each received block.

    ``last[0]`` is kept at the arrival time of the latest block.
    """
    tracker = StreamTracker(t_send)
    scanner = EventScanner(tracker.on_event)
    feed = scanner.feed
    buf = resp._body_buffer
    size = 0
    if buf:
        chunk = bytes(buf)
        del buf[:]
        size += len(chunk)
        feed(chunk, t_headers)
    sock = resp._sock
    if sock is not None and not resp.message_complete:
        _WATCHDOG.watch(last, timeout_s)
        sock.settimeout(None)  # the watchdog times the stream out instead
        feed_resp = _body_feed

        def take(data: bytes) -> bool:
            nonlocal size
            t = _perf_ns()
            last[0] = t
            feed_resp(resp, data)  # returns the socket to the pool when the body is complete
            if buf:
                chunk = bytes(buf)
                del buf[:]
                size += len(chunk)
                feed(chunk, t)
            return not data or resp.message_complete or size > MAX_STREAM_BYTES

        try:
            _read_blocks(sock, take)
        finally:
            _WATCHDOG.unwatch()
            sock.settimeout(timeout_s)
    complete = bool(resp.message_complete)
    if not complete and size > MAX_STREAM_BYTES:  # cut off at the cap, not by the server
        timing = tracker.finish(complete=False)
        timing.error = FailureKind.TOO_LARGE
        return timing, size
    scanner.close(_perf_ns())
    return tracker.finish(complete=complete), size


def _read_body(resp: Any, cap: int, last: list[int]) -> tuple[bytes, bool]:
    """Read a whole body (up to ``cap`` bytes); returns it and whether it was complete.

    ``last[0]`` is kept at the arrival time of the latest block.
    """
    buf = resp._body_buffer
    while not resp.message_complete and len(buf) < cap:
        sock = resp._sock
        if sock is None:
            break
        data = sock.recv(_BLOCK)
        last[0] = _perf_ns()
        _parser_feed(resp, data)
        if not data:
            break
    body = bytes(buf)
    del buf[:]
    return body, bool(resp.message_complete)


def _decode_body(target: Target, body: bytes, t_send: int, t_end: int) -> RequestTiming:
    timing = RequestTiming(t_send_ns=t_send, e2e_ns=t_end - t_send)
    try:
        gen = target.provider.decode(body)
    except DecodeError:
        timing.error = FailureKind.MALFORMED
        return timing
    text = gen.text
    tokens = gen.usage.completion_tokens if gen.usage is not None else None
    if tokens is None:
        tokens = len(text.split())
        timing.usage_fallback = True
    timing.output_tokens = tokens
    if not text:
        timing.error = FailureKind.EMPTY
    return timing


def _timeout_kind(last_byte_ns: int, timeout_s: float) -> FailureKind:
    """What a request that reached the timeout did: went silent, or kept dripping.

    Silent for at least half the timeout when it ran out: ``read_timeout`` (a hang or a
    stall); bytes came more recently: ``total_timeout`` (it kept sending, never finished).
    """
    silent_s = (_perf_ns() - last_byte_ns) / 1e9
    return FailureKind.READ_TIMEOUT if silent_s >= timeout_s / 2 else FailureKind.TOTAL_TIMEOUT


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def send_one(
    state: ProcessState, target: Target, client: HTTPClient, t_sched_ns: int | None = None
) -> RequestTiming:
    """Send one prepared request, measure it and record it in the process's aggregate."""
    prep = target.next_request()
    timeout_s = state.options.timeout_s
    send_wall = _wall()
    t_send = _perf_ns()
    resp = None
    size = 0
    # the whole request is bounded by the timeout, however slowly the bytes keep coming
    # (a drip); one timer per request, cancelled before anything else can switch
    deadline = gevent.Timeout(timeout_s, TotalTimeout)
    #: arrival of the latest byte (the headers, then each body block)
    last = [t_send]
    deadline.start()
    try:
        resp = client.request(prep.method, prep.path, body=prep.body, headers=prep.headers)
        t_headers = last[0] = _perf_ns()
        status = resp.status_code
        if not 200 <= status < 300:
            body, _ = _read_body(resp, MAX_ERROR_BODY_BYTES, last)
            size = len(body)
            timing = RequestTiming(
                t_send_ns=t_send, error=http_failure_kind(status), http_status=status
            )
        elif target.stream:
            timing, size = _read_stream(resp, t_send, t_headers, timeout_s, last)
        else:
            body, complete = _read_body(resp, MAX_BODY_BYTES, last)
            size = len(body)
            if complete:
                timing = _decode_body(target, body, t_send, _perf_ns())
            else:
                kind = FailureKind.TOO_LARGE if size >= MAX_BODY_BYTES else FailureKind.TRUNCATED
                timing = RequestTiming(t_send_ns=t_send, error=kind)
    except TotalTimeout:
        timing = RequestTiming(t_send_ns=t_send, error=_timeout_kind(last[0], timeout_s))
    except TimeoutError:
        timing = RequestTiming(t_send_ns=t_send, error=FailureKind.READ_TIMEOUT)
    except HeaderLimitExceeded:
        timing = RequestTiming(t_send_ns=t_send, error=FailureKind.HEADER_LIMIT)
    except LineTooLong:
        timing = RequestTiming(t_send_ns=t_send, error=FailureKind.TOO_LARGE)
    except OSError:
        kind = FailureKind.CONNECT if resp is None else FailureKind.TRUNCATED
        timing = RequestTiming(t_send_ns=t_send, error=kind)
    except HTTPParseError:  # a broken or cut response (closed early, or not HTTP at all)
        timing = RequestTiming(t_send_ns=t_send, error=FailureKind.TRUNCATED)
    except gevent.GreenletExit:
        # the load process is stopping and did not wait for this request: it is counted
        # (a request that was sent and never answered is a failure, not nothing)
        timing = RequestTiming(t_send_ns=t_send, error=FailureKind.UNFINISHED)
        state.record(target, timing, send_wall, _wall(), size)
        raise
    finally:
        deadline.close()
        if resp is not None and resp._sock is not None and not resp.message_complete:
            resp.release()  # closes the connection: the body was not read to its end
    timing.t_sched_ns = t_sched_ns
    headers = prep.headers
    if "x-conformance-ttft-ms" in headers or "x-conformance-itl-ms" in headers:
        # the reference backend's per-request timing: the truth for this request
        timing.true_ttft_ms = _number(headers.get("x-conformance-ttft-ms"))
        timing.true_itl_ms = _number(headers.get("x-conformance-itl-ms"))
    state.record(target, timing, send_wall, _wall(), size)
    return timing


class GenerationUser(User):
    """A closed-loop user: sends the next request as soon as the previous one ends.

    Subclasses fix the dialect (``provider_name``) and the mode (``stream``); a ``None``
    leaves it to ``--provider`` / ``--no-stream``.
    """

    abstract = True
    wait_time = constant(0)
    provider_name: ClassVar[str | None] = None
    stream: ClassVar[bool | None] = None

    def on_start(self) -> None:
        self._load = process_state(self.environment)
        self._target = self._load.target(self.provider_name, self.stream, self.host)
        self._client = new_client(
            self._target, concurrency=1, timeout_s=self._load.options.timeout_s
        )

    @task
    def generate(self) -> None:
        """Requests, measured, one after the other until the run stops.

        The loop stays inside the task rather than returning to Locust between requests:
        Locust kills a user it finds between tasks when the run stops (a zero wait is
        still a wait), and that kill lands once the user has already sent its next
        request, which would then count as ``unfinished`` although the target did
        nothing wrong. Inside the task the user is only told to stop, and the request in
        flight finishes.
        """
        while self._state != LOCUST_STATE_STOPPING:
            send_one(self._load, self._target, self._client)
            gevent.sleep(0)  # a target that answers from the socket buffer never blocks

    def on_stop(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()


class OpenAIChatStreamUser(GenerationUser):
    """OpenAI-style chat completions, streamed (``--provider`` picks the OpenAI-style profile)."""

    provider_name = None
    stream = True


class OpenAIChatUser(GenerationUser):
    """OpenAI-style chat completions, not streamed."""

    provider_name = None
    stream = False


class WetrocloudUser(GenerationUser):
    """Wetrocloud text generation (multipart form, never streamed)."""

    provider_name = "wetrocloud"
    stream = False


class OpenLoopUser(User):
    """An open-loop driver: requests start at scheduled times, whatever the responses do.

    Each driver issues its share of ``--rate`` (constant or Poisson arrivals,
    ``--arrival``, seeded by ``--seed``); each arrival runs on its own greenlet, sent at
    its scheduled time ``t_sched``. When ``--max-in-flight`` requests are already
    running, the arrival is counted as over capacity and not sent (never delayed). Run
    one driver per process (``-u`` = number of processes).
    """

    wait_time = constant(0)
    provider_name: ClassVar[str | None] = None
    stream: ClassVar[bool | None] = None

    @task
    def drive(self) -> None:
        """Issue this driver's arrivals until the run stops."""
        state = process_state(self.environment)
        opts = state.options
        if opts.rate <= 0:
            state.log_error("OpenLoopUser needs --rate R (requests per second, > 0)")
            raise StopUser()
        target = state.target(self.provider_name, self.stream, self.host)
        client = new_client(target, concurrency=opts.max_in_flight, timeout_s=opts.timeout_s)
        stream, streams = state.driver_slot()
        offsets = arrival_offsets(
            opts.rate, opts.arrival, seed=opts.seed, stream=stream, streams=streams
        )
        group = Group()
        cap = opts.max_in_flight
        t0 = _perf_ns()
        try:
            for offset in offsets:
                if self._state == LOCUST_STATE_STOPPING:
                    break  # the run is ending: stop issuing, let in-flight requests drain
                due = t0 + int(offset * 1e9)
                delay = due - _perf_ns()
                if delay > 0:
                    gevent.sleep(delay / 1e9)
                if len(group) >= cap:
                    state.aggregate.record_over_capacity()
                    continue
                group.spawn(send_one, state, target, client, due)
        finally:
            group.join(timeout=max(0.0, state.drain_s))
            group.kill(block=False)
            client.close()
