"""Robustness: the target answers in time, completely, within a sane size, at the URL
it was asked at, in an encoding and a nesting depth clients can read, and accepts a plain
valid request.

Transport trouble is judged here, once per run; other checks then report the affected
probes as "not judged". A target that hangs is diagnosed on its first timeout: the engine
stops sending and the remaining checks are skipped with that reason. So that transport
trouble cannot hide behind those skips, the engine adds the failure of a check of
:data:`GUARDS` to a run whose ``--only`` did not select it.
"""

from __future__ import annotations

from typing import Any

from conformance.checks._judge import fail_if_error_instead_of_answer
from conformance.checks._oai import STREAM_PROBES
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import (
    CheckContext,
    Failed,
    Severity,
    Skipped,
    Warned,
    check,
)
from conformance.wire.exchange import HANG_KINDS, ErrorKind, Exchange
from conformance.wire.json_bounded import MAX_JSON_DEPTH, json_too_deep, parse_json_bounded

_HTTP = "RFC 9110 (HTTP semantics) and RFC 9112 (message framing)"
_CORE = ("chat", *STREAM_PROBES)
#: the error kinds a dedicated check of this family judges; any other is judged by
#: robustness.transport_error
_JUDGED_KINDS = frozenset(
    {
        *HANG_KINDS,
        ErrorKind.CONNECT,
        ErrorKind.TRUNCATED,
        ErrorKind.PROTOCOL,
        ErrorKind.TOO_LARGE,
        ErrorKind.DECODING,
        ErrorKind.NOT_SENT,
    }
)
#: checks whose failure the engine reports even when ``--only`` did not select them
GUARDS = frozenset(
    {
        "robustness.complete_body",
        "robustness.body_size",
        "robustness.content_encoding",
        "robustness.json_depth",
        "robustness.no_redirect",
        "robustness.transport_error",
    }
)


def _judged(ctx: CheckContext) -> list[Exchange]:
    exchanges = ctx.all_exchanges()
    if not exchanges:
        # touch a declared probe so the reason (budget, hang...) is reported
        ctx.exchanges("chat")
        raise Skipped("not judged: no request was made")
    return exchanges


@check(
    id="robustness.no_hang",
    basis="http",
    title="The target answers every request within the timeout",
    severity=Severity.CLIENT,
    source=_HTTP + "; clients give up on a silent connection",
    probes=_CORE,
)
def no_hang(ctx: CheckContext) -> str:
    """Every request gets its response headers, and every byte of its body, before the
    timeout (`--timeout`). A server that stalls leaves clients waiting forever."""
    for ex in _judged(ctx):
        if ex.error is not None and ex.error.kind in HANG_KINDS:
            phase = (
                "before any response header"
                if ex.status is None
                else (f"after HTTP {ex.status} and {len(ex.body)} body bytes")
            )
            raise Failed(
                f"probe {ex.probe!r} got no answer in time ({ex.error.kind.value}, {phase}): "
                f"{ex.error.message}",
                exchange_evidence(ex, event=-1),
            )
    return "every request answered in time"


@check(
    id="robustness.stays_up",
    basis="http",
    title="The target accepts a connection for every request",
    severity=Severity.CLIENT,
    source=_HTTP + "; a server that crashes on one request refuses the next ones",
    probes=_CORE,
)
def stays_up(ctx: CheckContext) -> str:
    """Every request of the run can connect: a server that was reachable at the start
    does not go away during the run (a crash on some request, a restart loop)."""
    exchanges = _judged(ctx)
    for ex in exchanges:
        if ex.error is not None and ex.error.kind is ErrorKind.CONNECT:
            raise Failed(
                f"probe {ex.probe!r} could not connect although earlier requests did: "
                f"{ex.error.message}",
                exchange_evidence(ex, body=False),
            )
    return f"{len(exchanges)} requests connected"


@check(
    id="robustness.complete_body",
    basis="http",
    title="Responses are not cut off",
    severity=Severity.SDK,
    source=_HTTP + "; OpenAI API reference, Chat Completions: stream",
    probes=_CORE,
)
def complete_body(ctx: CheckContext) -> str:
    """Every response arrives whole: the connection is not closed in the middle of the
    body, a JSON answer is complete, and a stream is not cut before its end (no finish
    reason and no `[DONE]`). The SDK raises on a cut body and silently returns a partial
    answer from a cut stream."""
    for ex in _judged(ctx):
        if ex.error is not None and ex.error.kind in (ErrorKind.TRUNCATED, ErrorKind.PROTOCOL):
            raise Failed(
                f"the response to probe {ex.probe!r} was cut: {ex.error.message}",
                exchange_evidence(ex, event=-1),
            )
        if ex.error is not None or ex.status is None or not 200 <= ex.status < 300:
            continue
        if ex.events:
            if not _stream_finished(ex):
                raise Failed(
                    f"the stream of probe {ex.probe!r} stops after {len(ex.events)} events "
                    "without a finish_reason or [DONE]",
                    exchange_evidence(ex, event=-1, body=False),
                )
        elif ex.events is None and (ex.content_type or "").startswith("application/json"):
            try:
                parse_json_bounded(ex.body)
            except ValueError as exc:
                raise Failed(
                    f"the JSON body of probe {ex.probe!r} is incomplete or invalid ({exc})",
                    exchange_evidence(ex),
                ) from None
    return "every response complete"


def _stream_finished(ex: Exchange) -> bool:
    pending = ex.meta.get("sse_unterminated")
    if isinstance(pending, dict) and str(pending.get("data") or "").strip() == "[DONE]":
        return True
    for event in reversed(ex.events or []):
        data = (event.data or "").strip()
        if data == "[DONE]" or '"finish_reason":"' in data.replace(" ", ""):
            return True
        if '"error"' in data and _reports_error(data):
            return True  # an in-stream error ends the stream legitimately
    return False


def _reports_error(data: str) -> bool:
    """The event reports an error: its JSON has an ``error`` that is set (a chunk that
    carries ``"error": null`` reports nothing), or it is not JSON at all."""
    try:
        value = parse_json_bounded(data)
    except ValueError:
        return True
    return not isinstance(value, dict) or bool(value.get("error"))


@check(
    id="robustness.body_size",
    basis="http",
    title="Responses stay within a sane size",
    severity=Severity.CLIENT,
    source="harness limits on one response: 16 MiB of body after decoding, 100,000 SSE "
    "events, 100 KiB of headers (the wire client's caps, as documented)",
    probes=_CORE,
)
def body_size(ctx: CheckContext) -> str:
    """No response is larger than the harness's caps: 16 MiB of body once its
    Content-Encoding is undone (a few KB of gzip can inflate to gigabytes), 100,000 events
    in one stream, 100 KiB of headers. A short completion that streams endless bytes, a
    compression bomb or a flood of headers exhausts client memory."""
    for ex in _judged(ctx):
        if ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE:
            extra: dict[str, Any] = {
                key: ex.meta[key]
                for key in ("discarded_bytes", "discarded_events", "chunks_merged")
                if key in ex.meta
            }
            encoding = ex.header("content-encoding")
            if encoding:
                extra["content_encoding"] = encoding
            raise Failed(
                f"the response to probe {ex.probe!r} exceeded the size cap: {ex.error.message}",
                exchange_evidence(ex, event=-1, **extra),
            )
    return "sane sizes"


@check(
    id="robustness.content_encoding",
    basis="http",
    title="Compressed answers use an accepted encoding and decode cleanly",
    severity=Severity.SDK,
    source="RFC 9110 section 8.4 (Content-Encoding) and 12.5.3 (Accept-Encoding)",
    probes=_CORE,
)
def content_encoding(ctx: CheckContext) -> str:
    """A compressed body uses a coding the request accepted (the harness sends
    `Accept-Encoding: gzip, deflate`) and its compressed data is intact. A client that
    did not ask for `br` or `zstd` cannot read such a body, and corrupt gzip makes the
    SDK's HTTP library raise a DecodingError."""
    for ex in _judged(ctx):
        if ex.error is not None and ex.error.kind is ErrorKind.DECODING:
            raise Failed(
                f"the body of probe {ex.probe!r} cannot be decoded: {ex.error.message}",
                exchange_evidence(
                    ex,
                    content_encoding=ex.header("content-encoding"),
                    accept_encoding=ex.request.header("accept-encoding"),
                ),
            )
    return "every body decoded"


@check(
    id="robustness.json_depth",
    basis="http",
    title="JSON answers nest within a sane depth",
    severity=Severity.CLIENT,
    source=f"harness limit: JSON nested at most {MAX_JSON_DEPTH} levels (recursive parsers "
    "such as Python's json module crash near 1,000)",
    probes=_CORE,
)
def json_depth_limit(ctx: CheckContext) -> str:
    """Every JSON body and stream event nests arrays and objects at most 128 levels deep.
    A completion nests a handful; a document nested a thousand levels deep crashes
    recursive parsers (Python's json raises RecursionError) and every client built on
    them."""
    for ex in _judged(ctx):
        for where, text, index in _json_texts(ex):
            if json_too_deep(text, MAX_JSON_DEPTH):
                raise Failed(
                    f"the {where} of probe {ex.probe!r} nests JSON more than "
                    f"{MAX_JSON_DEPTH} levels deep",
                    exchange_evidence(ex, event=index, body=index is None, limit=MAX_JSON_DEPTH),
                )
    return f"JSON nested at most {MAX_JSON_DEPTH} levels"


def _json_texts(ex: Exchange) -> list[tuple[str, bytes | str, int | None]]:
    """The JSON texts of an exchange: its body, or its events' data."""
    if ex.events:
        return [
            (f"stream event {i}", event.data, i)
            for i, event in enumerate(ex.events)
            if event.data and event.data.lstrip()[:1] in ("{", "[")
        ]
    if ex.body.lstrip()[:1] in (b"{", b"["):
        return [("body", ex.body, None)]
    return []


@check(
    id="robustness.no_redirect",
    basis="http",
    title="The endpoint answers where it was asked, without a redirect",
    severity=Severity.CLIENT,
    source="RFC 9110 section 15.4 (redirection); OpenAI API reference (the documented "
    "endpoint URL)",
    probes=_CORE,
)
def no_redirect(ctx: CheckContext) -> str:
    """The API answers at its documented URL. A redirect is a finding: a 301/302/303
    turns the POST into a GET without its body, curl and many HTTP libraries do not follow
    it at all, a hop to another origin drops the credentials, and a loop never ends. By
    default the harness does not follow redirects; with `--follow-redirects` it follows
    them like the official SDK (each hop counting against `--max-requests`) and a
    same-origin 307/308 that ends in an answer is only a warning."""
    warned: Exchange | None = None
    for ex in _judged(ctx):
        hops = ex.meta.get("redirects") or []
        stopped = ex.meta.get("redirect_stopped")
        if ex.status is not None and 300 <= ex.status < 400 and not hops:
            location = ex.header("location")
            raise Failed(
                f"probe {ex.probe!r} was answered HTTP {ex.status}"
                + (f" with a redirect to {location}" if location else " without a Location")
                + "; the API must answer at its own URL (to judge what is behind the "
                "redirect, pass --follow-redirects)",
                exchange_evidence(
                    ex, redirect={"from": ex.request.url, "to": location, "status": ex.status}
                ),
            )
        if not hops:
            continue
        chain = [dict(hop) for hop in hops]
        if (
            stopped
            or any(h.get("credentials_dropped") for h in hops)
            or any(h.get("status") not in (307, 308) for h in hops)
        ):
            why = (
                f"following stopped: {stopped}"
                if stopped
                else "credentials were dropped at a hop to another origin: the answer comes "
                "from a server that never saw the key"
                if any(h.get("credentials_dropped") for h in hops)
                else "a 301/302/303 turns the POST into a GET without its body"
            )
            raise Failed(
                f"probe {ex.probe!r} was redirected {len(hops)} time(s) "
                f"({hops[0]['from']} -> {hops[-1]['to']}); {why}",
                exchange_evidence(ex, redirects=chain),
            )
        warned = warned or ex
    if warned is not None:
        hops = warned.meta["redirects"]
        raise Warned(
            f"probe {warned.probe!r} was redirected ({hops[0]['from']} -> {hops[-1]['to']}, "
            f"HTTP {hops[0]['status']}); the official SDK follows it, clients that do not "
            "follow redirects get no answer",
            exchange_evidence(warned, redirects=[dict(hop) for hop in hops]),
        )
    return "no redirect"


@check(
    id="robustness.transport_error",
    basis="http",
    title="Every request ends in a response the client can read",
    severity=Severity.SDK,
    source=_HTTP,
    probes=_CORE,
)
def transport_error(ctx: CheckContext) -> str:
    """No request ends in a transport error that the other robustness checks do not
    explain (a timeout, a cut body, an oversized answer...): whatever else goes wrong
    while sending the request or reading the answer fails here with the error as
    evidence, so it can never pass as a skipped check. The SDK raises APIConnectionError."""
    for ex in _judged(ctx):
        if ex.error is not None and ex.error.kind not in _JUDGED_KINDS:
            raise Failed(
                f"probe {ex.probe!r} ended in an error ({ex.error.kind.value}): {ex.error.message}",
                exchange_evidence(ex, event=-1),
            )
    return "no unexplained transport error"


@check(
    id="robustness.valid_request_succeeds",
    fact="endpoint",
    title="A plain valid request is answered with success",
    severity=Severity.SDK,
    source="the provider's documentation of its endpoint",
    probes=("chat", "stream"),
)
def valid_request_succeeds(ctx: CheckContext) -> str:
    """The simplest documented request (a one-turn conversation, streamed and not) is
    answered 2xx with the configured key, and the plain answer is an answer, not an
    error sent with a 2xx status (as LM Studio does at a path it does not serve);
    everything else builds on that."""
    judged = 0
    for name in ("chat", "stream"):
        try:
            ex = ctx.completed(name)
        except Skipped:
            continue
        judged += 1
        if ex.status is None or not 200 <= ex.status < 300:
            error = ctx.provider.decode_error(ex.status or 0, ex.body)
            why = f": {error.message}" if error.message else ""
            hint = ""
            if ex.status in (401, 403) and not ex.request.header(ctx.provider.auth_header):
                var = type(ctx.provider).api_key_env
                hint = f" (no API key was sent: set ${var} or pass --api-key-env)"
            raise Failed(
                f"a valid request (probe {name!r}) was answered HTTP {ex.status}{why}{hint}",
                exchange_evidence(ex),
            )
        fail_if_error_instead_of_answer(
            ctx.provider,
            ex,
            f"a valid request (probe {name!r})",
            hint=" (if the base URL is wrong, the server may be answering a path it does not serve)",
        )
    if not judged:
        ctx.exchanges("chat")  # report why the basic probe is missing
        raise Skipped("not judged: no basic request completed")
    return "2xx"
