"""A line-level SSE scanner for the load path, equivalent to :class:`SSEParser` on its input.

:class:`conformance.wire.sse.SSEParser` is the harness's reference parser: it records
every fact the conformance checks judge (line-end styles, comments, raw text). Under load
the metrics need only each event's data, its name and the arrival time of its first
byte, so this scanner keeps bytes as bytes and does one split per received block and a
couple of byte comparisons per line.

It handles LF line ends itself. A byte-order mark at the start or a CR anywhere (CR and
CRLF line ends) hands the stream to :class:`SSEParser` (with the unfinished event replayed
into it), so every valid stream is parsed by the same rules; tests prove both give the
same events and arrival times on the same bytes, however they are split.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.wire.exchange import SSEEvent
from conformance.wire.sse import SSEParser

__all__ = ["MAX_LINE", "EventScanner", "EventSink", "LineTooLong"]

#: the longest SSE line the fast path holds (an endless line must not eat the memory)
MAX_LINE = 8 * 1024 * 1024


class LineTooLong(ValueError):
    """A line grew past :data:`MAX_LINE` without ending."""


#: receives (arrival time of the event's first field line in ns, data or None, event name or None)
EventSink = Callable[[int, bytes | None, bytes | None], None]


class EventScanner:
    """Feeds dispatched events to ``sink`` as body bytes arrive."""

    __slots__ = (
        "_block",
        "_data",
        "_event",
        "_event_t",
        "_fallback",
        "_has_field",
        "_partial",
        "_partial_t",
        "_sink",
        "_started",
    )

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._partial = b""
        self._partial_t = 0
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._has_field = False
        self._event_t = 0
        #: the complete lines of the current event, kept to replay into the fallback parser
        self._block: list[bytes] = []
        self._fallback: SSEParser | None = None
        self._started = False

    @property
    def uses_reference_parser(self) -> bool:
        """Whether the stream was handed to :class:`SSEParser` (BOM or CR line ends)."""
        return self._fallback is not None

    def feed(self, data: bytes, t_ns: int) -> None:
        """Scan one block of body bytes that arrived at ``t_ns``."""
        if not data:
            return
        if self._fallback is not None:
            self._emit(self._fallback.feed(data, t_ns))
            return
        if not self._started:
            self._started = True
            if data[0] == 0xEF:  # may be a byte-order mark: let the reference rules decide
                self._switch(data, t_ns)
                return
        if b"\r" in data:
            self._switch(data, t_ns)
            return
        if (
            not self._partial
            and not self._has_field
            and data.startswith(b"data:")
            and data.endswith(b"\n\n")
        ):
            # the common case: whole one-line ``data:`` events, each closed by a blank line
            if data.count(b"\n") == 2:  # exactly one such event
                self._block.clear()
                self._sink(t_ns, data[6:-2] if data[5:6] == b" " else data[5:-2], None)
                return
            pieces = data[:-2].split(b"\n\n")
            if all(b"\n" not in p and p.startswith(b"data:") for p in pieces):
                sink = self._sink
                for piece in pieces:
                    sink(t_ns, piece[6:] if piece[5:6] == b" " else piece[5:], None)
                self._block.clear()
                return
        lines = data.split(b"\n")
        last = lines.pop()
        if lines:
            if self._partial:
                lines[0] = self._partial + lines[0]
                line_t = self._partial_t
                self._partial = b""
            else:
                line_t = t_ns
            block = self._block
            for line in lines:
                if not line:
                    if self._has_field:
                        data_lines = self._data
                        self._sink(
                            self._event_t,
                            b"\n".join(data_lines) if data_lines else None,
                            self._event,
                        )
                        self._data = []
                        self._event = None
                        self._has_field = False
                    block.clear()
                elif line[0] == 0x3A:  # ":" a comment
                    block.append(line)
                else:
                    block.append(line)
                    if not self._has_field:
                        self._has_field = True
                        self._event_t = line_t
                    if line.startswith(b"data"):
                        rest = line[4:]
                        if not rest:
                            self._data.append(b"")
                        elif rest[0] == 0x3A:
                            self._data.append(rest[2:] if rest[1:2] == b" " else rest[1:])
                    elif line.startswith(b"event"):
                        rest = line[5:]
                        if not rest:
                            self._event = b""
                        elif rest[0] == 0x3A:
                            self._event = rest[2:] if rest[1:2] == b" " else rest[1:]
                line_t = t_ns
        if last:
            if not self._partial:
                self._partial_t = t_ns
            self._partial += last
            if len(self._partial) > MAX_LINE:
                raise LineTooLong(f"an SSE line longer than {MAX_LINE} bytes")

    def close(self, t_ns: int = 0) -> None:
        """End of the body. An event never closed by a blank line is dropped, as the rules say."""
        if self._fallback is not None:
            self._emit(self._fallback.close(t_ns))

    # -- the reference path -------------------------------------------------------------

    def _switch(self, data: bytes, t_ns: int) -> None:
        parser = SSEParser()
        self._fallback = parser
        if self._block or self._partial:
            # replay the unfinished event: its lines arrived at the first field's time (or
            # the partial line's time when the event has no complete line yet)
            replay_t = self._event_t if self._has_field else self._partial_t
            head = b"".join(line + b"\n" for line in self._block)
            if head:
                self._emit(parser.feed(head, replay_t))
            if self._partial:
                self._emit(parser.feed(self._partial, self._partial_t))
        self._block = []
        self._partial = b""
        self._emit(parser.feed(data, t_ns))

    def _emit(self, events: list[SSEEvent]) -> None:
        sink = self._sink
        for ev in events:
            sink(
                ev.t_ns,
                None if ev.data is None else ev.data.encode("utf-8"),
                None if ev.event is None else ev.event.encode("utf-8"),
            )
