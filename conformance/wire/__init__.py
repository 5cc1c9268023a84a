"""Talking to servers: the wire client, the SSE parser and the exchange records.

``from conformance.wire import WireClient, SSEParser, Exchange`` covers what checks,
the record command and the load generator need.
"""

from conformance.wire.client import DEFAULT_MAX_BODY_BYTES, WireClient
from conformance.wire.exchange import (
    HANG_KINDS,
    ErrorKind,
    Exchange,
    ExchangeError,
    RecordedRequest,
    SSEEvent,
    WireObservations,
    is_event_stream,
    is_json_media_type,
    looks_like_sse,
    media_type,
)
from conformance.wire.json_bounded import MAX_JSON_DEPTH, JSONTooDeep, parse_json_bounded
from conformance.wire.redact import REDACTED, Redactor
from conformance.wire.sse import SSEParser, parse_sse

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "HANG_KINDS",
    "MAX_JSON_DEPTH",
    "REDACTED",
    "ErrorKind",
    "Exchange",
    "ExchangeError",
    "JSONTooDeep",
    "RecordedRequest",
    "Redactor",
    "SSEEvent",
    "SSEParser",
    "WireClient",
    "WireObservations",
    "is_event_stream",
    "is_json_media_type",
    "looks_like_sse",
    "media_type",
    "parse_json_bounded",
    "parse_sse",
]
