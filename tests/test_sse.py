"""The incremental SSE parser: one example per WHATWG rule, and properties over splits.

The properties compare :class:`SSEParser` fed in arbitrary chunks with a deliberately
naive reference written here from the WHATWG text (regex line split over the whole
stream, one field at a time), including the arrival time of every event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.wire.exchange import SSEEvent, WireObservations
from conformance.wire.sse import SSEParser, parse_sse

BOM = b"\xef\xbb\xbf"


def feed_all(
    chunks: list[bytes], times: list[int] | None = None
) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for i, chunk in enumerate(chunks):
        events.extend(parser.feed(chunk, times[i] if times else i))
    events.extend(parser.close(len(chunks)))
    return events, parser


def datas(events: list[SSEEvent]) -> list[str | None]:
    return [e.data for e in events]


# -- one example per rule ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sep", "style"), [(b"\n", "lf"), (b"\r\n", "crlf"), (b"\r", "cr")], ids=["lf", "crlf", "cr"]
)
def test_each_line_end_style_frames_events(sep: bytes, style: str) -> None:
    body = b"data: one" + sep + sep + b"data: two" + sep + sep
    events, parser = parse_sse(body)
    assert datas(events) == ["one", "two"]
    assert parser.observations.line_endings == {style}


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    events, parser = feed_all([b"data: a\r", b"\n\r", b"\n"])
    assert datas(events) == ["a"]
    assert parser.observations.line_endings == {"crlf"}


def test_cr_at_chunk_end_followed_by_text_is_a_cr() -> None:
    events, parser = feed_all([b"data: a\r", b"data: b\r", b"\r"])
    assert datas(events) == ["a\nb"]
    assert parser.observations.line_endings == {"cr"}


def test_cr_at_stream_end_is_reported_at_close() -> None:
    events, parser = feed_all([b"data: a\n\r"])
    assert datas(events) == ["a"]
    assert parser.observations.line_endings == {"lf", "cr"}


def test_cr_then_lf_in_separate_chunks_does_not_make_an_extra_blank_line() -> None:
    # "\r" + "\n" is one CRLF: the event must stay open until the real blank line
    events, _ = feed_all([b"data: a\r", b"\n", b"data: b\r\n\r\n"])
    assert datas(events) == ["a\nb"]


def test_comments_are_counted_and_not_events() -> None:
    events, parser = parse_sse(b": keep-alive\n\n:\n\ndata: x\n: inside\n\n")
    assert datas(events) == ["x"]
    assert parser.observations.comments == 3
    assert events[0].raw == "data: x\n: inside"


def test_data_with_and_without_the_optional_space() -> None:
    events, parser = parse_sse(b"data:x\n\ndata: y\n\ndata:  z\n\n")
    assert datas(events) == ["x", "y", " z"]
    assert parser.observations.data_without_space == 1


def test_multi_line_data_is_joined_with_newlines() -> None:
    events, _ = parse_sse(b'data: {\ndata:  "a": 1\ndata: }\n\n')
    assert datas(events) == ['{\n "a": 1\n}']


def test_data_line_without_colon_is_an_empty_data_line() -> None:
    events, _ = parse_sse(b"data\n\ndata\ndata\n\n")
    assert datas(events) == ["", "\n"]


def test_event_id_and_retry_fields() -> None:
    events, parser = parse_sse(b"event: error\nid: 7\nretry: 1500\ndata: {}\n\ndata: next\n\n")
    first, second = events
    assert (first.event, first.id, first.retry, first.data) == ("error", "7", 1500, "{}")
    assert (second.event, second.id, second.retry) == (None, None, None)
    assert parser.last_event_id == "7"


def test_retry_that_is_not_digits_is_ignored() -> None:
    events, _ = parse_sse(b"retry: 10s\ndata: a\n\nretry: -1\ndata: b\n\n")
    assert [e.retry for e in events] == [None, None]


def test_id_with_nul_is_ignored() -> None:
    events, parser = parse_sse(b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n")
    assert [e.id for e in events] == ["1", None]
    assert parser.last_event_id == "1"


def test_unknown_fields_are_ignored_and_counted() -> None:
    events, parser = parse_sse(b"foo: bar\ndata: a\nDATA: b\n\n")
    assert datas(events) == ["a"]
    assert parser.observations.unknown_fields == 2


def test_leading_bom_is_stripped_once() -> None:
    events, parser = parse_sse(BOM + b"data: a\n\n" + BOM + b"data: b\n\n")
    # the second BOM is part of the next field name, so that event has no data line
    assert datas(events) == ["a", None]
    assert parser.observations.bom is True
    assert parser.observations.unknown_fields == 1


def test_bom_split_across_chunks() -> None:
    events, parser = feed_all([b"\xef", b"\xbb", b"\xbfdata: a\n\n"])
    assert datas(events) == ["a"]
    assert parser.observations.bom is True


def test_partial_bom_prefix_that_is_not_a_bom_is_kept() -> None:
    events, parser = feed_all([b"\xef\xbb", b"Xdata: a\n\n"])
    assert parser.observations.bom is False
    assert parser.observations.unknown_fields == 1  # "\ufffdXdata" is not a field name
    assert datas(events) == [None]


def test_event_without_data_is_reported_not_dropped() -> None:
    events, parser = parse_sse(b"event: ping\n\nid: 3\n\ndata: a\n\n")
    assert [(e.event, e.id, e.data) for e in events] == [
        ("ping", None, None),
        (None, "3", None),
        (None, None, "a"),
    ]
    assert parser.observations.events_without_data == 2


def test_blank_lines_alone_dispatch_nothing() -> None:
    events, parser = parse_sse(b"\n\n\r\n\rdata: a\n\n\n\n")
    assert datas(events) == ["a"]
    assert parser.observations.events_without_data == 0


def test_unterminated_event_is_kept_aside_not_returned() -> None:
    parser = SSEParser()
    assert datas(parser.feed(b"data: a\n\ndata: [DONE]", 5)) == ["a"]
    assert parser.close(9) == []
    assert parser.observations.unterminated_last_event is True
    assert parser.unterminated is not None
    assert parser.unterminated.data == "[DONE]"
    assert parser.unterminated.t_ns == 5


def test_unterminated_event_with_a_finished_line() -> None:
    _, parser = parse_sse(b"data: a\n")
    assert parser.observations.unterminated_last_event is True
    assert parser.unterminated is not None and parser.unterminated.data == "a"


def test_trailing_comment_is_not_an_unterminated_event() -> None:
    _, parser = parse_sse(b"data: a\n\n: bye")
    assert parser.observations.unterminated_last_event is False
    assert parser.unterminated is None


def test_utf8_split_inside_a_character() -> None:
    text = "data: héllo ✓ 𝄞\n\n".encode()
    cut = text.index("✓".encode()) + 1
    events, _ = feed_all([text[:cut], text[cut:]])
    assert datas(events) == ["héllo ✓ 𝄞"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    events, _ = parse_sse(b"data: \xff\xfe\n\n")
    assert datas(events) == ["\ufffd\ufffd"]


def test_event_time_is_the_arrival_of_its_first_field_line() -> None:
    parser = SSEParser()
    assert parser.feed(b": ping\n\nda", 100) == []
    assert parser.feed(b"ta: a\n", 200) == []
    events = parser.feed(b"\ndata: b\n\n", 300)
    assert [(e.data, e.t_ns) for e in events] == [("a", 100), ("b", 300)]


def test_feed_after_close_is_an_error_and_close_twice_is_harmless() -> None:
    parser = SSEParser()
    parser.close(0)
    assert parser.close(0) == []
    with pytest.raises(RuntimeError):
        parser.feed(b"data: a\n\n", 1)


def test_empty_chunks_change_nothing() -> None:
    events, _ = feed_all([b"", b"data: a", b"", b"\n", b"", b"\n", b""])
    assert datas(events) == ["a"]


def test_event_json_helper() -> None:
    events, _ = parse_sse(b'data: {"a": [1]}\n\nevent: x\n\n')
    assert events[0].json() == {"a": [1]}
    with pytest.raises(ValueError):
        events[1].json()


def test_a_long_stream_in_small_chunks() -> None:
    body = b"".join(b'data: {"i": %d}\n\n' % i for i in range(2000))
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    events, _ = feed_all(chunks)
    assert [e.json()["i"] for e in events] == list(range(2000))


# -- the reference parser and the properties ----------------------------------------------


@dataclass
class RefEvent:
    data: str | None
    event: str | None
    id: str | None
    retry: int | None
    raw: str
    offset: int  # byte offset of the first field line


@dataclass
class RefResult:
    events: list[RefEvent] = field(default_factory=list)
    obs: WireObservations = field(default_factory=WireObservations)
    unterminated: RefEvent | None = None


_TERMINATOR = re.compile(rb"\r\n|\r|\n")


def reference_parse(stream: bytes) -> RefResult:
    """The WHATWG algorithm, one line at a time over the whole stream."""
    out = RefResult()
    start = 0
    if stream.startswith(BOM):
        out.obs.bom = True
        start = 3
    lines: list[tuple[int, bytes]] = []  # (offset, line)
    pos = start
    for m in _TERMINATOR.finditer(stream, start):
        lines.append((pos, stream[pos : m.start()]))
        out.obs.line_endings.add({b"\r\n": "crlf", b"\r": "cr", b"\n": "lf"}[m.group()])
        pos = m.end()
    tail = stream[pos:]

    state: dict[str, object] = {}

    def reset() -> None:
        state.clear()
        state.update(data=[], event=None, id=None, retry=None, raw=[], offset=None)

    def build() -> RefEvent:
        data = state["data"]
        assert isinstance(data, list)
        raw = state["raw"]
        assert isinstance(raw, list)
        return RefEvent(
            data="\n".join(data) if data else None,
            event=state["event"],  # type: ignore[arg-type]
            id=state["id"],  # type: ignore[arg-type]
            retry=state["retry"],  # type: ignore[arg-type]
            raw="\n".join(raw),
            offset=state["offset"],  # type: ignore[arg-type]
        )

    def process(offset: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if text.startswith(":"):
            out.obs.comments += 1
            state["raw"].append(text)  # type: ignore[attr-defined]
            return
        state["raw"].append(text)  # type: ignore[attr-defined]
        if state["offset"] is None:
            state["offset"] = offset
        if ":" in text:
            name, value = text.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
            elif name == "data" and value:
                out.obs.data_without_space += 1
        else:
            name, value = text, ""
        if name == "data":
            state["data"].append(value)  # type: ignore[attr-defined]
        elif name == "event":
            state["event"] = value
        elif name == "id":
            if "\x00" not in value:
                state["id"] = value
        elif name == "retry":
            if value and all(c in "0123456789" for c in value):
                state["retry"] = int(value)
        else:
            out.obs.unknown_fields += 1

    reset()
    for offset, line in lines:
        if line:
            process(offset, line)
        elif state["offset"] is not None:
            ev = build()
            if ev.data is None:
                out.obs.events_without_data += 1
            out.events.append(ev)
            reset()
        else:
            reset()
    if tail:
        process(pos, tail)
    if state["offset"] is not None:
        out.unterminated = build()
        out.obs.unterminated_last_event = True
    return out


_field_names = st.sampled_from(["data", "data", "data", "event", "id", "retry", "foo", "Data"])
_values = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=12),
    st.sampled_from(["", " ", "  x", "[DONE]", "12", "1\x002", '{"a": 1}', "é✓𝄞"]),
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["field", "field", "field", "bare", "comment", "blank", "blank"]))
    if kind == "blank":
        return b""
    if kind == "comment":
        return (":" + draw(_values)).encode()
    name = draw(_field_names)
    if kind == "bare":
        return name.encode()
    sep = draw(st.sampled_from([":", ": "]))
    return (name + sep + draw(_values)).encode()


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    parts = [BOM] if draw(st.booleans()) else []
    for line in draw(st.lists(lines(), max_size=25)):
        parts.append(line)
        parts.append(draw(st.sampled_from([b"\n", b"\r\n", b"\r"])))
    if draw(st.booleans()) and parts:
        parts.pop()  # end without a final line end now and then
    if draw(st.integers(0, 9)) == 0:
        parts.append(b"\xff")  # a stray invalid byte
    return b"".join(parts)


@st.composite
def splits(draw: st.DrawFn, stream: bytes) -> list[int]:
    """Sorted cut points, biased to land beside CR, LF and inside the BOM."""
    if not stream:
        return []
    special = [i for i, b in enumerate(stream) if b in (0x0D, 0x0A)] + [1, 2, 3]
    cuts = draw(
        st.lists(
            st.one_of(
                st.integers(0, len(stream)),
                st.sampled_from(special).flatmap(lambda i: st.sampled_from([i, i + 1])),
            ),
            max_size=12,
        )
    )
    return sorted({min(max(c, 0), len(stream)) for c in cuts})


def chunked(stream: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    """(start offset, bytes) chunks; empty chunks are kept on purpose."""
    bounds = [0, *cuts, len(stream)]
    return [(bounds[i], stream[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]


def as_tuple(e: SSEEvent) -> tuple[object, ...]:
    return (e.data, e.event, e.id, e.retry, e.raw)


def ref_tuple(e: RefEvent) -> tuple[object, ...]:
    return (e.data, e.event, e.id, e.retry, e.raw)


@given(st.data())
def test_any_split_gives_the_same_events_and_observations(data: st.DataObject) -> None:
    stream = data.draw(streams())
    whole, whole_parser = parse_sse(stream)
    parts = chunked(stream, data.draw(splits(stream)))
    events, parser = feed_all([c for _, c in parts])
    assert [as_tuple(e) for e in events] == [as_tuple(e) for e in whole]
    assert parser.observations == whole_parser.observations
    assert (parser.unterminated and as_tuple(parser.unterminated)) == (
        whole_parser.unterminated and as_tuple(whole_parser.unterminated)
    )


@given(st.data())
def test_parser_agrees_with_the_reference_including_arrival_times(data: st.DataObject) -> None:
    stream = data.draw(streams())
    ref = reference_parse(stream)
    parts = chunked(stream, data.draw(splits(stream)))
    starts = [start for start, _ in parts]
    events, parser = feed_all([c for _, c in parts], times=starts)

    def arrival(offset: int) -> int:
        # the start of the last non-empty chunk holding the byte at ``offset``
        return max(s for s, c in parts if s <= offset and c)

    assert [as_tuple(e) for e in events] == [ref_tuple(e) for e in ref.events]
    assert [e.t_ns for e in events] == [arrival(e.offset) for e in ref.events]
    assert parser.observations == ref.obs
    if ref.unterminated is None:
        assert parser.unterminated is None
    else:
        assert parser.unterminated is not None
        assert as_tuple(parser.unterminated) == ref_tuple(ref.unterminated)
        assert parser.unterminated.t_ns == arrival(ref.unterminated.offset)


@given(streams())
def test_byte_at_a_time_equals_whole(stream: bytes) -> None:
    whole, whole_parser = parse_sse(stream)
    events, parser = feed_all([stream[i : i + 1] for i in range(len(stream))])
    assert [as_tuple(e) for e in events] == [as_tuple(e) for e in whole]
    assert parser.observations == whole_parser.observations
