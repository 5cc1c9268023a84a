"""When a request reached the backend: the start of its promised timing.

The reference backend promises the first token ``ttft`` after the request arrived and
each next one ``itl`` later. Its clock starts when the first bytes of the request are
parsed, not when the application gets the request: between the two, uvicorn builds the
request and the event loop runs the new task after whatever else was ready (under load,
other streams' sends). That wait is the server's, so it belongs inside the backend's own
lateness, not in the error of the client that measures it.

With httptools, the HTTP protocol notes the arrival in the request's scope
(``scope["extensions"]["conformance.received"]``, ``time.monotonic()`` seconds); with
uvicorn's pure-Python parser the application's own entry time is used instead.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["RECEIVED", "http_protocol", "received_at"]

#: the scope extension holding the request's arrival time
RECEIVED = "conformance.received"


def received_at(scope: Mapping[str, Any], now: float) -> float:
    """The request's arrival (``time.monotonic()`` seconds), or ``now`` when not noted."""
    extensions = scope.get("extensions")
    if isinstance(extensions, dict):
        value = extensions.get(RECEIVED)
        if isinstance(value, float) and value <= now:
            return value
    return now


@functools.cache
def http_protocol() -> type | str:
    """uvicorn's ``http`` setting: the httptools protocol noting arrivals, else ``h11``."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed
        return "h11"

    monotonic = time.monotonic

    class ArrivalNotingProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, noting when each request's first byte was parsed."""

        def on_message_begin(self) -> None:
            arrived = monotonic()
            super().on_message_begin()
            scope: Any = self.scope
            extensions = scope.setdefault("extensions", {})
            extensions[RECEIVED] = arrived

    return ArrivalNotingProtocol
