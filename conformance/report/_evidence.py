"""A failed check's evidence as labelled parts: the request, the response, the offending
SSE event and the other facts, cut to a readable length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conformance.report._format import truncate
from conformance.wire.json_bounded import parse_json_bounded

#: Longest piece of evidence text shown; the rest is summarised.
EVIDENCE_LIMIT = 6000


@dataclass(frozen=True)
class EvidencePart:
    """One labelled piece of evidence: a heading, key/value rows and a preformatted body."""

    title: str
    line: str = ""
    rows: tuple[tuple[str, str], ...] = ()
    body: str = ""


def evidence_parts(evidence: dict[str, Any]) -> tuple[EvidencePart, ...]:
    """Evidence as labelled parts: the request, the response, the offending event, the rest.

    Every string here came from a server or a recording and is untrusted; the templates
    escape it (autoescape) and it is cut to a readable length.
    """
    parts = []
    rest = dict(evidence)
    request = rest.pop("request", None)
    if request is not None:
        parts.append(_http_part("Request", request, first=("method", "url")))
    response = rest.pop("response", None)
    if response is not None:
        parts.append(_http_part("Response", response, first=("status", "reason")))
    event = rest.pop("event", None)
    if event is not None:
        parts.append(_event_part(event))
    facts: list[tuple[str, str]] = []
    for key, value in rest.items():
        name = key.replace("_", " ").capitalize()
        if _is_short(value):
            facts.append((name, value if isinstance(value, str) else json.dumps(value)))
        else:
            parts.append(EvidencePart(title=name, body=_pretty(value)))
    if facts:
        parts.append(EvidencePart(title="Other facts", rows=tuple(facts)))
    return tuple(parts)


def _is_short(value: Any) -> bool:
    """A scalar that reads well in a key/value row (no block of its own)."""
    if isinstance(value, str):
        return len(value) <= 160 and "\n" not in value
    return value is None or isinstance(value, bool | int | float)


def _http_part(title: str, value: Any, *, first: tuple[str, str]) -> EvidencePart:
    """A request or response: a first line, headers as rows, the body below."""
    if not isinstance(value, dict):
        return EvidencePart(title=title, body=_pretty(value))
    rest = dict(value)
    words = [str(rest.pop(k)) for k in first if rest.get(k) is not None]
    if title == "Response" and words:
        words[0] = f"HTTP {words[0]}"
    line = " ".join(words)
    headers = rest.pop("headers", None)
    rows: list[tuple[str, str]] = []
    if isinstance(headers, dict):
        rows = [(str(k), truncate(str(v), 500)) for k, v in headers.items()]
    elif isinstance(headers, list):
        for h in headers:
            if isinstance(h, list | tuple) and len(h) == 2:
                rows.append((str(h[0]), truncate(str(h[1]), 500)))
    body = rest.pop("body", None)
    if body is None:
        body = rest.pop("body_excerpt", None)
    facts = [line] if line else []
    if isinstance(rest.get("events"), int):
        facts.append(f"{rest.pop('events')} SSE events")
    if isinstance(rest.get("body_bytes"), int):
        facts.append(f"{rest.pop('body_bytes'):,} bytes")
    error = rest.pop("error", None)
    if isinstance(error, dict):
        kind, message, after = error.get("kind"), error.get("message"), error.get("after_s")
        text = "transport error"
        if kind:
            text += f" {kind}"
        if isinstance(after, int | float):
            text += f" after {after:g} s"
        if message:
            text += f": {message}"
        facts.append(truncate(text, 500))
    elif error is not None:
        facts.append(truncate(f"error: {error}", 500))
    for key in [k for k, v in rest.items() if _is_short(v)]:
        facts.append(f"{key} {rest.pop(key)}")
    text = _pretty_body(body) if body not in (None, "") else ""
    if rest:
        extra = _pretty(rest)
        text = f"{text}\n\n{extra}" if text else extra
    return EvidencePart(title=title, line=" · ".join(facts), rows=tuple(rows), body=text)


def _event_part(event: Any) -> EvidencePart:
    """The offending SSE event: where it was in the stream, and its text."""
    if not isinstance(event, dict):
        return EvidencePart(title="Offending SSE event", body=_pretty(event))
    rest = dict(event)
    text = rest.pop("raw", None)
    if text is None:
        text = rest.pop("data", None)
    index, total = rest.pop("index", None), rest.pop("of", None)
    where = []
    if isinstance(index, int):
        where.append(f"event {index}" + (f" of {total}" if isinstance(total, int) else ""))
        where.append("counting from 0")
    where += [f"{k} {v}" for k, v in rest.items() if _is_short(v)]
    leftovers = {k: v for k, v in rest.items() if not _is_short(v)}
    body = _pretty_body(text) if text is not None else ""
    if leftovers:
        body = f"{body}\n\n{_pretty(leftovers)}" if body else _pretty(leftovers)
    return EvidencePart(title="Offending SSE event", line=", ".join(where), body=body)


def _pretty_body(body: Any) -> str:
    """A body as text; a JSON document is indented so it can be read."""
    if not isinstance(body, str):
        return _pretty(body)
    stripped = body.strip()
    if stripped[:1] in ("{", "[") and len(stripped) < 50_000:
        try:
            # evidence quotes the target's bytes: parsed within a depth limit
            return truncate(
                json.dumps(parse_json_bounded(stripped), indent=2, ensure_ascii=False),
                EVIDENCE_LIMIT,
            )
        except (ValueError, RecursionError):
            pass
    return truncate(body, EVIDENCE_LIMIT)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return truncate(value, EVIDENCE_LIMIT)
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return truncate(text, EVIDENCE_LIMIT)
