"""Senders for the engine: one that records the run's key faithfully, one that replays.

The engine sends every request through a *sender* (``asend(request, *, probe, stream,
api_key) -> Exchange``, see :class:`conformance.engine.Sender`). Both senders here wrap
the wire client, so recorded and replayed exchanges are built by exactly the same code
as live ones.

- :class:`RecordingSender` marks which requests carried the run's own key: the wire
  client writes every credential as ``<redacted>``, which would make a request with the
  real key and one with a deliberately wrong key look alike in a cassette. It rewrites
  the credential to ``<API_KEY>`` (the run's key) or ``<REDACTED>`` (any other).
- :class:`ReplaySender` answers from cassettes through a :class:`ReplayRouter` (respx)
  handed to the wire client as its transport: no socket is opened. Each exchange gets
  the recorded arrival times back, and a request that no cassette holds comes back as
  an exchange whose error says so; :meth:`ReplaySender.unavailable` gives the reason,
  which the engine reports as ``skipped``. A documented example that declares the probe
  it stands for (``stands_for: chat``) answers that probe when no recording does: its
  own request is sent instead, and its conversation goes into the exchange's ``meta``
  (``stand_in`` names it), so the checks judge the documented pair, not the documented
  answer against another question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from conformance.cassettes._format import Cassette, plain_data
from conformance.cassettes._io import CassetteSet, read_cassettes
from conformance.cassettes.matching import relative_path
from conformance.cassettes.redact import (
    API_KEY,
    AUTH_SCHEMES,
    CREDENTIAL_HEADERS,
    REDACTED,
    Redactor,
)
from conformance.cassettes.replay import MISS_PREFIX, ReplayRouter, is_miss, restore
from conformance.wire.exchange import Exchange, RecordedRequest

#: the key a replay sends when the environment has none (cassettes never hold a real one)
REPLAY_API_KEY = "replay-placeholder-key"


def _mark_credentials(request: RecordedRequest, placeholder: str) -> RecordedRequest:
    """``request`` with every credential header's secret part set to ``placeholder``.

    A bare scheme word with no credential (``Authorization: Bearer``) is kept as sent.
    """
    headers = []
    for name, value in request.headers:
        if name.lower() in CREDENTIAL_HEADERS and value.strip():
            scheme, sep, rest = value.strip().partition(" ")
            if sep and rest.strip():
                value = f"{scheme} {placeholder}"
            elif sep or scheme.lower() not in AUTH_SCHEMES:
                value = placeholder
        headers.append((name, value))
    return RecordedRequest(request.method, request.url, headers, request.body)


class RecordingSender:
    """Sends through a wire client and keeps every exchange (see the module docstring)."""

    def __init__(self, client: Any, *, api_key: str | None) -> None:
        self.client = client
        self.api_key = api_key
        self._redactor = Redactor([api_key])
        #: every exchange, in the order they completed
        self.exchanges: list[Exchange] = []

    async def asend(
        self, request: httpx.Request, *, probe: str, stream: bool, api_key: str | None
    ) -> Exchange:
        """Send ``request`` live and return its exchange, credentials classified."""
        ex: Exchange = await self.client.asend(request, probe=probe, stream=stream, api_key=api_key)
        sent = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        if [k for k, _ in sent] == [k for k, _ in ex.request.headers]:
            # classify each credential as sent: the run's key or anything else
            headers = [
                (
                    name,
                    self._redactor.credential(raw) if name.lower() in CREDENTIAL_HEADERS else kept,
                )
                for (name, raw), (_, kept) in zip(sent, ex.request.headers, strict=True)
            ]
            ex.request = RecordedRequest(
                ex.request.method, ex.request.url, headers, ex.request.body
            )
        else:
            placeholder = API_KEY if api_key is not None and api_key == self.api_key else REDACTED
            ex.request = _mark_credentials(ex.request, placeholder)
        self.exchanges.append(ex)
        return ex

    async def aclose(self) -> None:
        """Close the wrapped wire client."""
        await self.client.aclose()


class ReplaySender:
    """Answers the engine's requests from cassettes (see the module docstring).

    ``api_key`` is the key the engine sends in replay (default :data:`REPLAY_API_KEY`);
    pass the same value as the run's key so requests that carry it match recordings
    made with the real key. ``delays`` replays the recorded pacing in real time.
    """

    def __init__(
        self,
        cassettes: CassetteSet,
        *,
        base_url: str | None,
        api_key: str | None = REPLAY_API_KEY,
        timeout: float = 30.0,
        delays: bool = False,
        time_scale: float = 1.0,
        ignore_fields: Iterable[str] = (),
    ) -> None:
        from conformance.wire.client import WireClient

        self.cassettes = cassettes
        self.api_key = api_key
        self.router = ReplayRouter(
            cassettes,
            base_url=base_url,
            api_key=api_key,
            delays=delays,
            time_scale=time_scale,
            ignore_fields=ignore_fields,
        )
        self.client = WireClient(timeout=timeout, transport=self.router.transport())
        #: probe -> the documented examples that stand for it, with their cassettes
        self._stand_ins: dict[str, list[tuple[Cassette, Exchange]]] = {}
        for cassette in cassettes.cassettes:
            if cassette.source == "documented" and cassette.stands_for:
                for example in cassette.exchanges:
                    self._stand_ins.setdefault(cassette.stands_for, []).append((cassette, example))
        #: exchanges no cassette held: probe -> the reason
        self.missed: dict[str, str] = {}

    async def asend(
        self, request: httpx.Request, *, probe: str, stream: bool, api_key: str | None
    ) -> Exchange:
        """Answer ``request`` from the cassettes, with the recorded timing restored.

        A request no recording holds is answered by a documented example that stands for
        its probe (same method, path and streaming), sent with the example's own request.
        """
        ex: Exchange = await self.client.asend(request, probe=probe, stream=stream, api_key=api_key)
        recorded = self.router.answered(request)
        if recorded is not None:
            return restore(ex, recorded)
        if is_miss(ex) and ex.error is not None:
            for cassette, example in self._stand_ins.get(probe, []):
                if self._can_stand_in(cassette, example, request, stream):
                    answered = await self._send_example(
                        cassette, example, request, probe=probe, stream=stream, api_key=api_key
                    )
                    if answered is not None:
                        return answered
            self.missed.setdefault(probe, self.unavailable(ex) or ex.error.message)
        return ex

    def _can_stand_in(
        self, cassette: Cassette, example: Exchange, request: httpx.Request, stream: bool
    ) -> bool:
        """Whether ``example`` asks what ``request`` asks, in its own words."""
        base = cassette.base_url or self.cassettes.meta("base_url")
        return (
            example.request.method == request.method
            and relative_path(example.request.url, base)
            == relative_path(str(request.url), self.router.base_url)
            and (example.events is not None) == stream
        )

    async def _send_example(
        self,
        cassette: Cassette,
        example: Exchange,
        request: httpx.Request,
        *,
        probe: str,
        stream: bool,
        api_key: str | None,
    ) -> Exchange | None:
        """Send ``example``'s own request (with ``request``'s credentials) and replay it.

        The exchange carries the example's conversation and parameters in its ``meta``
        (``stand_in`` names the example), so checks judge the documented request and
        answer together, never the documented answer against another question.
        """
        # as bytes: a recorded header may hold Latin-1 text, which httpx would not encode
        headers = [
            (k.encode("latin-1", "replace"), v.encode("latin-1", "replace"))
            for k, v in example.request.headers
            if k.lower() not in CREDENTIAL_HEADERS and k.lower() not in ("host", "content-length")
        ]
        headers += [
            (k, v)
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() in CREDENTIAL_HEADERS
        ]
        own = httpx.Request(
            example.request.method, request.url, headers=headers, content=example.request.body
        )
        ex: Exchange = await self.client.asend(own, probe=probe, stream=stream, api_key=api_key)
        recorded = self.router.answered(own)
        if recorded is None:
            return None
        ex = restore(ex, recorded)
        ex.meta.update(
            plain_data({k: example.meta[k] for k in ("messages", "params") if k in example.meta})
        )
        ex.meta["custom_body"] = "messages" not in example.meta
        ex.meta["stand_in"] = (
            f"{cassette.probe} (documented example{': ' + cassette.note if cassette.note else ''})"
        )
        return ex

    def unavailable(self, exchange: Exchange) -> str | None:
        """Why ``exchange`` could not be replayed (``None`` when it was).

        Checks that need it are to be ``skipped`` with this reason, never failed.
        """
        if not is_miss(exchange) or exchange.error is None:
            return None
        message = exchange.error.message
        return "not in the replayed cassettes: " + message.split(MISS_PREFIX, 1)[1].strip()

    async def aclose(self) -> None:
        """Close the wire client (no network was ever opened)."""
        await self.client.aclose()


def open_replay(
    paths: Sequence[Path] | Path,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = 30.0,
    delays: bool = False,
) -> ReplaySender:
    """A :class:`ReplaySender` over every cassette under ``paths``.

    ``base_url`` defaults to the one the cassettes were recorded with; ``api_key``
    defaults to :data:`REPLAY_API_KEY`. Raises :class:`CassetteError` (exit 2) when a
    cassette is unreadable or there is none.
    """
    from conformance.cassettes._errors import CassetteError

    roots = [paths] if isinstance(paths, Path) else list(paths)
    cassettes = read_cassettes(roots)
    if not cassettes.cassettes:
        where = ", ".join(str(p) for p in roots)
        raise CassetteError(
            f"no cassettes under {where}; record some with 'conformance record --out DIR'"
        )
    return ReplaySender(
        cassettes,
        base_url=base_url or cassettes.meta("base_url"),
        api_key=api_key or REPLAY_API_KEY,
        timeout=timeout,
        delays=delays,
    )
