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
  which the engine reports as ``skipped``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from conformance.cassettes._io import CassetteSet, read_cassettes
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
        #: exchanges no cassette held: probe -> the reason
        self.missed: dict[str, str] = {}

    async def asend(
        self, request: httpx.Request, *, probe: str, stream: bool, api_key: str | None
    ) -> Exchange:
        """Answer ``request`` from the cassettes, with the recorded timing restored."""
        ex: Exchange = await self.client.asend(request, probe=probe, stream=stream, api_key=api_key)
        recorded = self.router.answered(request)
        if recorded is not None:
            ex = restore(ex, recorded)
        elif is_miss(ex) and ex.error is not None:
            self.missed.setdefault(probe, self.unavailable(ex) or ex.error.message)
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
