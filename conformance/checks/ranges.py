"""Documented parameter values, sent live: inside the documented range they are answered,
outside a documented bound they are refused.

A provider's document promises more than the values the other families send: NebulaBlock
documents ``max_tokens`` as "integer or null" ("if null, the model's default will be
used") and ``top_p`` as a nucleus sampling probability; WeAI documents temperatures "with
0 being least random ... and 2 being most random". The profile states these facts in its
:class:`~conformance.providers.base.Capabilities` (``max_tokens_null``, ``top_p``,
``temperature_range``, ``top_p_range``); the probes here read them, so a parameter is
only sent where the document names it, and a value is only called out of range where the
document states the range.

- ``semantics.max_tokens_null``, ``semantics.top_p``, ``semantics.temperature_bounds``:
  the documented values are accepted (2xx) and answered with a valid completion, plain
  and streamed. Where the document names a parameter without a range, only values inside
  0..1 are sent (every reading of a "temperature" or a "probability" allows them).
- ``errors.temperature_range``, ``errors.top_p_range``: a value outside the documented
  range is refused with a 4xx. A 5xx fails; a 2xx only warns, because the document states
  the range but not that a value outside it is an error (the value was clamped or
  ignored silently). Where no range is documented these checks are skipped by design.
"""

from __future__ import annotations

from typing import Any

from conformance.checks._judge import case_evidence, error_instead_of_answer
from conformance.checks._oai import decode_exchange
from conformance.checks.registry import (
    OPENAI_ONLY,
    CheckContext,
    Failed,
    ProbeContext,
    ProbeRequest,
    Refused,
    Severity,
    Skipped,
    Warned,
    check,
    probe,
)
from conformance.providers.base import NULL, DecodeError
from conformance.strategies import UNDOCUMENTED_RANGE, InvalidRequest, range_cases
from conformance.wire.exchange import Exchange

__all__ = ["temperature_values", "top_p_values"]

_REF = "the provider's document (OpenAI API reference for the openai profile)"
#: a short answer: no length cap is needed to keep it cheap
_PROMPT = "Say hello in five words."
#: the cap sent with the range probes where max_tokens is documented
_CAP = 16
#: error codes that say the model, not the API, does not take a value (OpenAI's
#: reasoning models); a refusal with one is the model's choice where the profile's
#: document is the OpenAI reference (``Provider.document_is_openai_spec``), which says
#: that reasoning models take no top_p and only temperature 1
_MODEL_LIMITS = frozenset({"unsupported_parameter", "unsupported_value"})
#: how OpenAI words such a refusal, for servers that copy the message but not the code
_MODEL_LIMIT_WORDS = ("Unsupported parameter:", "Unsupported value:")


# --------------------------------------------------------------------------- values


def temperature_values(
    bounds: tuple[float, float] | None, examples: tuple[float, ...] = ()
) -> tuple[float, ...]:
    """The temperatures sent, in ascending order: both ends of the documented range and
    the document's own example values inside it (WeAI: 0, 0.2, 1.2 and 2), or, without
    examples, a value between 1 and the top (0..2 gives 0, 1.5 and 2); without a
    documented range, 0.5 and 1 (and the examples that fall inside 0..1)."""
    low, high = bounds or UNDOCUMENTED_RANGE
    inside = tuple(x for x in examples if low <= x <= high)
    if bounds is None:
        return tuple(sorted({high / 2, high, *inside}))
    if inside:
        return tuple(sorted({low, *inside, high}))
    middle = (max(low, 1.0) + high) / 2 if high > 1.0 else (low + high) / 2
    return (low, middle, high)


def top_p_values(bounds: tuple[float, float] | None) -> tuple[float, ...]:
    """The top_p values sent: a low one (a tenth of the range above its bottom: 0 would
    leave no token to draw) and the top of the range; without a documented range, the
    same inside 0..1."""
    low, high = bounds or UNDOCUMENTED_RANGE
    return (low + (high - low) / 10, high)


def _where(bounds: tuple[float, float] | None, name: str, provider: str) -> str:
    if bounds is None:
        return f"{provider} documents {name} without a range; the value is inside 0..1"
    return f"inside the documented range {bounds[0]:g}..{bounds[1]:g}"


# --------------------------------------------------------------------------- probes


def _requests(
    pctx: ProbeContext, name: str, values: tuple[Any, ...], *, shown: str | None = None
) -> list[ProbeRequest]:
    """One plain request per value, and the last value again streamed (when the profile
    documents streaming); each labelled ``<value>/<mode>``."""
    base: dict[str, Any] = {}
    if pctx.capabilities.max_tokens and name != "max_tokens":
        base["max_tokens"] = _CAP
    messages = pctx.messages(_PROMPT)
    out = []
    for value in values:
        label = f"{name}={shown or value}/plain"
        out.append(ProbeRequest(messages=messages, params={**base, name: value}, label=label))
    if pctx.capabilities.streaming:
        # no stream_options: a server may refuse that optional feature, and the value,
        # not the usage chunk, is what is judged here
        params: dict[str, Any] = {**base, name: values[-1], "stream": True}
        label = f"{name}={shown or values[-1]}/streamed"
        out.append(ProbeRequest(messages=messages, params=params, label=label))
    return out


@probe("max_tokens_null", dialects=OPENAI_ONLY, requires="max_tokens_null", priority=26)
def max_tokens_null_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A short completion with `max_tokens: null` (the model's default), plain and
    streamed."""
    return _requests(pctx, "max_tokens", (NULL,), shown="null")


@probe("top_p", dialects=OPENAI_ONLY, requires="top_p", priority=27)
def top_p_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """Short completions with a low top_p and with the top of its range, the latter also
    streamed."""
    return _requests(pctx, "top_p", top_p_values(pctx.capabilities.top_p_range))


@probe("temperature_bounds", dialects=OPENAI_ONLY, requires="temperature", priority=28)
def temperature_bounds_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """Short completions at both ends of the documented temperature range and at the
    document's own example values (or between 1 and the top), the top also streamed."""
    caps = pctx.capabilities
    return _requests(
        pctx, "temperature", temperature_values(caps.temperature_range, caps.temperature_examples)
    )


def _out_of_range(pctx: ProbeContext, name: str) -> list[ProbeRequest]:
    cases: list[InvalidRequest] = range_cases(pctx.provider, name)
    out = []
    for case in cases:
        body, content_type = case.payload()
        out.append(
            ProbeRequest(
                messages=pctx.messages(),
                body=body,
                content_type=content_type,
                label=case.label,
                meta={"case": case.describe(), "mode": "plain"},
            )
        )
    return out


@probe("temperature_out_of_range", dialects=OPENAI_ONLY, requires="temperature_range", priority=63)
def temperature_out_of_range_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A temperature below and one above the documented range (WeAI: -1 and 5)."""
    return _out_of_range(pctx, "temperature")


@probe("top_p_out_of_range", dialects=OPENAI_ONLY, requires="top_p_range", priority=64)
def top_p_out_of_range_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A top_p below and one above the documented range (OpenAI: -1 and 1.5)."""
    return _out_of_range(pctx, "top_p")


# --------------------------------------------------------------------------- judging


def _mode(ex: Exchange) -> str:
    """How the answer was asked for (a stream answered with a JSON body is still the
    streamed request)."""
    params = ex.meta.get("params")
    asked = isinstance(params, dict) and params.get("stream") is True
    return "streamed" if asked or ex.events is not None else "plain"


def _problem(ctx: CheckContext, ex: Exchange) -> str | None:
    """What is wrong with the answer to a documented value, or ``None`` for a valid
    completion (2xx, decodes, at least one choice)."""
    status = ex.status or 0
    if 400 <= status < 500:
        err = ctx.provider.decode_error(status, ex.body)
        refusal = f"refused with HTTP {status}" + (f": {err.message}" if err.message else "")
        words = err.message or ""
        limit = err.code in _MODEL_LIMITS or words.startswith(_MODEL_LIMIT_WORDS)
        if ctx.provider.document_is_openai_spec and limit:
            ctx.refusals.append(refusal)
            raise Refused(refusal)
        return refusal
    if not 200 <= status < 300:
        return f"answered HTTP {status}"
    said = error_instead_of_answer(ctx.provider, ex)
    if said is not None:
        return f"answered HTTP {status} with an error instead of an answer: {said}"
    try:
        gen = decode_exchange(ctx.provider, ex)
    except DecodeError as exc:
        return f"answered HTTP {status}, but not with a valid completion: {exc}"
    if not gen.choices:
        return f"answered HTTP {status} with no choice"
    return None


def _judge_values(ctx: CheckContext, probe_name: str, where: str) -> str:
    """Every documented value answered with a valid completion, in both modes."""
    bad: list[dict[str, Any]] = []
    judged: list[str] = []
    reasons: list[str] = []
    refused: list[str] = []
    for ex in ctx.exchanges(probe_name):
        label = str(ex.meta.get("label") or probe_name)
        try:
            ctx.completed(probe_name, label=label)
        except Skipped as exc:
            reasons.append(f"{label}: {exc.detail}")
            continue
        try:
            problem = _problem(ctx, ex)
        except Refused as exc:
            refused.append(f"{label}: {exc.detail}")
            continue
        judged.append(label)
        if problem is not None:
            bad.append(case_evidence(ex, problem=problem, mode=_mode(ex), sent=label))
    if bad:
        first = bad[0]
        raise Failed(
            f"{first['sent']} ({where}) was {first['problem']} ({first['mode']})",
            {"bad": bad, "judged": judged},
        )
    if not judged and refused:
        raise Refused("; ".join(refused))
    if not judged:
        raise Skipped("not judged: " + "; ".join(reasons))
    also = f" ({len(refused)} refused by the model: {refused[0]})" if refused else ""
    return f"{len(judged)} request(s) answered with a valid completion: {', '.join(judged)}{also}"


@check(
    id="semantics.max_tokens_null",
    title="max_tokens: null is answered with a valid completion (the model's default cap)",
    severity=Severity.CLIENT,
    source="NebulaBlock Generate Text: max_tokens 'integer or null'; OpenAI API reference: "
    "max_tokens 'integer or null'",
    probes=("max_tokens_null",),
    dialects=OPENAI_ONLY,
    requires="max_tokens_null",
    fact="param.max_tokens",
)
def max_tokens_null(ctx: CheckContext) -> str:
    """Where the document allows `max_tokens: null` ("if null, the model's default will be
    used"), a request that sends it, plain or streamed, gets a valid completion. Clients
    that pass the caller's `None` through (the official SDK sends `null` for an explicit
    `max_tokens=None`) must not be refused or crash the server."""
    return _judge_values(ctx, "max_tokens_null", "the document allows null")


@check(
    id="semantics.top_p",
    title="top_p values inside its range are answered with a valid completion",
    severity=Severity.CLIENT,
    source="NebulaBlock Generate Text: top_p 'Nucleus sampling probability'; OpenAI API "
    "reference: top_p",
    probes=("top_p",),
    dialects=OPENAI_ONLY,
    requires="top_p",
    fact="param.top_p",
)
def top_p(ctx: CheckContext) -> str:
    """Where the document names `top_p`, a request with a low top_p and one with the top
    of its range (plain and streamed) each get a valid completion: refusing a documented
    value, or failing on it, breaks every client that tunes sampling."""
    where = _where(ctx.capabilities.top_p_range, "top_p", ctx.provider.name)
    return _judge_values(ctx, "top_p", where)


@check(
    id="semantics.temperature_bounds",
    title="Temperatures across the documented range are answered with a valid completion",
    severity=Severity.CLIENT,
    source="WeAI guide, FAQ 'How should I set the temperature parameter?' (0 to 2); OpenAI "
    "API reference: temperature (0 to 2); NebulaBlock Generate Text: temperature float",
    probes=("temperature_bounds",),
    dialects=OPENAI_ONLY,
    requires="temperature",
    fact="param.temperature",
)
def temperature_bounds(ctx: CheckContext) -> str:
    """Every temperature inside the documented range is accepted, both ends included: a
    WeAI user may send 2 ("most random") or 1.2 as its guide suggests, and gets a valid
    completion, plain and streamed. High temperatures may give odd text, never a refusal,
    a server error or a malformed body."""
    where = _where(ctx.capabilities.temperature_range, "temperature", ctx.provider.name)
    return _judge_values(ctx, "temperature_bounds", where)


def _judge_out_of_range(ctx: CheckContext, probe_name: str, name: str) -> str:
    """Values outside the documented range refused with a 4xx (2xx warns, 5xx fails)."""
    try:
        ctx.successful("chat")
    except Skipped as exc:
        raise Skipped(
            "not judged: a valid request was not answered with 2xx either, so refusals of "
            f"out-of-range values say nothing ({exc.detail})"
        ) from None
    bounds = getattr(ctx.capabilities, f"{name}_range")
    refused: list[str] = []
    crashed: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    for ex in ctx.exchanges(probe_name):
        if ex.error is not None or ex.status is None:
            continue
        label = str(ex.meta.get("label") or probe_name)
        if 400 <= ex.status < 500:
            refused.append(f"{label}: HTTP {ex.status}")
        elif ex.status >= 500:
            crashed.append(case_evidence(ex, case=ex.meta.get("case")))
        elif 200 <= ex.status < 300:
            accepted.append(case_evidence(ex, case=ex.meta.get("case")))
    if crashed:
        raise Failed(
            f"{crashed[0]['label']} was answered HTTP {crashed[0]['status']}: a value outside "
            "the documented range is the caller's mistake and needs a 4xx (the official SDK "
            "retries a 5xx and then raises InternalServerError)",
            {"server_errors": crashed, "accepted": accepted},
        )
    if accepted:
        raise Warned(
            f"{accepted[0]['label']} was answered 2xx: the value outside the documented "
            f"range {bounds[0]:g}..{bounds[1]:g} was clamped or ignored without a word",
            {"accepted": accepted},
        )
    if not refused:
        raise Skipped(f"not judged: no out-of-range {name} got an answer (see robustness.*)")
    return f"{len(refused)} value(s) outside the documented range refused: " + "; ".join(refused)


@check(
    id="errors.temperature_range",
    title="A temperature outside the documented range is refused with a 4xx",
    severity=Severity.CLIENT,
    source="WeAI guide, FAQ (temperature 0 to 2); OpenAI API reference: temperature (0 to 2)",
    probes=("temperature_out_of_range", "chat"),
    dialects=OPENAI_ONLY,
    requires="temperature_range",
    fact="param.temperature",
)
def temperature_range(ctx: CheckContext) -> str:
    """Where the document states the temperature range, a value outside it (below the
    bottom, above the top) is refused with a 4xx that says so. Answering it hides the
    caller's mistake: the value is silently clamped. Skipped where no range is
    documented (any value may then have a meaning)."""
    return _judge_out_of_range(ctx, "temperature_out_of_range", "temperature")


@check(
    id="errors.top_p_range",
    title="A top_p outside the documented range is refused with a 4xx",
    severity=Severity.CLIENT,
    source="OpenAI API reference: top_p (0 to 1)",
    probes=("top_p_out_of_range", "chat"),
    dialects=OPENAI_ONLY,
    requires="top_p_range",
    fact="param.top_p",
)
def top_p_range(ctx: CheckContext) -> str:
    """Where the document states the top_p range, a value outside it is refused with a
    4xx. Skipped where no range is documented."""
    return _judge_out_of_range(ctx, "top_p_out_of_range", "top_p")
