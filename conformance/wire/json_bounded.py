"""Parse JSON that a target sent, within a depth limit.

``json.loads`` recurses once per nesting level; a 2 KB answer nested 1,100 levels deep
raises ``RecursionError`` there, and an answer nested just under Python's recursion limit
parses but then crashes whatever walks it next (schema validation, ``json.dumps`` of the
evidence, the report). Every place that parses bytes from the target goes through
:func:`parse_json_bounded` instead: it refuses documents nested deeper than
:data:`MAX_JSON_DEPTH` with :class:`JSONTooDeep`, a ``ValueError``, so the callers' usual
"not valid JSON" handling turns it into a failed check with evidence.

Real answers nest a handful of levels (an object, ``choices``, a choice, a ``message``,
``tool_calls``...); :data:`MAX_JSON_DEPTH` leaves ample room.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JSONTooDeep", "json_depth", "json_too_deep", "parse_json_bounded"]

#: the deepest nesting of arrays and objects accepted in a target's JSON
MAX_JSON_DEPTH = 128

# a JSON string (escapes included) or one bracket; strings are skipped so that brackets
# inside them do not count
_TOKENS_B = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_TOKENS_S = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JSONTooDeep(ValueError):
    """The document nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"JSON nested more than {limit} levels deep, beyond the harness's limit "
            "(deeply nested JSON crashes recursive parsers such as Python's json module)"
        )


def json_depth(text: bytes | str, *, stop_at: int | None = None) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``text`` (brackets inside strings do not
    count); the scan stops as soon as the depth exceeds ``stop_at``. Linear, never
    recursive."""
    return _scan(text, stop_at)


def json_too_deep(text: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests arrays and objects deeper than ``limit`` (cheap when it
    holds no more than ``limit`` opening brackets, as nearly every answer does)."""
    return _opening_brackets(text) > limit and _scan(text, limit) > limit


def _scan(text: bytes | str, stop_at: int | None) -> int:
    if isinstance(text, bytes):
        firsts = [m.group()[:1].decode("latin-1") for m in _TOKENS_B.finditer(text)]
    else:
        firsts = [m.group()[:1] for m in _TOKENS_S.finditer(text)]
    depth = deepest = 0
    for first in firsts:
        if first in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_at is not None and deepest > stop_at:
                    return deepest
        elif first in "]}":
            depth -= 1
    return deepest


def _opening_brackets(text: bytes | str) -> int:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


def parse_json_bounded(
    text: bytes | bytearray | str, *, max_depth: int = MAX_JSON_DEPTH, **loads_args: Any
) -> Any:
    """``json.loads(text, **loads_args)``, refusing documents nested deeper than
    ``max_depth``.

    Raises ``ValueError`` for invalid JSON and :class:`JSONTooDeep` (a ``ValueError``)
    for a document that is too deep; never ``RecursionError``.
    """
    data: bytes | str = bytes(text) if isinstance(text, bytearray) else text
    if json_too_deep(data, max_depth):
        raise JSONTooDeep(max_depth)
    try:
        return json.loads(data, **loads_args)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
