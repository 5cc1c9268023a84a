"""Family e: invalid input is refused cleanly, and errors say what went wrong.

The ``invalid_requests`` probe draws its cases from
:func:`conformance.strategies.invalid_requests` at run time, through Hypothesis with a
fixed derandomised seed, so every run sends the same cases (and a recorded run replays).
One exchange per case; every bad case is listed in the evidence.

Verdicts, and why:

- a 2xx answer to a request that cannot be given a meaning (malformed JSON, no messages,
  a type no parser coerces) is ``failed``; a 2xx answer to a request that breaks the
  specification but that well-known servers accept on purpose (custom roles, more than
  four stop strings, ``max_tokens: -1``) is ``warned``;
- a 5xx answer is ``failed``: the official SDK retries it (twice by default) and then
  raises ``InternalServerError`` instead of ``BadRequestError``;
- a 4xx body without the error envelope is ``failed`` when the reason is lost (the SDK
  then only says "Error code: 400"), ``warned`` when only ``type``/``param``/``code``
  are missing or mistyped.
- 400 and 422 (FastAPI-based servers) are both fine: the status class is what counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import InvalidArgument

from conformance.checks._judge import case_evidence, envelope_problems, stream_error_signals
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import (
    OPENAI_ONLY,
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
from conformance.providers.base import Dialect, Provider
from conformance.strategies import (
    RANGED_PARAMETERS,
    InvalidRequest,
    Strictness,
    invalid_requests,
)
from conformance.wire.exchange import ErrorKind, Exchange

__all__ = ["MAX_INVALID_CASES", "generate_invalid_cases"]

#: at most this many invalid requests per run (half of them "must refuse" cases)
MAX_INVALID_CASES = 12
#: at most this many of them are sent again with "stream": true
MAX_STREAMED_CASES = 6
#: the header that asks the reference backend to fail mid-stream (ignored elsewhere)
MIDSTREAM_HEADER = "X-Conformance-Midstream-Error"

_SPEC = "OpenAI API reference, Error codes and the error object; openai-python _make_status_error"


def _draw(provider: Provider, strictness: Strictness, examples: int) -> list[InvalidRequest]:
    """Distinct (by label) cases of one strictness, in Hypothesis's derandomised order."""
    try:
        strategy = invalid_requests(provider=provider, strictness=[strictness])
    except InvalidArgument:  # the dialect has no case of this strictness
        return []
    found: dict[str, InvalidRequest] = {}

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: InvalidRequest) -> None:
        found.setdefault(case.label, case)

    collect()
    # a value outside a documented range is judged by errors.temperature_range and
    # errors.top_p_range (conformance.checks.ranges), on requests of their own
    return [
        case
        for case in found.values()
        if not (case.kind == "out_of_range" and case.param in RANGED_PARAMETERS)
    ]


def _spread(cases: list[InvalidRequest], limit: int) -> list[InvalidRequest]:
    """Up to ``limit`` cases, one of each kind before a second of any kind."""
    by_kind: dict[str, list[InvalidRequest]] = {}
    for case in cases:
        by_kind.setdefault(case.kind, []).append(case)
    out: list[InvalidRequest] = []
    while len(out) < limit and any(by_kind.values()):
        for group in by_kind.values():
            if group and len(out) < limit:
                out.append(group.pop(0))
    return out


def generate_invalid_cases(
    provider: Provider, *, count: int = MAX_INVALID_CASES
) -> list[InvalidRequest]:
    """Up to ``count`` distinct invalid requests for ``provider``, drawn by Hypothesis.

    The draw is derandomised (the same cases every run) and bounded by ``count`` and by
    the loaded Hypothesis profile's ``max_examples``. Half the cases (rounded up) are
    ones every conforming server must refuse, the rest ones a strict server refuses; within
    each half every kind of mistake (malformed JSON, wrong type, out of range...) comes
    once before any comes twice.
    """
    count = max(1, min(count, settings().max_examples))
    examples = max(50, count * 15)
    must = _draw(provider, "must_refuse", examples)
    should = _draw(provider, "should_refuse", examples)
    want_must = min(len(must), max((count + 1) // 2, count - len(should)))
    chosen = _spread(must, want_must)
    chosen += _spread(should, count - len(chosen))
    return chosen


def _case_request(
    pctx: ProbeContext, case: InvalidRequest, label: str, *, stream: bool
) -> ProbeRequest:
    body, content_type = case.payload()
    base = case.base or {}
    messages = base.get("messages") if isinstance(base.get("messages"), list) else None
    return ProbeRequest(
        messages=messages or pctx.messages(),
        body=body,
        content_type=content_type,
        stream=stream,
        label=label,
        meta={"case": case.describe(), "mode": "streamed" if stream else "plain"},
    )


@probe("invalid_requests", priority=60)
def invalid_requests_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """Invalid requests generated by Hypothesis, one exchange each; up to
    :data:`MAX_STREAMED_CASES` of them again with ``"stream": true`` (labels ending in
    "(streamed)"), when the profile documents streaming."""
    cases = generate_invalid_cases(pctx.provider)
    out = [
        _case_request(pctx, case, f"{i:02d}: {case.label}", stream=False)
        for i, case in enumerate(cases)
    ]
    if pctx.capabilities.streaming and pctx.provider.dialect is Dialect.OPENAI:
        streamed = [s for s in (case.streamed() for case in cases) if s is not None]
        for i, case in enumerate(streamed[:MAX_STREAMED_CASES]):
            out.append(_case_request(pctx, case, f"s{i:02d}: {case.label}", stream=True))
    return out


@probe("midstream_error", dialects=OPENAI_ONLY, requires="streaming", priority=62)
def midstream_error_probe(pctx: ProbeContext) -> ProbeRequest:
    """A streamed completion that asks the reference backend to fail after 3 tokens
    (other servers ignore the header and answer normally)."""
    params: dict[str, Any] = {"stream": True}
    if pctx.capabilities.max_tokens:
        params["max_tokens"] = 16
    return ProbeRequest(
        messages=pctx.messages(),
        params=params,
        headers={MIDSTREAM_HEADER: "3"},
        meta={"provokes": "a mid-stream error (reference backend only)"},
    )


# --------------------------------------------------------------------------- helpers


def _case(ex: Exchange) -> dict[str, Any]:
    case = ex.meta.get("case")
    return case if isinstance(case, dict) else {}


def _invalid_exchanges(ctx: CheckContext) -> list[Exchange]:
    """The invalid-request exchanges, when a valid request is known to succeed.

    If the plain ``chat`` request was not answered 2xx either, a refusal of invalid
    input proves nothing (the endpoint refuses everything), so the check is skipped.
    """
    try:
        ctx.successful("chat")
    except Skipped as exc:
        raise Skipped(
            "not judged: a valid request was not answered with 2xx either, so refusals of "
            f"invalid input say nothing ({exc.detail})"
        ) from None
    return ctx.exchanges("invalid_requests")


def _statuses(exchanges: list[Exchange]) -> str:
    counts = Counter(str(ex.status) if ex.status is not None else "no answer" for ex in exchanges)
    return ", ".join(f"{status}x{n}" for status, n in sorted(counts.items()))


# --------------------------------------------------------------------------- checks


@check(
    id="errors.invalid_refused",
    fact="errors.invalid",
    title="Invalid requests are refused with a 4xx status, not answered",
    severity=Severity.CLIENT,
    source="OpenAI API reference (request body schema, 400 invalid_request_error)",
    probes=("invalid_requests", "chat"),
)
def invalid_refused(ctx: CheckContext) -> str:
    """A request with invalid input (out-of-range numbers, wrong types, missing fields,
    malformed JSON...) is refused with a 4xx error. Answering it with a completion hides
    the caller's mistake: the parameter is silently ignored or clamped."""
    exchanges = _invalid_exchanges(ctx)
    accepted_must: list[dict[str, Any]] = []
    accepted_should: list[dict[str, Any]] = []
    judged = 0
    for ex in exchanges:
        if ex.error is not None or ex.status is None:
            continue
        judged += 1
        if 200 <= ex.status < 300:
            case = _case(ex)
            record = case_evidence(ex, case=case)
            if case.get("strictness") == "should_refuse":
                accepted_should.append(record)
            else:
                accepted_must.append(record)
    if not judged:
        raise Skipped("not judged: no invalid request got an answer (see robustness.*)")
    if accepted_must:
        raise Failed(
            f"{len(accepted_must)} of {judged} invalid requests were answered 2xx, e.g. "
            f"{accepted_must[0]['case'].get('label', '?')!r}",
            {"accepted": accepted_must, "accepted_leniently": accepted_should},
        )
    if accepted_should:
        raise Warned(
            f"{len(accepted_should)} of {judged} requests that the specification forbids but "
            "lenient servers accept were answered 2xx, e.g. "
            f"{accepted_should[0]['case'].get('label', '?')!r}",
            {"accepted_leniently": accepted_should},
        )
    return f"{judged} invalid requests refused ({_statuses(exchanges)})"


@check(
    id="errors.no_server_error",
    basis="http",
    title="Invalid requests never cause a 5xx server error",
    severity=Severity.SDK,
    source="RFC 9110 section 15.5 (4xx: the client erred); openai-python retry rules",
    probes=("invalid_requests", "chat"),
)
def no_server_error(ctx: CheckContext) -> str:
    """Invalid input is the client's mistake and gets a 4xx answer. A 5xx answer makes the
    official SDK retry the doomed request (twice by default) and then raise
    InternalServerError instead of BadRequestError; a connection closed without any
    answer (the handler crashed) makes it retry and raise APIConnectionError."""
    exchanges = _invalid_exchanges(ctx)
    bad = [
        case_evidence(ex, case=_case(ex))
        for ex in exchanges
        if ex.error is None and ex.status is not None and ex.status >= 500
    ]
    if bad:
        raise Failed(
            f"{len(bad)} of {len(exchanges)} invalid requests were answered with a 5xx status, "
            f"e.g. {bad[0]['case'].get('label', '?')!r} -> HTTP {bad[0]['status']}",
            {"server_errors": bad},
        )
    dropped = [case_evidence(ex, case=_case(ex)) for ex in exchanges if _unanswered(ex)]
    if dropped:
        raise Failed(
            f"{len(dropped)} of {len(exchanges)} invalid requests got no answer at all: the "
            "server closed the connection without a status line (its handler crashed), e.g. "
            f"{dropped[0]['case'].get('label', '?')!r}; the SDK retries and then raises "
            "APIConnectionError instead of BadRequestError",
            {"dropped": dropped},
        )
    return f"no 5xx among {len(exchanges)} invalid requests ({_statuses(exchanges)})"


def _unanswered(ex: Exchange) -> bool:
    """The server closed the connection without sending a status line (not a timeout)."""
    return ex.status is None and ex.error is not None and ex.error.kind is ErrorKind.PROTOCOL


@check(
    id="errors.envelope",
    fact="errors.envelope",
    title="Error answers carry the error envelope with a message",
    severity=Severity.CLIENT,
    source=_SPEC,
    probes=("invalid_requests", "chat"),
)
def envelope(ctx: CheckContext) -> str:
    """Every 4xx answer carries `{"error": {"message", "type", "param", "code"}}`
    (Wetrocloud: a JSON body that says what is wrong). The official SDK and most clients
    show `error.message`; without it the user only sees "Error code: 400"."""
    exchanges = _invalid_exchanges(ctx)
    refused = [
        ex
        for ex in exchanges
        if ex.error is None and ex.status is not None and 400 <= ex.status < 500
    ]
    if not refused:
        raise Skipped("not judged: no invalid request was answered with a 4xx status")
    fatal, minor = envelope_problems(ctx.provider, refused)
    if fatal:
        raise Failed(
            f"{len(fatal)} of {len(refused)} error answers lack a usable error message: "
            f"{fatal[0]['problem']}",
            {"bad": fatal, "incomplete": minor},
        )
    if minor:
        raise Warned(
            f"{len(minor)} of {len(refused)} error envelopes are incomplete: "
            f"{minor[0]['problems'][0]}",
            {"incomplete": minor},
        )
    return f"{len(refused)} error answers, each with the envelope and a message"


@check(
    id="errors.stream_error_event",
    fact="stream.sse",
    title="A mid-stream error is sent as an SSE event carrying an error object",
    severity=Severity.SDK,
    source="openai-python Stream: an event whose data has an `error` key raises APIError",
    probes=("midstream_error",),
    dialects=OPENAI_ONLY,
)
def stream_error_event(ctx: CheckContext) -> str:
    """When a server fails after the stream has started, it reports it as an event whose
    data is `{"error": {"message": ...}}`; the official SDK raises that as an APIError.
    Plain text or an error without the `error` object goes unseen (the answer just stops)
    or crashes the client's JSON parsing. Judged on every stream of the run; skipped when
    no stream reported an error."""
    ctx.exchanges("midstream_error")  # the probe that can provoke one (skips if not made)
    good = 0
    bad: list[dict[str, Any]] = []
    for ex in ctx.all_exchanges():
        if ex.events is None and "text/event-stream" not in (ex.content_type or ""):
            continue
        if ex.probe == "invalid_requests":
            continue  # an error before any chunk: errors.stream_refused_before_events
        for signal in stream_error_signals(ex):
            if signal.good:
                good += 1
            else:
                evidence = exchange_evidence(ex, event=signal.event, body=signal.event is None)
                evidence["problem"] = signal.what
                bad.append(evidence)
    if bad:
        raise Failed(
            f"{len(bad)} mid-stream error(s) were not sent as an SSE event carrying an error "
            f"object: {bad[0]['problem']}",
            {"bad": bad[:10], "well_formed": good},
        )
    if not good:
        raise Skipped(
            "not judged: no stream of this run reported an error (only the reference backend "
            f"can be asked to fail mid-stream, with the {MIDSTREAM_HEADER} header)"
        )
    return f"{good} mid-stream error(s), each an SSE event with an error object"


def _streamed_cases(ctx: CheckContext) -> list[Exchange]:
    return [ex for ex in _invalid_exchanges(ctx) if ex.meta.get("mode") == "streamed"]


@check(
    id="errors.stream_refused_before_events",
    fact="stream.sse",
    title="A streamed invalid request is refused with a 4xx before any event",
    severity=Severity.SDK,
    source="OpenAI API reference, Chat Completions: stream; openai-python _make_status_error "
    "(a 4xx raises BadRequestError before the stream is read)",
    probes=("invalid_requests", "chat"),
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def stream_refused_before_events(ctx: CheckContext) -> str:
    """An invalid request that asks for a stream is refused like a plain one: a 4xx status
    with the JSON error envelope, before any event. A 200 event stream whose events carry
    the error (the request validated only after the stream started) makes the SDK raise a
    generic APIError mid-iteration instead of BadRequestError, and clients that only check
    the status show an empty answer. An error event is valid only after a successful
    start (errors.stream_error_event). 5xx answers are judged by errors.no_server_error,
    accepted invalid requests by errors.invalid_refused."""
    exchanges = _streamed_cases(ctx)
    if not exchanges:
        raise Skipped("not judged: no invalid request was sent with stream: true")
    bad: list[dict[str, Any]] = []
    refused = 0
    for ex in exchanges:
        if ex.error is not None or ex.status is None:
            continue
        streamed = ex.events is not None or "text/event-stream" in (ex.content_type or "")
        if 200 <= ex.status < 300:
            signals = stream_error_signals(ex) if ex.events is not None else []
            if signals:
                bad.append(case_evidence(ex, case=_case(ex), problem=(
                    f"answered HTTP {ex.status} with an event stream whose event "
                    f"{signals[0].event} carries the error, instead of a 4xx before any event")))  # fmt: skip
        elif 400 <= ex.status < 500:
            refused += 1
            if streamed:
                bad.append(case_evidence(ex, case=_case(ex), problem=(
                    f"refused with HTTP {ex.status} but as an event stream "
                    f"({ex.content_type}), not a JSON error body")))  # fmt: skip
    if bad:
        raise Failed(
            f"{len(bad)} of {len(exchanges)} streamed invalid requests: {bad[0]['problem']} "
            f"(e.g. {bad[0]['case'].get('label', '?')!r})",
            {"bad": bad},
        )
    if not refused:
        raise Skipped(
            "not judged: no streamed invalid request was refused with a 4xx "
            f"({_statuses(exchanges)}; see errors.invalid_refused and errors.no_server_error)"
        )
    return f"{refused} streamed invalid request(s) refused with a 4xx before any event"
