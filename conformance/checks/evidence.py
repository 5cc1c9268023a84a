"""Evidence for check verdicts: what was asked, what came back, which event was wrong.

Every helper returns a small JSON-able dict with bounded sizes, so a result file stays
readable even when a target answers with megabytes. Request headers come from
:class:`~conformance.wire.exchange.RecordedRequest`, where the wire client has already
redacted credentials; :func:`redact_headers` is applied again as a second guard.
"""

from __future__ import annotations

from typing import Any

from conformance.secrets import REDACTED, credential_value, is_credential_header
from conformance.wire.exchange import Exchange, RecordedRequest, SSEEvent

__all__ = [
    "BODY_LIMIT",
    "EVENT_LIMIT",
    "event_evidence",
    "excerpt",
    "exchange_evidence",
    "redact_headers",
    "request_summary",
    "response_summary",
]

#: characters of a request or response body kept as evidence
BODY_LIMIT = 1500
#: characters of one SSE event kept as evidence
EVENT_LIMIT = 600
_RESPONSE_HEADERS_KEPT = 12


def excerpt(data: bytes | str | None, limit: int = BODY_LIMIT) -> str:
    """At most ``limit`` characters of ``data``, with a note of how much was cut."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        total = len(data)
        text = data[: limit * 4].decode("utf-8", errors="replace")
        unit = "bytes"
    else:
        text = data
        total = len(data)
        unit = "chars"
    if len(text) > limit or total > limit:
        cut = text[:limit]
        return f"{cut}... [{total} {unit} in all]"
    return text


def redact_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict with credentials masked (keeps the auth scheme word)."""
    return {
        name: credential_value(value, REDACTED) if is_credential_header(name) else value
        for name, value in headers
    }


def request_summary(request: RecordedRequest) -> dict[str, Any]:
    """Method, URL, redacted headers and a body excerpt of the request."""
    return {
        "method": request.method,
        "url": request.url,
        "headers": redact_headers(request.headers),
        "body": excerpt(request.body),
    }


def response_summary(ex: Exchange, *, body: bool = True) -> dict[str, Any]:
    """Status, a few headers, timing and a body excerpt of the response."""
    summary: dict[str, Any] = {"status": ex.status}
    if ex.headers:
        kept = redact_headers(ex.headers[:_RESPONSE_HEADERS_KEPT])
        summary["headers"] = kept
    if body:
        summary["body"] = excerpt(ex.body)
        summary["body_bytes"] = len(ex.body)
    if ex.events is not None:
        summary["events"] = len(ex.events)
    if ex.error is not None:
        summary["error"] = {
            "kind": ex.error.kind.value,
            "message": ex.error.message,
            "after_s": ex.error.after_s,
        }
    return summary


def event_evidence(events: list[SSEEvent], index: int) -> dict[str, Any]:
    """One SSE event (its position and raw text), for pointing at the culprit."""
    event = events[index]
    return {
        "index": index,
        "of": len(events),
        "raw": excerpt(event.raw or (event.data or ""), EVENT_LIMIT),
    }


def exchange_evidence(
    ex: Exchange,
    *,
    event: int | None = None,
    body: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """The standard evidence of a verdict: request, response and optionally an event.

    ``event`` is the index of the offending SSE event (negative indexes count from the
    end); the response body is left out when the event says enough (``body=False``).
    ``extra`` keys (expected/actual values...) are added as they are.
    """
    evidence: dict[str, Any] = {
        "probe": ex.probe,
        "request": request_summary(ex.request),
        "response": response_summary(ex, body=body),
    }
    label = ex.meta.get("label")
    if label:
        evidence["label"] = label
    if event is not None and ex.events:
        idx = event if event >= 0 else len(ex.events) + event
        if 0 <= idx < len(ex.events):
            evidence["event"] = event_evidence(ex.events, idx)
    evidence.update(extra)
    return evidence
