"""Family f: a missing or wrong API key is refused.

Judged only when the run has a key (``--api-key-env``): without one, the target is
either open on purpose (a local server) or every request fails anyway, and a refusal
says nothing. The run's key is seen on the plain ``chat`` request (its auth header, the
key itself redacted); that request must have succeeded, or the key itself is wrong.

401 (no or bad credentials) and 403 (credentials not allowed) both pass: the official
SDK raises ``AuthenticationError`` / ``PermissionDeniedError`` for them, which is what
applications catch to ask for a key. Any other status is a failure with the reason.
"""

from __future__ import annotations

from typing import Any

from conformance.checks._judge import case_evidence, envelope_problems
from conformance.checks.registry import (
    CheckContext,
    Failed,
    ProbeContext,
    ProbeRequest,
    Severity,
    Skipped,
    Warned,
    check,
    probe,
)
from conformance.providers.base import DecodeError, Dialect
from conformance.wire.exchange import Exchange

__all__ = ["WRONG_KEY"]

#: the key sent by the ``wrong_key`` probe: well formed, never valid
WRONG_KEY = "sk-conformance-wrong-key-0000000000000000"
_SOURCE = "OpenAI API reference, Authentication (401 invalid_api_key); RFC 9110 section 15.5.2"


@probe("no_key", priority=30)
def no_key_probe(pctx: ProbeContext) -> ProbeRequest:
    """The plain request sent without any credentials."""
    return ProbeRequest(messages=pctx.messages(), params=_small(pctx), api_key=None)


@probe("wrong_key", priority=31)
def wrong_key_probe(pctx: ProbeContext) -> ProbeRequest:
    """The plain request sent with a well-formed but wrong key."""
    return ProbeRequest(messages=pctx.messages(), params=_small(pctx), api_key=WRONG_KEY)


@probe("no_key_stream", dialects={Dialect.OPENAI}, requires="streaming", priority=32)
def no_key_stream_probe(pctx: ProbeContext) -> ProbeRequest:
    """The plain request streamed, sent without any credentials (a server may
    authenticate its two code paths separately)."""
    return ProbeRequest(
        messages=pctx.messages(), params={**_small(pctx), "stream": True}, api_key=None
    )


def _small(pctx: ProbeContext) -> dict[str, Any]:
    return {"max_tokens": 4} if pctx.capabilities.max_tokens else {}


def _require_key(ctx: CheckContext) -> Exchange:
    """The ``chat`` exchange, when the run has a key and that key works."""
    chat = ctx.completed("chat")
    if not chat.request.header(ctx.provider.auth_header):
        raise Skipped(
            "not judged: the run has no API key (give one with --api-key-env); without "
            "a key, refusing a missing or wrong key cannot be judged"
        )
    status = chat.status or 0
    if not 200 <= status < 300:
        raise Skipped(
            f"not judged: the configured key was itself answered HTTP {chat.status}, so "
            "refusals of other keys prove nothing"
        )
    return chat


def _open_target(ctx: CheckContext) -> bool:
    """Both the keyless and the wrong-key request were answered 2xx: the target does not
    authenticate at all, which an open local server does on purpose (one-sided answers,
    a wrong key accepted but no key refused or the reverse, are a broken check)."""
    for name in ("no_key", "wrong_key"):
        try:
            ex = ctx.completed(name)
        except Skipped:
            return False
        if ex.status is None or not 200 <= ex.status < 300 or not _answered(ctx, ex):
            return False
    return True


def _answered(ctx: CheckContext, ex: Exchange) -> bool:
    """The 2xx body is a real answer, not an error in disguise (``success: false``, an
    error envelope)."""
    try:
        ctx.provider.decode(ex.body)
    except DecodeError:
        return False
    return True


def _judge_refusal(ctx: CheckContext, probe_name: str, what: str) -> str:
    _require_key(ctx)
    ex = ctx.completed(probe_name)
    status = ex.status or 0
    if status in (401, 403):
        return f"{what} refused with HTTP {status}"
    hint = (
        " If this server is meant to be open, run without --api-key-env to skip this check."
        if 200 <= status < 300
        else ""
    )
    if 200 <= status < 300 and _open_target(ctx):
        raise Warned(
            f"{what} was accepted (HTTP {status}), and so was every other request: the "
            "target checks no key at all (an open server, as vLLM or llama.cpp run without "
            "--api-key). If it is meant to need a key, this is a failure; if it is open on "
            "purpose, run without --api-key-env.",
            case_evidence(ex),
        )
    if 200 <= status < 300 and not _answered(ctx, ex):
        why = (
            f"{what} was refused with HTTP {status} and an error body, not 401/403: clients "
            "and the official SDK take a 2xx for a success"
        )
    elif 200 <= status < 300:
        why = f"{what} was accepted (HTTP {status})"
    elif 400 <= status < 500:
        why = (
            f"{what} was refused with HTTP {status}, not 401/403: the official SDK raises "
            f"{'BadRequestError' if status == 400 else 'an APIStatusError'} instead of "
            "AuthenticationError, so clients do not ask for a new key"
        )
    else:
        why = f"{what} was answered HTTP {status}, not 401/403"
    raise Failed(why + "." + hint, case_evidence(ex))


@check(
    id="auth.missing_key_refused",
    fact="auth",
    title="A request without an API key is refused with 401/403",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=("no_key", "no_key_stream", "wrong_key", "chat"),
)
def missing_key_refused(ctx: CheckContext) -> str:
    """When the target needs a key, a request without one is refused with 401 (or 403),
    never answered; a streamed request too (streaming is often served by another code
    path, which may skip the key check)."""
    verdict = _judge_refusal(ctx, "no_key", "a request without a key")
    try:
        ex = ctx.completed("no_key_stream")
    except Skipped:
        return verdict
    status = ex.status or 0
    if status in (401, 403):
        return verdict + f"; streamed too (HTTP {status})"
    what = "accepted" if 200 <= status < 300 else f"answered HTTP {status}"
    raise Failed(
        f"a plain request without a key is refused, but a streamed one was {what}: the "
        "streaming path does not check the key",
        case_evidence(ex),
    )


@check(
    id="auth.wrong_key_refused",
    fact="auth",
    title="A request with a wrong API key is refused with 401/403",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=("wrong_key", "no_key", "chat"),
)
def wrong_key_refused(ctx: CheckContext) -> str:
    """When the target needs a key, a request with a wrong key is refused with 401 (or
    403), never answered."""
    return _judge_refusal(ctx, "wrong_key", "a request with a wrong key")


@check(
    id="auth.error_envelope",
    fact="errors.envelope",
    title="Authentication errors carry the error envelope with a message",
    severity=Severity.CLIENT,
    source=_SOURCE,
    probes=("no_key", "wrong_key", "chat"),
)
def auth_error_envelope(ctx: CheckContext) -> str:
    """A 401/403 answer says why in the dialect's error shape (OpenAI: `{"error":
    {"message", "type", "param", "code"}}`), so the user learns that the key is the
    problem instead of seeing a bare "Error code: 401"."""
    _require_key(ctx)
    refused: list[Exchange] = []
    for name in ("no_key", "wrong_key"):
        try:
            ex = ctx.completed(name)
        except Skipped:
            continue
        if ex.status in (401, 403):
            refused.append(ex)
    if not refused:
        raise Skipped("not judged: neither a missing nor a wrong key was refused with 401/403")
    fatal, minor = envelope_problems(ctx.provider, refused)
    if fatal:
        raise Failed(
            f"an authentication error lacks a usable message: {fatal[0]['problem']}",
            {"bad": fatal, "incomplete": minor},
        )
    if minor:
        raise Warned(
            f"an authentication error envelope is incomplete: {minor[0]['problems'][0]}",
            {"incomplete": minor},
        )
    return f"{len(refused)} authentication error(s), each with the envelope and a message"
