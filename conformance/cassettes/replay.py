"""Serving recorded exchanges through respx, so the suites run with no network at all.

:class:`ReplayRouter` builds a :class:`respx.Router` from cassettes: one named route per
distinct recorded request (``"<probe>#<n>"``, see :mod:`conformance.cassettes.matching`
for the rules), whose side effect answers with the recorded responses in order, and a
last route (``"miss"``) that answers everything else by raising :class:`CassetteMiss`. Its
:meth:`ReplayRouter.transport` is an httpx transport (sync and async) to hand to any
``httpx.Client`` or to the engine.

Recorded streams are replayed with their recorded chunking: the response body yields
exactly the chunks that arrived when recording. With ``delays=True`` it also waits the
recorded gaps (times ``time_scale``) before each chunk, so timing checks see the recorded
pacing (the headers come at once). Either way :func:`restore` puts the recorded
relative arrival times (and a recorded transport error, such as a timeout, that the
replay could only imitate) back into an exchange the wire client built during replay.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import respx
from respx.patterns import Lookup, Pattern

from conformance.cassettes._io import CassetteSet
from conformance.cassettes.matching import (
    DEFAULT_IGNORED_FIELDS,
    MatchKey,
    carries_other_key,
    carries_run_key,
    credential_shape,
    request_key,
    without_credentials,
)
from conformance.cassettes.redact import CREDENTIAL_HEADERS, Redactor
from conformance.wire.exchange import ErrorKind, Exchange, RecordedRequest
from conformance.wire.sse import SSEParser

#: response headers not replayed as recorded: the recorded body is already decoded and
#: whole, so a transfer or content encoding would make httpx decode it a second time
_HOP_HEADERS = frozenset({"content-encoding", "transfer-encoding", "connection", "keep-alive"})

#: what the message of a miss starts with (the engine turns it into "skipped")
MISS_PREFIX = "no recorded exchange matches"
#: where the key of the recording that answers a request is cached while respx tries
#: the routes (the request's own key when none does)
_KEY_EXTENSION = "conformance_match_key"
#: where the request's own match key is cached
_OWN_KEY_EXTENSION = "conformance_own_match_key"


class _CassetteKey(Pattern):
    """A respx pattern: the request's match key equals a recorded one."""

    lookups = (Lookup.EQUAL,)
    key = "conformance_cassette_key"

    def parse(self, request: httpx.Request) -> Any:
        return request.extensions.get(_KEY_EXTENSION)


class CassetteMiss(httpx.TransportError):
    """Replay was asked for a request that no cassette holds.

    It is a transport error, so a client that never raises (the wire client) records it
    in ``Exchange.error``; :func:`is_miss` recognises such an exchange.
    """


def is_miss(exchange: Exchange) -> bool:
    """Whether an exchange made during replay failed because no cassette held it."""
    return exchange.error is not None and MISS_PREFIX in exchange.error.message


@dataclass(slots=True)
class _Entry:
    """The recorded answers to one distinct request, served in order."""

    key: MatchKey
    exchanges: list[Exchange] = field(default_factory=list)
    served: int = 0

    def next(self) -> Exchange:
        ex = self.exchanges[min(self.served, len(self.exchanges) - 1)]
        self.served += 1
        return ex


class _ReplayStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that yields the recorded chunks, optionally at recorded pace."""

    def __init__(
        self,
        chunks: list[tuple[float, bytes]],
        error: Exception | None,
    ) -> None:
        #: (seconds to wait before the chunk, chunk)
        self._chunks = chunks
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        for wait, chunk in self._chunks:
            if wait > 0:
                time.sleep(wait)
            yield chunk
        if self._error is not None:
            raise self._error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for wait, chunk in self._chunks:
            if wait > 0:
                await asyncio.sleep(wait)
            yield chunk
        if self._error is not None:
            raise self._error


def _transport_error(exchange: Exchange, request: httpx.Request) -> Exception | None:
    """The httpx exception that makes a client see the recorded transport error."""
    err = exchange.error
    if err is None:
        return None
    message = f"replayed: {err.message}"
    kinds: dict[ErrorKind, type[httpx.TransportError]] = {
        ErrorKind.CONNECT: httpx.ConnectError,
        ErrorKind.CONNECT_TIMEOUT: httpx.ConnectTimeout,
        ErrorKind.READ_TIMEOUT: httpx.ReadTimeout,
        ErrorKind.TOTAL_TIMEOUT: httpx.ReadTimeout,
        ErrorKind.TRUNCATED: httpx.RemoteProtocolError,
        ErrorKind.PROTOCOL: httpx.RemoteProtocolError,
    }
    if err.kind == ErrorKind.TOO_LARGE:
        return None  # the recorded body is the part kept under the cap; restore() says so
    return kinds.get(err.kind, httpx.TransportError)(message, request=request)


class ReplayRouter:
    """A respx router that answers requests from cassettes.

    ``base_url`` is the base URL the replaying client uses (paths are matched below it);
    ``api_key`` is the key the replaying client sends, if any (it is recognised as "the
    run's key", never compared with anything recorded). ``delays`` replays the recorded
    pacing, scaled by ``time_scale``.
    """

    def __init__(
        self,
        cassettes: CassetteSet,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        delays: bool = False,
        time_scale: float = 1.0,
        ignore_fields: Iterable[str] = DEFAULT_IGNORED_FIELDS,
    ) -> None:
        self.cassettes = cassettes
        self.base_url = base_url
        self.delays = delays
        self.time_scale = time_scale
        self.ignore_fields = frozenset(ignore_fields)
        self._redactor = Redactor([api_key])
        self._lock = threading.Lock()
        self._entries: dict[MatchKey, _Entry] = {}
        #: (key, recorded exchange) for every request served, in order
        self.served: list[tuple[MatchKey, Exchange]] = []
        #: id(httpx.Request) -> the recorded exchange that answered it, until restored
        self._answered: dict[int, Exchange] = {}
        #: the keys of the requests no cassette held, in order
        self.misses: list[MatchKey] = []
        recorded_redactor = Redactor()
        # recordings answer before documented examples of the same request
        ordered = sorted(cassettes.cassettes, key=lambda c: c.source != "recorded")
        for cassette in ordered:
            base = cassette.base_url or cassettes.meta("base_url")
            for ex in cassette.exchanges:
                key = request_key(
                    ex.request.method,
                    ex.request.url,
                    ex.request.headers,
                    ex.request.body,
                    base_url=base,
                    redactor=recorded_redactor,
                    ignore_fields=self.ignore_fields,
                )
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._entries[key] = _Entry(key)
                entry.exchanges.append(ex)
        #: the looser tiers of matching: credential shape, and no credentials at all
        self._by_shape: dict[MatchKey, list[_Entry]] = {}
        self._by_bare: dict[MatchKey, list[_Entry]] = {}
        for entry in self._entries.values():
            self._by_shape.setdefault(credential_shape(entry.key), []).append(entry)
            self._by_bare.setdefault(without_credentials(entry.key), []).append(entry)
        self.router = respx.Router(assert_all_called=False, assert_all_mocked=True)
        for n, entry in enumerate(self._entries.values()):
            name = f"{entry.exchanges[0].probe}#{n}"
            route = self.router.route(_CassetteKey(entry.key), name=name)
            route.mock(side_effect=self._answerer(entry))
        self.router.route(name="miss").mock(side_effect=self._miss)

    # -- matching ---------------------------------------------------------------------

    def keys(self) -> list[MatchKey]:
        """The match keys of every distinct recorded request, in serving order."""
        return list(self._entries)

    def key_of(self, request: httpx.Request) -> MatchKey:
        """The match key of a request made by the replaying client."""
        return request_key(
            request.method,
            str(request.url),
            request.headers.multi_items(),
            request.content,
            base_url=self.base_url,
            redactor=self._redactor,
            ignore_fields=self.ignore_fields,
        )

    def match(self, key: MatchKey) -> MatchKey | None:
        """The key of the recording that answers a request of key ``key``, if any.

        The tiers of :mod:`conformance.cassettes.matching`.
        """
        if key in self._entries:
            return key
        run_key = carries_run_key(key)
        shaped = self._by_shape.get(credential_shape(key), [])
        same = [e for e in shaped if carries_run_key(e.key) == run_key]
        if same:
            return same[0].key
        if not run_key:
            return None  # no key, or another key: only a recording of that answers
        bare = [
            e
            for e in self._by_bare.get(without_credentials(key), [])
            if not carries_other_key(e.key)
        ]
        bare.sort(key=lambda e: not carries_run_key(e.key))  # stable: recorded order
        if bare:
            return bare[0].key
        return shaped[0].key if shaped else None

    def _cached_key(self, request: httpx.Request) -> MatchKey:
        """The request's own match key (computed once per request)."""
        key = request.extensions.get(_OWN_KEY_EXTENSION)
        if not isinstance(key, MatchKey):
            request.read()
            key = self.key_of(request)
            request.extensions[_OWN_KEY_EXTENSION] = key
            request.extensions[_KEY_EXTENSION] = self.match(key) or key
        return key

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` through the respx router (its match key computed once)."""
        self._cached_key(request)
        return self.router.handler(request)

    def _answerer(self, entry: _Entry) -> Callable[[httpx.Request], httpx.Response]:
        """The side effect of ``entry``'s route: its next recorded answer."""

        def answer(request: httpx.Request) -> httpx.Response:
            with self._lock:
                recorded = entry.next()
                self.served.append((entry.key, recorded))
                self._answered[id(request)] = recorded
            return self._response(recorded, request)

        return answer

    def _miss(self, request: httpx.Request) -> httpx.Response:
        """The last route's side effect: no cassette holds the request."""
        key = self._cached_key(request)
        with self._lock:
            self.misses.append(key)
        raise CassetteMiss(
            f"{MISS_PREFIX} {key.describe()} (the cassettes hold "
            f"{self.cassettes.exchanges} exchange(s); record them to replay this)",
            request=request,
        )

    def _response(self, recorded: Exchange, request: httpx.Request) -> httpx.Response:
        error = _transport_error(recorded, request)
        if recorded.status is None:
            raise error or httpx.TransportError("replayed: no response recorded", request=request)
        headers = [(k, v) for k, v in recorded.headers if k.lower() not in _HOP_HEADERS]
        if any(k == "content-length" for k, _ in headers) and error is None:
            headers = [
                (k, str(len(recorded.body)) if k == "content-length" else v) for k, v in headers
            ]
        # as bytes: httpx would encode text as ASCII, and a server may send Latin-1
        raw_headers = [
            (k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in headers
        ]
        scale = self.time_scale if self.delays else 0.0
        # the headers are answered at once; the wait until the first chunk covers the
        # recorded time to first byte, so chunk times keep their offsets from the send
        previous = 0
        recorded_chunks = recorded.chunks
        if not recorded_chunks and recorded.body:
            recorded_chunks = [(recorded.t_headers_ns or 0, recorded.body)]
        chunks: list[tuple[float, bytes]] = []
        for t, chunk in recorded_chunks:
            chunks.append((max(0, t - previous) / 1e9 * scale, chunk))
            previous = max(previous, t)
        return httpx.Response(
            recorded.status,
            headers=raw_headers,
            stream=_ReplayStream(chunks, error),
            request=request,
            extensions={"conformance_replayed": True},
        )

    # -- public -----------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An httpx transport (usable by sync and async clients) backed by this router."""
        return httpx.MockTransport(self.handler)

    def answered(self, request: httpx.Request) -> Exchange | None:
        """The recorded exchange that answered ``request`` (once; ``None`` if none did)."""
        with self._lock:
            return self._answered.pop(id(request), None)


def _recorded_credentials(sent: RecordedRequest, recorded: RecordedRequest) -> RecordedRequest:
    """``sent`` with the credential headers of ``recorded`` instead of its own.

    The recorded values pass through :meth:`Redactor.credential` again, so a cassette
    written by hand with a real key in it puts only a placeholder into a report.
    """
    redactor = Redactor()

    def is_credential(name: str) -> bool:
        return name.lower() in CREDENTIAL_HEADERS and name.lower() not in ("cookie", "set-cookie")

    headers = [(k, v) for k, v in sent.headers if not is_credential(k)]
    headers += [(k, redactor.credential(v)) for k, v in recorded.headers if is_credential(k)]
    return RecordedRequest(sent.method, sent.url, headers, sent.body)


def restore(exchange: Exchange, recorded: Exchange) -> Exchange:
    """``exchange`` (made during replay) with ``recorded``'s timing and transport error.

    Chunk arrival times become the recorded offsets from this exchange's send time (when
    the chunks are the recorded ones), SSE events are re-timed to match, and the recorded
    header and end times and transport error replace the ones replay produced (replay
    can only imitate a timeout or a cut body).

    The request keeps the credential headers that were recorded (as placeholders, never
    a value): checks that ask whether the run had a key see the recorded answer, so a
    recording made without a key is judged as it was live whatever key the replay has.
    """
    t0 = exchange.t_send_ns
    chunks = exchange.chunks
    exchange = replace(exchange, request=_recorded_credentials(exchange.request, recorded.request))
    if [c for _, c in chunks] == [c for _, c in recorded.chunks]:
        chunks = [(t0 + t, c) for t, c in recorded.chunks]
    restored = replace(
        exchange,
        chunks=chunks,
        t_headers_ns=None if recorded.t_headers_ns is None else t0 + recorded.t_headers_ns,
        t_end_ns=None if recorded.t_end_ns is None else t0 + recorded.t_end_ns,
        error=recorded.error,
    )
    if exchange.events is not None and chunks is not exchange.chunks:
        # the same bytes split the same way, parsed again at the recorded times
        parser = SSEParser()
        events = []
        for t, chunk in chunks:
            events.extend(parser.feed(chunk, t))
        events.extend(parser.close(restored.t_end_ns or 0))
        if [e.raw for e in events] == [e.raw for e in exchange.events]:
            restored.events = events
    return restored
