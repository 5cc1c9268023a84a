"""Exchange records: what was sent, what came back, and when each byte event arrived.

An :class:`Exchange` is the unit every later layer works on. Checks judge exchanges,
metrics are computed from their timestamps, cassettes store them and replay rebuilds
them. They are plain data: nothing here does I/O. The pure functions that read them
live here too: which error kinds mean a hang (:data:`HANG_KINDS`), and what a
Content-Type or the first bytes of a body say (:func:`media_type`,
:func:`is_event_stream`, :func:`is_json_media_type`, :func:`looks_like_sse`).

All times are ``time.perf_counter_ns()`` values taken in the process that made the
request; only differences between them are meaningful.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from conformance.wire.json_bounded import parse_json_bounded

__all__ = [
    "HANG_KINDS",
    "ErrorKind",
    "Exchange",
    "ExchangeError",
    "RecordedRequest",
    "SSEEvent",
    "WireObservations",
    "is_event_stream",
    "is_json_media_type",
    "looks_like_sse",
    "media_type",
]


class ErrorKind(StrEnum):
    """Why an exchange did not complete normally."""

    CONNECT = "connect"  # could not open a connection (refused, DNS, TLS)
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"  # no byte for longer than the read timeout
    TOTAL_TIMEOUT = "total_timeout"  # the whole exchange took longer than allowed
    TRUNCATED = "truncated"  # the connection closed before the body was complete
    #: the body (after decoding), its events or its header block exceeded a cap; the rest
    #: was not read
    TOO_LARGE = "too_large"
    PROTOCOL = "protocol"  # the peer broke HTTP itself
    #: the body's Content-Encoding was not asked for, or its compressed data is corrupt
    DECODING = "decoding"
    #: not sent: the run's request budget (``--max-requests``) was spent, for example by
    #: redirects that were followed
    NOT_SENT = "not_sent"
    OTHER = "other"  # anything else; judged by robustness.transport_error


#: transport errors that mean "the target did not answer in time"
HANG_KINDS: Final[frozenset[ErrorKind]] = frozenset(
    {ErrorKind.READ_TIMEOUT, ErrorKind.TOTAL_TIMEOUT, ErrorKind.CONNECT_TIMEOUT}
)


@dataclass(frozen=True, slots=True)
class ExchangeError:
    kind: ErrorKind
    message: str
    #: seconds from send to the moment the error was detected
    after_s: float | None = None


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event.

    ``data`` is the joined ``data:`` lines (``None`` when the event had none, which the
    WHATWG rules would not dispatch but which checks need to see). ``t_ns`` is when the
    first byte of the event arrived.
    """

    data: str | None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    t_ns: int = 0
    #: the raw lines of the event as received (line ends normalised to ``\\n``), for evidence
    raw: str = ""

    def json(self) -> Any:
        """The event's data parsed as JSON, within the nesting limit of
        :mod:`conformance.wire.json_bounded` (raises ``ValueError`` when it is not)."""
        if self.data is None:
            raise ValueError("event has no data")
        return parse_json_bounded(self.data)


@dataclass(slots=True)
class WireObservations:
    """Facts about the byte stream that are legal or not, for checks to judge."""

    bom: bool = False
    #: line-end styles seen: any of "lf", "crlf", "cr"
    line_endings: set[str] = field(default_factory=set)
    comments: int = 0
    #: events that had fields but no ``data:`` line
    events_without_data: int = 0
    #: the stream ended with bytes of an event that was never closed by a blank line
    unterminated_last_event: bool = False
    #: lines whose field name is not one of data, event, id, retry (ignored by the rules)
    unknown_fields: int = 0
    #: ``data:`` lines without the optional single space after the colon
    data_without_space: int = 0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """The request as sent, with secrets already redacted."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None


@dataclass(slots=True)
class Exchange:
    """One request and everything observed about its response."""

    #: a short name for what this request probes, e.g. ``"stream.basic"``
    probe: str
    request: RecordedRequest
    status: int | None = None
    #: response headers in arrival order, names lower-cased
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: the raw response body (possibly cut at the size cap, see ``error``)
    body: bytes = b""
    #: raw body chunks as they arrived: (perf_counter_ns, bytes)
    chunks: list[tuple[int, bytes]] = field(default_factory=list)
    #: parsed SSE events when the body was read as a stream, else ``None``
    events: list[SSEEvent] | None = None
    observations: WireObservations | None = None
    t_send_ns: int = 0
    t_headers_ns: int | None = None
    t_end_ns: int | None = None
    error: ExchangeError | None = None
    #: free-form annotations (for example, the parameters the probe asked for)
    meta: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k == lname:
                return v
        return None

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    @property
    def ok(self) -> bool:
        """The exchange completed and the status is 2xx."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON, within the nesting limit of
        :mod:`conformance.wire.json_bounded` (raises ``ValueError`` when it is not)."""
        return parse_json_bounded(self.body)

    def body_excerpt(self, limit: int = 2000) -> str:
        text = self.body[:limit].decode("utf-8", errors="replace")
        if len(self.body) > limit:
            text += f"... [{len(self.body) - limit} more bytes]"
        return text


# --------------------------------------------------------------------------- media types

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
