"""Robustness: the target answers in time, completely, within a sane size, and accepts
a plain valid request.

Transport trouble is judged here, once per run; other checks then report the affected
probes as "not judged". A target that hangs is diagnosed on its first timeout: the engine
stops sending and the remaining checks are skipped with that reason.
"""

from __future__ import annotations

from conformance.checks._judge import fail_if_error_instead_of_answer
from conformance.checks._oai import STREAM_PROBES
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import HANG_KINDS, CheckContext, Failed, Severity, Skipped, check
from conformance.wire.exchange import ErrorKind, Exchange
from conformance.wire.json_bounded import parse_json_bounded

_HTTP = "RFC 9110 (HTTP semantics) and RFC 9112 (message framing)"
_CORE = ("chat", *STREAM_PROBES)


def _judged(ctx: CheckContext) -> list[Exchange]:
    exchanges = ctx.all_exchanges()
    if not exchanges:
        # touch a declared probe so the reason (budget, hang...) is reported
        ctx.exchanges("chat")
        raise Skipped("not judged: no request was made")
    return exchanges


@check(
    id="robustness.no_hang",
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
    title="Response bodies stay within a sane size",
    severity=Severity.CLIENT,
    source="harness limit on the size of one response (16 MiB, the wire client's cap)",
    probes=_CORE,
)
def body_size(ctx: CheckContext) -> str:
    """No response is larger than the harness's cap (16 MiB by default); a short
    completion that streams endless bytes exhausts client memory."""
    for ex in _judged(ctx):
        if ex.error is not None and ex.error.kind is ErrorKind.TOO_LARGE:
            raise Failed(
                f"the response to probe {ex.probe!r} exceeded the size cap: {ex.error.message}",
                exchange_evidence(ex, event=-1),
            )
    return "sane sizes"


@check(
    id="robustness.valid_request_succeeds",
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
            location = ex.header("location") if ex.status and 300 <= ex.status < 400 else None
            if location:
                kept = ex.status in (307, 308)
                hint = f" (a redirect to {location}: " + (
                    "the official SDK follows a 307/308 and resends the request, this "
                    "harness does not; if that is the endpoint, give its base URL with "
                    "--base-url)"
                    if kept
                    else "clients that follow it resend a POST as a GET and lose the body)"
                )
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
