"""SSE framing: is a streamed answer an event stream the official SDK can read?

Valid variants must pass: ``data:`` with or without the space, LF / CRLF / CR line
ends, ``:`` comment lines, ``id:`` fields, events split or coalesced across writes.
"""

from __future__ import annotations

from conformance.checks._oai import (
    STREAM_PROBES,
    events_or_skip,
    non_standard_json,
    stream_exchanges,
)
from conformance.checks.evidence import excerpt, exchange_evidence
from conformance.checks.registry import OPENAI_ONLY, CheckContext, Failed, Severity, Warned, check
from conformance.wire.exchange import is_event_stream
from conformance.wire.json_bounded import parse_json_bounded

_WHATWG = "WHATWG HTML, Server-sent events: interpreting an event stream"
_STREAMING = "OpenAI API reference, Chat Completions: stream (server-sent events)"


@check(
    id="sse.stream_when_asked",
    fact="stream",
    title="`stream: true` is answered with an event stream",
    severity=Severity.SDK,
    source=_STREAMING,
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def stream_when_asked(ctx: CheckContext) -> str:
    """A request with `stream: true` gets server-sent events, not one JSON document; the
    SDK reads the body as events and finds none in a plain JSON answer."""
    for ex in stream_exchanges(ctx):
        if ex.events == [] and ex.meta.get("sse_unterminated"):
            continue  # an event stream whose only event was never closed: sse.events_separated
        if ex.events is None or not ex.events:
            body = ex.body.lstrip()
            what = "one JSON document" if body.startswith((b"{", b"[")) else "no events"
            raise Failed(
                f"asked for a stream (probe {ex.probe!r}) and got {what}: "
                f"Content-Type {ex.content_type!r}",
                exchange_evidence(ex, reason=ex.meta.get("sse_skipped")),
            )
    return "every streamed request was answered with events"


@check(
    id="sse.content_type",
    fact="stream.sse",
    title="Streams are served as text/event-stream",
    severity=Severity.CLIENT,
    source=_WHATWG + "; " + _STREAMING,
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def content_type(ctx: CheckContext) -> str:
    """A streamed answer carries `Content-Type: text/event-stream`; browsers' EventSource,
    fetch-event-source and many proxies refuse or buffer anything else."""
    for ex in stream_exchanges(ctx):
        if not is_event_stream(ex.content_type):
            raise Failed(
                f"the stream of probe {ex.probe!r} has Content-Type {ex.content_type!r}, "
                "not text/event-stream",
                exchange_evidence(ex),
            )
    return "text/event-stream"


@check(
    id="sse.no_bom",
    fact="stream.sse",
    title="The stream does not start with a byte order mark",
    severity=Severity.SDK,
    source=_WHATWG + " (a BOM is stripped by browsers but not by the OpenAI SDK's decoder)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def no_bom(ctx: CheckContext) -> str:
    """The event stream starts directly with its first field; a UTF-8 byte order mark
    makes the official SDK misread the first line, losing the first event."""
    for ex in stream_exchanges(ctx):
        if ex.body.startswith(b"\xef\xbb\xbf") or (ex.observations and ex.observations.bom):
            raise Failed(
                f"the stream of probe {ex.probe!r} starts with a UTF-8 BOM (EF BB BF)",
                exchange_evidence(ex, event=0, body=False, first_bytes=ex.body[:24].hex(" ")),
            )
    return "no BOM"


@check(
    id="sse.events_have_data",
    fact="stream.sse",
    title="Every event carries a data line",
    severity=Severity.SDK,
    source=_WHATWG + "; openai-python SSE decoder (an event without data is parsed as empty JSON)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def events_have_data(ctx: CheckContext) -> str:
    """Each event of the stream has a `data:` line; an event made only of `event:`/`id:`
    lines reaches the SDK as an empty payload it cannot decode."""
    for ex in stream_exchanges(ctx):
        events = events_or_skip(ex)
        for pos, event in enumerate(events):
            if event.data is None:
                raise Failed(
                    f"event {pos} of probe {ex.probe!r} has no data line",
                    exchange_evidence(ex, event=pos, body=False),
                )
    return "every event has data"


@check(
    id="sse.events_separated",
    fact="stream.sse",
    title="Events are ended by a blank line",
    severity=Severity.SDK,
    source=_WHATWG + " (an event is dispatched by an empty line)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def events_separated(ctx: CheckContext) -> str:
    """Every event is closed by a blank line. Without it, consecutive `data:` lines merge
    into one event whose data is several JSON documents, and an event left open at the
    end of the body is dropped by every compliant reader."""
    for ex in stream_exchanges(ctx):
        events = events_or_skip(ex)
        for pos, event in enumerate(events):
            data = event.data
            if data is None or "\n" not in data:
                continue
            try:
                parse_json_bounded(data)
            except ValueError:
                lines = [line for line in data.split("\n") if line.strip()]
                if len(lines) > 1 and all(_parses(line) for line in lines):
                    raise Failed(
                        f"event {pos} of probe {ex.probe!r} joins {len(lines)} JSON documents: "
                        "the events were not separated by blank lines",
                        exchange_evidence(ex, event=pos, body=False),
                    ) from None
        pending = ex.meta.get("sse_unterminated")
        if isinstance(pending, dict) and str(pending.get("data") or "").strip() == "[DONE]":
            raise Warned(
                f"the final `data: [DONE]` of probe {ex.probe!r} is not closed by a blank "
                "line; compliant readers drop it (harmless to the SDK, which stops at the end "
                "of the body, but clients that wait for [DONE] never see it)",
                exchange_evidence(
                    ex, event=-1, body=False, unterminated=excerpt(str(pending.get("raw")), 600)
                ),
            )
        if isinstance(pending, dict) and pending.get("data") is not None:
            raise Failed(
                f"the stream of probe {ex.probe!r} ends inside an event that was never closed "
                "by a blank line; readers drop it",
                exchange_evidence(
                    ex, event=-1, body=False, unterminated=excerpt(str(pending.get("raw")), 600)
                ),
            )
    return "events are blank-line separated"


@check(
    id="sse.data_is_json",
    fact="stream.sse",
    title="Every event's data is a JSON object (or [DONE])",
    severity=Severity.SDK,
    source=_STREAMING + "; openai-python Stream (json.loads on every data)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def data_is_json(ctx: CheckContext) -> str:
    """The data of every event is one JSON object, except the final `[DONE]`; the SDK
    raises on the first event it cannot decode."""
    for ex in stream_exchanges(ctx):
        events = events_or_skip(ex)
        for pos, event in enumerate(events):
            if event.data is None or event.data.strip() == "[DONE]":
                continue
            try:
                value = parse_json_bounded(event.data)
            except ValueError as exc:
                raise Failed(
                    f"event {pos} of probe {ex.probe!r} is not valid JSON ({exc})",
                    exchange_evidence(ex, event=pos, body=False),
                ) from None
            if not isinstance(value, dict):
                raise Failed(
                    f"event {pos} of probe {ex.probe!r} is JSON but not an object",
                    exchange_evidence(ex, event=pos, body=False),
                )
            problem = non_standard_json(event.data)
            if problem is not None:
                raise Failed(
                    f"event {pos} of probe {ex.probe!r} is not standard JSON: {problem}; "
                    "JSON.parse (the official Node SDK, browsers) throws on it",
                    exchange_evidence(ex, event=pos, body=False),
                )
    return "every event decodes"


def _parses(text: str) -> bool:
    try:
        parse_json_bounded(text)
    except ValueError:
        return False
    return True
