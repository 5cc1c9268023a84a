"""Finding a secret that only appears once a stream's pieces are put together.

A streamed answer spells its text across many events: ``"sk-redte"`` in one delta and
``"am-SECRET"`` in the next never hold the key on their own, but the text a client
assembles does. :func:`reassembled_spans` reads a body the way a client would and
returns the byte ranges, in the raw body, of every character that belongs to a secret
in any of these reassembled texts:

- the concatenation of every event's ``data`` (SSE), or of every line (NDJSON and
  other line-delimited bodies): a secret split across plain-text events;
- for each place in the JSON payloads (the same path: ``choices.0.delta.content``,
  ``choices.0.delta.tool_calls.0.function.arguments``, ``message.content``...), the
  concatenation of the decoded JSON strings found there, event after event: a secret
  split across deltas, whatever escapes each piece used.

A secret cut off by the end of the body (the size cap, a dropped connection) leaves a
prefix behind; a prefix of :data:`FRAGMENT_MIN` characters or more at the very end of a
reassembled text is covered too.

The caller replaces each range where it lies, so every piece loses exactly the
characters of the secret it carried and the rest of the evidence stays readable: the
piece where the secret began gets the placeholder, later pieces lose their part.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from conformance.secrets.spellings import text_pattern

__all__ = ["FRAGMENT_MIN", "Span", "reassembled_spans"]

#: a trailing prefix of a secret this long (or longer) is covered as well
FRAGMENT_MIN = 8

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")
#: a JSON string literal, or one left open by the end of the payload (a cut-off body)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_STRUCTURE = re.compile(rb"[{}\[\],:]")
_SHORT = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


Path = tuple[str | int, ...]
#: a byte range to replace, and whether the placeholder goes there (else it is dropped)
Span = tuple[int, int, bool]
#: where a piece lies: a plain range (start, end), or the ``ordinal``-th JSON string at
#: ``path`` in the value between start and end (found again only when it matters)
_Where = tuple[int, int, Path | None, int]


class _Text:
    """A reassembled text: decoded pieces, each remembering where it lies in the body."""

    def __init__(self) -> None:
        self.where: list[_Where] = []
        self.parts: list[str] = []
        self.offsets: list[int] = [0]

    def add(self, text: str, where: _Where) -> None:
        if text:
            self.where.append(where)
            self.parts.append(text)
            self.offsets.append(self.offsets[-1] + len(text))

    def spans(self, data: bytes, secrets: Sequence[str]) -> Iterator[Span]:
        """Byte ranges of the characters of ``data`` that spell a secret here."""
        if len(self.parts) < 2:
            return  # a single piece holds nothing the raw search missed
        text = "".join(self.parts)
        covered: list[tuple[int, int]] = []
        for secret in secrets:
            covered += [(m.start(), m.end()) for m in text_pattern(secret).finditer(text)]
            tail = _trailing_prefix(text, secret)
            if tail:
                covered.append((len(text) - tail, len(text)))
        for start, end in covered:
            yield from self._byte_ranges(data, start, end)

    def _byte_ranges(self, data: bytes, start: int, end: int) -> Iterator[Span]:
        first = bisect.bisect_right(self.offsets, start) - 1
        marked = True
        for index in range(first, len(self.parts)):
            base = self.offsets[index]
            if base >= end:
                break
            lo, hi = max(start - base, 0), min(end - base, len(self.parts[index]))
            if lo >= hi:
                continue
            located = _locate(data, self.where[index])
            if located is None:
                continue
            bounds = _char_bounds(data, *located)
            hi = min(hi, len(bounds) - 1)
            if lo < hi:
                yield bounds[lo], bounds[hi], marked
                marked = False


def reassembled_spans(data: bytes, secrets: Sequence[str]) -> list[Span]:
    """Byte ranges of ``data`` holding a secret that only its reassembled text shows.

    The first piece of each secret is marked (it gets the placeholder); later pieces
    are not (their part is dropped), so the reassembled text holds one placeholder
    where the secret was, as the same answer sent in one piece would."""
    if not secrets or not data:
        return []
    lines = [(m.start(), m.end()) for m in _LINE.finditer(data) if m.end() > m.start()]
    values = _sse_data(data, lines)
    if values is None:  # not an event stream: every line is a value (NDJSON, plain text)
        values = [(s, _strip_eol(data, s, e)) for s, e in lines]
    joined = _Text()
    by_path: dict[Path, _Text] = {}
    for start, end in values:
        raw = data[start:end]
        joined.add(_decode_plain(raw), (start, end, None, 0))
        seen: dict[Path, int] = {}
        for path, piece in _strings(raw, data, start, end):
            ordinal = seen[path] = seen.get(path, -1) + 1
            by_path.setdefault(path, _Text()).add(piece, (start, end, path, ordinal))
    found: list[Span] = []
    for reassembled in (joined, *by_path.values()):
        found.extend(reassembled.spans(data, secrets))
    return found


def _strings(raw: bytes, data: bytes, start: int, end: int) -> Iterator[tuple[Path, str]]:
    """Every JSON string value of one payload with its path: parsed by the json module
    when it is JSON (fast), else found by the tolerant scanner."""
    if b'"' not in raw:
        return
    if raw.lstrip()[:1] in (b"{", b"[", b'"'):
        try:
            found: list[tuple[Path, str]] = []
            _walk(json.loads(raw), (), found, top=True)
        except (ValueError, RecursionError):
            pass
        else:
            yield from found
            return
    for path, s_start, s_end in _json_strings(data, start, end):
        yield path, _decode_json(data[s_start:s_end])


def _walk(value: Any, path: Path, out: list[tuple[Path, str]], *, top: bool = False) -> None:
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*path, key), out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            # the index in a top-level array (a JSON array of chunks) is left out, so
            # the same place in successive chunks is one text
            _walk(item, path if top else (*path, index), out)


def _locate(data: bytes, where: _Where) -> tuple[int, int, bool] | None:
    """The byte range of a piece and whether it is a JSON string body."""
    start, end, path, ordinal = where
    if path is None:
        return start, end, False
    count = -1
    for found, s_start, s_end in _json_strings(data, start, end):
        if found == path:
            count += 1
            if count == ordinal:
                return s_start, s_end, True
    return None


def _strip_eol(data: bytes, start: int, end: int) -> int:
    while end > start and data[end - 1] in b"\r\n":
        end -= 1
    return end


def _sse_data(data: bytes, lines: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """The byte ranges of every ``data`` field value, or None when no line is one."""
    values = []
    for start, end in lines:
        if data.startswith(b"data", start):
            colon = start + 4
            if colon < end and data[colon : colon + 1] == b":":
                value = colon + 1
                if data[value : value + 1] == b" ":
                    value += 1
                values.append((value, _strip_eol(data, value, end)))
            elif _strip_eol(data, start, end) == colon:  # "data" alone: an empty value
                continue
    return values or None


def _json_strings(data: bytes, start: int, end: int) -> Iterator[tuple[Path, int, int]]:
    """Every JSON string value between ``start`` and ``end``, with its path and the byte
    range of its body (between the quotes). Tolerant: text that is not JSON yields the
    strings it holds, with whatever path its brackets suggest."""
    stack: list[list[str | int | None]] = []  # [kind, key or index]: kind "o" or "a"
    expecting_key = False
    pos = start
    for match in _STRING.finditer(data, start, end):
        for sym in _STRUCTURE.finditer(data, pos, match.start()):
            expecting_key = _step(stack, sym.group(), expecting_key)
        pos = match.end()
        closed = match.end() - match.start() > 1 and data[match.end() - 1] == 0x22
        body = (match.start() + 1, match.end() - 1 if closed else match.end())
        if stack and stack[-1][0] == "o" and expecting_key:
            stack[-1][1] = _decode_json(data[body[0] : body[1]])
            expecting_key = False
            continue
        # the index in a top-level array (a JSON array of chunks) is left out, so the
        # same place in successive chunks is one text
        skip = 1 if stack and stack[0][0] == "a" else 0
        path = tuple(entry[1] for entry in stack[skip:] if entry[1] is not None)
        yield path, body[0], body[1]


def _step(stack: list[list[str | int | None]], sym: bytes, expecting_key: bool) -> bool:
    if sym == b"{":
        stack.append(["o", None])
        return True
    if sym == b"[":
        stack.append(["a", 0])
        return False
    if sym in (b"}", b"]"):
        if stack:
            stack.pop()
        return False
    if sym == b",":
        if stack and stack[-1][0] == "a":
            index = stack[-1][1]
            stack[-1][1] = index + 1 if isinstance(index, int) else 0
            return False
        return bool(stack)
    return False  # ":": a value follows


def _decode_plain(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _decode_json(raw: bytes) -> str:
    if b"\\" not in raw:
        return _decode_plain(raw)
    return "".join(char for char, _, _ in _json_chars(raw, 0, len(raw)))


def _json_chars(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """The characters of a JSON string body with the byte range each came from."""
    pos = start
    while pos < end:
        if data[pos] == 0x5C and pos + 1 < end:  # backslash
            kind = chr(data[pos + 1])
            if kind == "u" and pos + 6 <= end:
                try:
                    unit = int(data[pos + 2 : pos + 6], 16)
                except ValueError:
                    unit = -1
                if unit >= 0:
                    stop = pos + 6
                    if 0xD800 <= unit < 0xDC00 and data[stop : stop + 2] == b"\\u":
                        try:
                            low = int(data[stop + 2 : stop + 6], 16)
                        except ValueError:
                            low = -1
                        if 0xDC00 <= low < 0xE000:
                            code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            yield chr(code), pos, stop + 6
                            pos = stop + 6
                            continue
                    yield chr(unit), pos, stop
                    pos = stop
                    continue
            yield _SHORT.get(kind, kind), pos, pos + 2
            pos += 2
            continue
        stop = min(pos + _utf8_size(data[pos]), end)
        try:
            yield data[pos:stop].decode("utf-8"), pos, stop
        except UnicodeDecodeError:  # one stray byte: one character, as surrogateescape has it
            yield chr(0xDC00 + data[pos]), pos, pos + 1
            stop = pos + 1
        pos = stop


def _utf8_size(lead: int) -> int:
    if lead < 0x80:
        return 1
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    if lead >= 0xC0:
        return 2
    return 1


def _char_bounds(data: bytes, start: int, end: int, json_string: bool) -> list[int]:
    """Byte offsets where each decoded character of ``data[start:end]`` begins, plus
    ``end``: character ``i`` spans ``bounds[i]`` to ``bounds[i + 1]``."""
    if json_string and b"\\" in data[start:end]:
        chars = list(_json_chars(data, start, end))
        return [s for _, s, _ in chars] + [end]
    bounds = [start]
    for char in data[start:end].decode("utf-8", "surrogateescape"):
        bounds.append(bounds[-1] + len(char.encode("utf-8", "surrogateescape")))
    return bounds


def _trailing_prefix(text: str, secret: str) -> int:
    """How many characters at the end of ``text`` begin ``secret`` (at least
    :data:`FRAGMENT_MIN`, else 0)."""
    lowered, wanted = text[-len(secret) :].lower(), secret.lower()
    for size in range(len(secret) - 1, FRAGMENT_MIN - 1, -1):
        if lowered.endswith(wanted[:size]):
            return size
    return 0
