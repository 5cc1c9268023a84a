"""The timing definitions, applied to one request's event timeline.

Names (as in the design notes and the bench report):

- ``t_sched``: when the request was due (open-loop runs only); ``t_send``: when it was
  sent; ``t_i``: the arrival of the first byte of SSE event ``i``.
- A *content event* carries non-empty ``content`` (or ``reasoning_content``,
  ``reasoning``, a ``tool_calls`` entry or a ``function_call``) in a choice's delta. A
  role-only first chunk, a ``finish_reason``-only chunk and a trailing usage-only
  chunk are not content events.
- TTFT = first content event - ``t_send``. E2E = last content event - ``t_send``
  (non-streamed: the end of the body - ``t_send``).
- ITL = the gaps between consecutive content events (inter-chunk latency); tokens per
  chunk = ``N_out`` / content events, so coalescing is visible beside ITL (unknown when
  ``N_out`` is the counting fallback, which then undercounts a coalescing server).
- TPOT = (E2E - TTFT) / (``N_out`` - 1), with ``N_out`` = ``usage.completion_tokens``
  when the server sends it, else the number of content events (flagged as a fallback).
- Schedule delay = ``t_send`` - ``t_sched``; latency from schedule = E2E + schedule delay.

Only the chunks the metrics need are parsed as JSON: content events are recognised by a
byte pattern (JSON escapes every quote inside a string, so the pattern cannot match inside
text), and only chunks that carry ``usage`` or ``error`` are parsed. Framing is checked
(each data payload must be a JSON object or ``[DONE]``); the schema is the conformance
checks' business, not the load path's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

__all__ = [
    "FailureKind",
    "RequestTiming",
    "StreamTracker",
    "chunk_has_content",
    "chunk_usage_tokens",
    "http_failure_kind",
    "json_chunk_has_content",
    "timeline_timing",
]

_CONTENT_RE = re.compile(
    rb'"(?:content|reasoning_content|reasoning)"\s*:\s*"(?!")'
    rb'|"tool_calls"\s*:\s*\[\s*\{'
    rb'|"function_call"\s*:\s*\{'
)
#: the usual content chunk: ``"content"`` with a non-empty string, checked where the key is
_CONTENT_AT_RE = re.compile(rb'"content"\s*:\s*"(?!")')
_USAGE_RE = re.compile(rb'"usage"\s*:\s*\{')
_ERROR_RE = re.compile(rb'"error"\s*:')
_CONTENT_KEYS = ("content", "reasoning_content", "reasoning")


class FailureKind(StrEnum):
    """Why a request in a load run failed (the keys of the bench ``errors`` block).

    Not :class:`conformance.wire.exchange.ErrorKind`, which says why one recorded exchange
    of a check run did not complete: a load run also counts HTTP statuses and stream
    contents as failures. The transport kinds share their string values.
    """

    CONNECT = "connect"  # the connection could not be opened
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"  # no byte for longer than the network timeout
    TOTAL_TIMEOUT = "total_timeout"  # bytes kept coming, but the whole answer took too long
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    HTTP_OTHER = "http_other"  # 1xx/3xx as a final status
    TRUNCATED = "truncated"  # the body ended early (no [DONE], connection closed)
    MALFORMED = "malformed"  # a data payload that is not JSON (or not the dialect's shape)
    STREAM_ERROR = "stream_error"  # the server sent an error event inside the stream
    EMPTY = "empty"  # a complete response without a single content event or text
    TOO_LARGE = "too_large"  # the body outgrew the load path's cap and was cut off
    #: the status line and headers outgrew the response-head limit (see the load users)
    HEADER_LIMIT = "header_limit"
    #: still in flight when the load process was stopped (interrupted or forced)
    UNFINISHED = "unfinished"
    OTHER = "other"


def http_failure_kind(status: int) -> FailureKind:
    """The failure kind of a non-2xx final status."""
    if 400 <= status < 500:
        return FailureKind.HTTP_4XX
    if 500 <= status < 600:
        return FailureKind.HTTP_5XX
    return FailureKind.HTTP_OTHER


def chunk_has_content(data: bytes) -> bool:
    """Whether a chunk's JSON text carries content (the byte-pattern fast path).

    The same answer as searching :data:`_CONTENT_RE` anywhere, found faster: every one
    of its alternatives starts with a quoted key, so a chunk holding none of them has no
    content, and the usual chunk is settled by matching at its ``"content"`` key.
    """
    at = data.find(b'"content"')
    if at >= 0:
        if _CONTENT_AT_RE.match(data, at) is not None:
            return True
    elif (
        b'"reasoning' not in data and b'"tool_calls"' not in data and b'"function_call"' not in data
    ):
        return False
    return _CONTENT_RE.search(data) is not None


def json_chunk_has_content(obj: Any) -> bool:
    """The same question answered on the parsed chunk (the reference for the fast path)."""
    if not isinstance(obj, dict):
        return False
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        for key in _CONTENT_KEYS:
            value = delta.get(key)
            if isinstance(value, str) and value:
                return True
        calls = delta.get("tool_calls")
        if isinstance(calls, list) and calls and isinstance(calls[0], dict):
            return True
        if isinstance(delta.get("function_call"), dict):
            return True
    return False


def chunk_usage_tokens(data: bytes) -> int | None:
    """``usage.completion_tokens`` of a chunk that carries a usage object, else ``None``.

    Raises ``ValueError`` when the chunk looks like it carries usage but is not JSON.
    """
    # every match starts with the quoted key: try the pattern where the key is (streams
    # that carry usage say ``"usage":null`` in every chunk but the last)
    at = data.find(b'"usage"')
    while at >= 0 and _USAGE_RE.match(data, at) is None:
        at = data.find(b'"usage"', at + 7)
    if at < 0:
        return None
    obj = orjson.loads(data)
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if isinstance(usage, dict):
        tokens = usage.get("completion_tokens")
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
            return tokens
    return None


@dataclass(slots=True)
class RequestTiming:
    """What one request measured; every duration is in nanoseconds.

    ``error`` is ``None`` for a successful request; ``http_status`` is the final status
    of a request that failed with a non-2xx answer. Durations that are undefined for the
    request (TTFT of a non-streamed request, TPOT with one output token) are ``None``.
    """

    t_send_ns: int
    error: FailureKind | None = None
    http_status: int | None = None
    ttft_ns: int | None = None
    e2e_ns: int | None = None
    itl_ns: list[int] = field(default_factory=list)
    output_tokens: int = 0
    usage_fallback: bool = False
    content_events: int = 0
    t_sched_ns: int | None = None
    #: the timing the server says it was asked to keep (reference backend headers), ms
    true_ttft_ms: float | None = None
    true_itl_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_key(self) -> str | None:
        """The failure kind as the result's ``errors`` block counts it.

        A non-2xx answer is counted by its status (``http_401``, ``http_503``), so a wrong
        key and an overloaded server are told apart; anything else by its kind
        (``read_timeout``, ``truncated``...). ``None`` for a successful request.
        """
        if self.error is None:
            return None
        if self.http_status is not None:
            return f"http_{self.http_status}"
        return str(self.error)

    @property
    def tpot_ns(self) -> float | None:
        """Time per output token after the first: (E2E - TTFT) / (N_out - 1)."""
        if self.ttft_ns is None or self.e2e_ns is None or self.output_tokens < 2:
            return None
        return (self.e2e_ns - self.ttft_ns) / (self.output_tokens - 1)

    @property
    def mean_itl_ns(self) -> float | None:
        """The mean gap between content events of this request."""
        if not self.itl_ns:
            return None
        return sum(self.itl_ns) / len(self.itl_ns)

    @property
    def tokens_per_chunk(self) -> float | None:
        """Output tokens per content event (1.0 when every chunk is one token).

        Unknown (``None``) when ``N_out`` was itself counted from the events (no usage
        from the server): the ratio would read 1.0 whatever the server coalesced.
        """
        if not self.content_events or self.usage_fallback:
            return None
        return self.output_tokens / self.content_events

    @property
    def schedule_delay_ns(self) -> int | None:
        """``t_send`` - ``t_sched`` (open loop only)."""
        return None if self.t_sched_ns is None else self.t_send_ns - self.t_sched_ns

    @property
    def latency_from_sched_ns(self) -> int | None:
        """E2E measured from the scheduled time (open loop only)."""
        if self.t_sched_ns is None or self.e2e_ns is None:
            return None
        return self.e2e_ns + (self.t_send_ns - self.t_sched_ns)


class StreamTracker:
    """Applies the definitions to a stream event by event, keeping only what they need.

    Feed it each dispatched event's arrival time, data and event name; then call
    :meth:`finish`.
    """

    __slots__ = (
        "_first",
        "_gaps",
        "_last",
        "_n",
        "done",
        "error",
        "t_send_ns",
        "usage_tokens",
    )

    def __init__(self, t_send_ns: int) -> None:
        self.t_send_ns = t_send_ns
        self._first = 0
        self._last = 0
        self._n = 0
        self._gaps: list[int] = []
        #: ``usage.completion_tokens`` from the last chunk that carried usage
        self.usage_tokens: int | None = None
        #: ``data: [DONE]`` was seen
        self.done = False
        self.error: FailureKind | None = None

    def on_event(self, t_ns: int, data: bytes | None, event: bytes | None = None) -> None:
        """One dispatched SSE event whose first byte arrived at ``t_ns``."""
        if self.done or data is None:
            return
        if event is not None and event == b"error":
            if self.error is None:
                self.error = FailureKind.STREAM_ERROR
            return
        if not (data.startswith(b"{") and data.endswith(b"}")):
            if data.strip() == b"[DONE]":
                self.done = True
            elif self.error is None:
                self.error = FailureKind.MALFORMED
            return
        if chunk_has_content(data):
            if self._n:
                self._gaps.append(t_ns - self._last)
            else:
                self._first = t_ns
            self._last = t_ns
            self._n += 1
        if b'"usage"' not in data and b'"error"' not in data:
            return  # the usual chunk: nothing more to look for
        try:
            tokens = chunk_usage_tokens(data)
            if tokens is not None:
                self.usage_tokens = tokens
            elif b'"error"' in data and _ERROR_RE.search(data) is not None:
                obj = orjson.loads(data)
                if isinstance(obj, dict) and obj.get("error") is not None and self.error is None:
                    self.error = FailureKind.STREAM_ERROR
        except ValueError:
            if self.error is None:
                self.error = FailureKind.MALFORMED

    def finish(self, *, complete: bool = True) -> RequestTiming:
        """The request's timing. ``complete`` says the HTTP body ended normally."""
        timing = RequestTiming(t_send_ns=self.t_send_ns, error=self.error)
        n = self._n
        timing.content_events = n
        if n:
            timing.ttft_ns = self._first - self.t_send_ns
            timing.e2e_ns = self._last - self.t_send_ns
            timing.itl_ns = self._gaps
        if self.usage_tokens is not None:
            timing.output_tokens = self.usage_tokens
        else:
            timing.output_tokens = n
            timing.usage_fallback = True
        if timing.error is None:
            if not complete or not self.done:
                timing.error = FailureKind.TRUNCATED
            elif not n:
                timing.error = FailureKind.EMPTY
        return timing


def timeline_timing(
    t_send_ns: int,
    events: Iterable[tuple[int, bytes | None] | tuple[int, bytes | None, bytes | None]],
    *,
    complete: bool = True,
) -> RequestTiming:
    """Apply the definitions to a whole timeline of ``(t_ns, data[, event])`` events."""
    tracker = StreamTracker(t_send_ns)
    for item in events:
        tracker.on_event(item[0], item[1], item[2] if len(item) > 2 else None)
    return tracker.finish(complete=complete)
