"""An incremental server-sent-events parser that follows the WHATWG event-stream rules.

Feed it the body bytes as they arrive, with the time each chunk arrived; it returns the
events that each chunk completed. It works on whole lines found with ``bytes`` methods
(``split``, ``replace``, ``count``), so the cost per chunk is a few C-level passes plus
one Python step per line, never a Python step per byte.

What it does, rule by rule (https://html.spec.whatwg.org/multipage/server-sent-events.html):

- One leading UTF-8 byte order mark is stripped (and reported in ``observations.bom``),
  even when its three bytes arrive in different chunks.
- Lines end with LF, CRLF or CR. A CR at the very end of a chunk ends the line at once;
  whether it was a CR or the first half of a CRLF is settled by the next chunk (or by
  :meth:`SSEParser.close`), so the events and observations do not depend on how the
  stream was split.
- A line starting with ``:`` is a comment (counted in ``observations.comments``).
- ``field: value`` and ``field:value`` are both valid: one space after the colon is
  dropped. A line without a colon is a field with an empty value.
- ``data`` lines are joined with ``\\n``; ``event``, ``id`` (ignored when it contains
  NUL) and ``retry`` (only ASCII digits) are kept; other field names are ignored and
  counted in ``observations.unknown_fields``.
- A blank line dispatches the event.

Where it deliberately says more than the rules:

- An event block that had field lines but no ``data`` line is returned as an
  :class:`SSEEvent` with ``data=None`` (the rules drop it silently; checks need to see
  it) and counted in ``observations.events_without_data``. A block of comments only is a
  keep-alive and yields nothing.
- ``SSEEvent.id`` is the ``id`` given *in that event* (``None`` when it had none); the
  persistent "last event ID" of the rules is :attr:`SSEParser.last_event_id`.
- ``SSEEvent.t_ns`` is the arrival time of the chunk holding the first byte of the
  event's first field line (leading comment lines are keep-alives, not the event).
- At the end of the stream an event that was never closed by a blank line is *not*
  returned by :meth:`SSEParser.close` (the rules discard it, and so does the official
  OpenAI SDK). It is kept in :attr:`SSEParser.unterminated` and flagged in
  ``observations.unterminated_last_event`` so checks can say exactly what was lost.
"""

from __future__ import annotations

from conformance.wire.exchange import SSEEvent, WireObservations

__all__ = ["SSEParser", "parse_sse"]

_BOM = b"\xef\xbb\xbf"


class SSEParser:
    """Turns a byte stream into :class:`SSEEvent` objects, chunk by chunk.

    >>> p = SSEParser()
    >>> [e.data for e in p.feed(b"data: hello\\n\\n", 0)]
    ['hello']
    """

    __slots__ = (
        "_bom_done",
        "_closed",
        "_data",
        "_event",
        "_event_t",
        "_has_field",
        "_head",
        "_head_t",
        "_id",
        "_partial",
        "_partial_t",
        "_pending_cr",
        "_raw",
        "_retry",
        "last_event_id",
        "observations",
        "unterminated",
    )

    def __init__(self) -> None:
        #: facts about the stream's framing, for checks to judge
        self.observations = WireObservations()
        #: the persistent last event ID of the WHATWG rules
        self.last_event_id: str = ""
        #: after :meth:`close`, the event that the stream ended in the middle of, if any
        self.unterminated: SSEEvent | None = None
        self._bom_done = False
        self._head = b""  # bytes held while deciding whether the stream starts with a BOM
        self._head_t = 0
        self._pending_cr = False  # the last chunk ended with CR: CR or CRLF is not known yet
        self._partial: list[bytes] = []  # pieces of the current, unfinished line
        self._partial_t = 0
        self._closed = False
        self._reset_event()

    def _reset_event(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._has_field = False
        self._event_t = 0
        self._raw: list[str] = []

    # -- feeding ---------------------------------------------------------------------

    def feed(self, data: bytes, t_ns: int) -> list[SSEEvent]:
        """Parse one chunk that arrived at ``t_ns``; return the events it completed."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        if not self._bom_done:
            head = self._head + data
            if len(head) < len(_BOM) and _BOM.startswith(head):
                if not self._head:
                    self._head_t = t_ns
                self._head = head
                return []
            self._bom_done = True
            held, self._head = self._head, b""
            if head.startswith(_BOM):
                self.observations.bom = True
                data = head[len(_BOM) :]
            elif held:
                # not a BOM after all: the held bytes start the first line
                self._partial = [held]
                self._partial_t = self._head_t
        if not data:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == 0x0A:  # the LF of a CRLF split across chunks
                self.observations.line_endings.add("crlf")
                data = data[1:]
                if not data:
                    return []
            else:
                self.observations.line_endings.add("cr")
        return self._feed_lines(data, t_ns)

    def _feed_lines(self, data: bytes, t_ns: int) -> list[SSEEvent]:
        endings = self.observations.line_endings
        if b"\r" in data:
            ends_with_cr = data[-1] == 0x0D
            n_crlf = data.count(b"\r\n")
            n_cr = data.count(b"\r") - n_crlf - (1 if ends_with_cr else 0)
            n_lf = data.count(b"\n") - n_crlf
            if n_crlf:
                endings.add("crlf")
            if n_cr:
                endings.add("cr")
            if n_lf:
                endings.add("lf")
            self._pending_cr = ends_with_cr
            lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        else:
            lines = data.split(b"\n")
            if len(lines) > 1:
                endings.add("lf")
        last = lines.pop()  # the unfinished line (b"" when the chunk ended a line)
        events: list[SSEEvent] = []
        if lines:
            if self._partial:
                self._partial.append(lines[0])
                lines[0] = b"".join(self._partial)
                first_t = self._partial_t
                self._partial = []
            else:
                first_t = t_ns
            line_t = first_t
            for line in lines:
                ev = self._line(line, line_t)
                if ev is not None:
                    events.append(ev)
                line_t = t_ns
        if last:
            if not self._partial:
                self._partial_t = t_ns
            self._partial.append(last)
        return events

    def _line(self, line: bytes, t_ns: int) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        text = line.decode("utf-8", "replace")
        if text[0] == ":":
            self.observations.comments += 1
            self._raw.append(text)
            return None
        self._raw.append(text)
        if not self._has_field:
            self._has_field = True
            self._event_t = t_ns
        name, colon, value = text.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            if colon and value and text[5:6] != " ":
                self.observations.data_without_space += 1
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        else:
            self.observations.unknown_fields += 1
        return None

    def _build(self) -> SSEEvent:
        return SSEEvent(
            data="\n".join(self._data) if self._data else None,
            event=self._event,
            id=self._id,
            retry=self._retry,
            t_ns=self._event_t,
            raw="\n".join(self._raw),
        )

    def _dispatch(self) -> SSEEvent | None:
        if not self._has_field:
            self._reset_event()  # a keep-alive: comments and blank lines only
            return None
        ev = self._build()
        if ev.data is None:
            self.observations.events_without_data += 1
        self._reset_event()
        return ev

    # -- the end ---------------------------------------------------------------------

    def close(self, t_ns: int = 0) -> list[SSEEvent]:
        """End the stream at ``t_ns``.

        Returns the events the end completes, which under the WHATWG rules is always
        none: an event without its closing blank line is discarded. It is kept in
        :attr:`unterminated` instead, and ``observations.unterminated_last_event`` is set.
        Calling it twice is harmless.
        """
        if self._closed:
            return []
        if not self._bom_done:
            self._bom_done = True
            if self._head:
                self._partial = [self._head]
                self._partial_t = self._head_t
                self._head = b""
        if self._pending_cr:
            self._pending_cr = False
            self.observations.line_endings.add("cr")
        if self._partial:
            line = b"".join(self._partial)
            self._partial = []
            self._line(line, self._partial_t)
        if self._has_field:
            self.unterminated = self._build()
            self.observations.unterminated_last_event = True
        self._reset_event()
        self._closed = True
        return []


def parse_sse(data: bytes, t_ns: int = 0) -> tuple[list[SSEEvent], SSEParser]:
    """Parse a whole body at once; returns the events and the closed parser."""
    parser = SSEParser()
    events = parser.feed(data, t_ns)
    parser.close(t_ns)
    return events, parser
