"""Family d: the parameters do what the specification says.

Length caps (``max_tokens``, ``max_completion_tokens``) are enforced and reported with
``finish_reason: "length"``; ``n`` gives n choices
indexed 0..n-1; usage counts are consistent; a streamed answer at temperature 0 matches
the plain one; multi-turn conversations are accepted. Length caps, ``n`` and usage are
judged in plain and streamed answers, and each verdict names the mode. The optional
features (logprobs, tools and tool_choice, JSON mode and json_schema, seed) are judged
both ways in :mod:`conformance.checks.features`. Stop strings are judged in
:mod:`conformance.checks.stops` (picked from the target's own answer).

Judgement rules that keep correct servers green:

- token counts come from the server's own ``usage``; without it, a length is judged in
  whitespace-separated words, which can only undercount tokens, with a safety margin;
- a property that the answer gives no chance to show (the model ended on its own before
  the cap) is ``skipped`` as
  not judgeable, never passed;
- determinism (stream vs plain, seed) is only ever a warning: many backends batch
  requests and are not bit-for-bit reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conformance.checks._judge import accepted, case_evidence
from conformance.checks._oai import decode_or_skip, reasoning_outside
from conformance.checks.evidence import exchange_evidence
from conformance.checks.probes import greedy_params
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
from conformance.providers.base import Generation
from conformance.wire.exchange import Exchange

__all__ = ["LENGTH_CAP", "LONG_PROMPT"]

_REF = "OpenAI API reference, Create chat completion"

#: the cap the length probes set: far below what the prompt asks for
LENGTH_CAP = 5
#: a prompt whose natural answer is much longer than :data:`LENGTH_CAP`
LONG_PROMPT = (
    "Write a long story about a lighthouse keeper who finds a message in a bottle. "
    "Use at least three hundred words."
)
#: a refusal that blames the system message (a chat template without a system role)
_SYSTEM_REFUSED = re.compile(r"\bsystem\b", re.IGNORECASE)
#: without usage, a length counts as over the cap only beyond this many words per token
_WORD_MARGIN = 2


# --------------------------------------------------------------------------- probes


def _stream_params(pctx: ProbeContext) -> dict[str, Any]:
    params: dict[str, Any] = {"stream": True}
    if pctx.capabilities.stream_usage:
        params["stream_options"] = {"include_usage": True}
    return params


def _length_requests(pctx: ProbeContext, param: str) -> list[ProbeRequest]:
    messages = pctx.messages(LONG_PROMPT)
    out = [ProbeRequest(messages=messages, params={param: LENGTH_CAP}, label="plain")]
    if pctx.capabilities.streaming:
        params = {param: LENGTH_CAP, **_stream_params(pctx)}
        out.append(ProbeRequest(messages=messages, params=params, label="streamed"))
    return out


@probe("length_cap", dialects=OPENAI_ONLY, requires="max_tokens", priority=20)
def length_cap_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A long answer capped with max_tokens, plain and streamed."""
    return _length_requests(pctx, "max_tokens")


@probe("length_cap_mct", dialects=OPENAI_ONLY, requires="max_completion_tokens", priority=21)
def length_cap_mct_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A long answer capped with max_completion_tokens, plain and streamed."""
    return _length_requests(pctx, "max_completion_tokens")


@probe("n_choices", dialects=OPENAI_ONLY, requires="n", priority=23)
def n_choices_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """Completions with n=2 and n=3, and n=2 streamed."""
    base = {"max_tokens": 8} if pctx.capabilities.max_tokens else {}
    messages = pctx.messages()
    out = [
        ProbeRequest(messages=messages, params={**base, "n": 2}, label="n2"),
        ProbeRequest(messages=messages, params={**base, "n": 3}, label="n3"),
    ]
    if pctx.capabilities.streaming:
        params = {**base, "n": 2, **_stream_params(pctx)}
        out.append(ProbeRequest(messages=messages, params=params, label="n2_stream"))
    return out


@probe("stream_agreement", dialects=OPENAI_ONLY, requires="streaming", priority=24)
def stream_agreement_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """The same greedy request (temperature 0, a seed), plain and streamed."""
    messages = pctx.messages()
    return [
        ProbeRequest(messages=messages, params=greedy_params(pctx, max_tokens=24), label="plain"),
        ProbeRequest(
            messages=messages,
            params=greedy_params(pctx, max_tokens=24, stream=True),
            label="streamed",
        ),
    ]


#: the multi-turn conversation (a system message leads when the provider documents it)
MULTI_TURN: tuple[dict[str, str], ...] = (
    {"role": "system", "content": "You are a terse assistant. Answer in a few words."},
    {"role": "user", "content": "Name a colour of the sky."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "And at sunset?"},
)


@probe("multi_turn", requires="multi_turn", priority=25)
def multi_turn_probe(pctx: ProbeContext) -> ProbeRequest:
    """A conversation of several turns (system, user, assistant, user)."""
    messages = [
        dict(m) for m in MULTI_TURN if pctx.capabilities.system_role or m["role"] != "system"
    ]
    params = {"max_tokens": 16} if pctx.capabilities.max_tokens else {}
    return ProbeRequest(messages=messages, params=params)


#: the tool the tools probe offers and forces
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}


# --------------------------------------------------------------------------- helpers


def _usable(ctx: CheckContext, probe_name: str) -> tuple[list[Exchange], list[str]]:
    """The successful exchanges of a probe, and why the others were left out."""
    usable: list[Exchange] = []
    reasons: list[str] = []
    for ex in ctx.exchanges(probe_name):
        label = ex.meta.get("label") or probe_name
        try:
            usable.append(ctx.successful(probe_name, label=ex.meta.get("label") or None))
        except Skipped as exc:
            reasons.append(f"{label}: {exc.detail}")
    return usable, reasons


def _joined(reasons: list[str]) -> str:
    """``"label: why"`` reasons as one line, said once when every request has the same."""
    whys = {r.split(": ", 1)[-1] for r in reasons}
    if len(reasons) > 1 and len(whys) == 1:
        return f"{whys.pop()} (all {len(reasons)} requests)"
    return "; ".join(reasons)


def _param(ex: Exchange, name: str) -> Any:
    params = ex.meta.get("params")
    return params.get(name) if isinstance(params, dict) else None


@dataclass(frozen=True, slots=True)
class _Length:
    """What a capped answer says about its length."""

    cap: int
    tokens: int | None  # usage.completion_tokens
    words: int
    finish: str | None
    text: str

    @property
    def over(self) -> bool:
        if self.tokens is not None:
            return self.tokens > self.cap
        return self.words > self.cap * _WORD_MARGIN

    @property
    def reached(self) -> bool:
        """The cap was certainly reached (each word is at least one token)."""
        if self.tokens is not None:
            return self.tokens >= self.cap
        return self.words >= self.cap

    def facts(self) -> dict[str, Any]:
        return {
            "cap": self.cap,
            "completion_tokens": self.tokens,
            "words": self.words,
            "finish_reason": self.finish,
            "text": self.text[:300],
        }


def _length(ctx: CheckContext, ex: Exchange, param: str) -> _Length | None:
    cap = _param(ex, param)
    if not isinstance(cap, int):
        return None
    gen = decode_or_skip(ctx, ex)
    if not gen.choices:
        return None
    choice = gen.choices[0]
    tokens = gen.usage.completion_tokens if gen.usage is not None else None
    return _Length(cap, tokens, len(choice.text.split()), choice.finish_reason, choice.text)


def _judge_cap(ctx: CheckContext, probe_name: str, param: str) -> str:
    usable, reasons = _usable(ctx, probe_name)
    if not usable:
        raise Skipped(f"not judged: {_joined(reasons)}")
    bad: list[dict[str, Any]] = []
    judged = 0
    for ex in usable:
        length = _length(ctx, ex, param)
        if length is None:
            continue
        judged += 1
        if length.over:
            unit = (
                f"{length.tokens} completion tokens"
                if length.tokens is not None
                else f"{length.words} words (no usage reported)"
            )
            mode = "streamed" if ex.events is not None else "plain"
            bad.append(
                exchange_evidence(
                    ex, problem=f"{unit} with {param}={length.cap}", mode=mode, **length.facts()
                )
            )
    if bad:
        raise Failed(
            f"{param} is not enforced: {bad[0]['problem']} ({bad[0]['mode']})", {"bad": bad}
        )
    if not judged:
        raise Skipped("not judged: no answer had a choice to measure")
    return f"{param}={LENGTH_CAP} respected in {judged} answer(s)"


# --------------------------------------------------------------------------- checks


@check(
    id="semantics.max_tokens",
    fact="param.max_tokens",
    title="max_tokens caps the answer's length",
    severity=Severity.CLIENT,
    source=_REF + ": max_tokens",
    probes=("length_cap",),
    dialects=OPENAI_ONLY,
    requires="max_tokens",
)
def max_tokens(ctx: CheckContext) -> str:
    """An answer asked for with `max_tokens: 5` has at most 5 completion tokens (judged
    plain and streamed, on the server's own usage count). Clients set the cap to bound
    cost and latency."""
    return _judge_cap(ctx, "length_cap", "max_tokens")


@check(
    id="semantics.max_completion_tokens",
    fact="param.max_completion_tokens",
    title="max_completion_tokens caps the answer's length",
    severity=Severity.CLIENT,
    source=_REF + ": max_completion_tokens",
    probes=("length_cap_mct",),
    dialects=OPENAI_ONLY,
    requires="max_completion_tokens",
)
def max_completion_tokens(ctx: CheckContext) -> str:
    """An answer asked for with `max_completion_tokens: 5` (the newer name of the cap)
    has at most 5 completion tokens, plain and streamed."""
    return _judge_cap(ctx, "length_cap_mct", "max_completion_tokens")


@check(
    id="semantics.length_finish_reason",
    fact="response.finish_reason_values",
    title='An answer cut by the length cap says finish_reason "length"',
    severity=Severity.CLIENT,
    source=_REF + ': choices[].finish_reason ("length": the maximum number of tokens was reached)',
    probes=("length_cap", "length_cap_mct"),
    dialects=OPENAI_ONLY,
)
def length_finish_reason(ctx: CheckContext) -> str:
    """When the cap cuts the answer, `finish_reason` is "length", not "stop": clients (and
    the SDK's structured-output parser) rely on it to tell a truncated answer from a
    complete one. An answer that ended on its own before the cap, or that ignored the cap
    altogether (semantics.max_tokens reports that), is not judged."""
    exchanges: list[Exchange] = []
    reasons: list[str] = []
    for name in ("length_cap", "length_cap_mct"):
        try:
            found, why = _usable(ctx, name)
        except Skipped as exc:
            reasons.append(exc.detail)
            continue
        exchanges.extend(found)
        reasons.extend(why)
    if not exchanges:
        raise Skipped(f"not judged: {'; '.join(reasons) or 'no capped answer'}")
    bad: list[dict[str, Any]] = []
    doubtful: list[dict[str, Any]] = []
    natural: list[str] = []
    ignored: list[str] = []
    judged = 0
    for ex in exchanges:
        param = "max_tokens" if ex.probe == "length_cap" else "max_completion_tokens"
        length = _length(ctx, ex, param)
        if length is None or length.finish is None:
            continue  # a missing finish_reason is judged by the stream and schema checks
        if length.finish == "length" and length.tokens is not None and length.tokens < length.cap:
            # a warning, not a failure: the server's usage may count with another tokenizer
            # than its cap does (the text alone cannot prove the cap was not reached)
            judged += 1
            doubtful.append(
                exchange_evidence(
                    ex,
                    problem=f'finish_reason is "length" although usage counts only '
                    f"{length.tokens} completion tokens, below {param}={length.cap}: the answer "
                    "seems to have ended on its own (clients retry or continue a truncated "
                    "answer), or usage undercounts",
                    **length.facts(),
                )
            )
        elif length.finish == "length":
            judged += 1
        elif length.over:
            ignored.append(f"{ex.probe}/{ex.meta.get('label') or 'plain'}")
        elif length.reached:
            judged += 1
            bad.append(
                exchange_evidence(
                    ex,
                    problem=f'finish_reason is "{length.finish}" although the answer reached '
                    f"{param}={length.cap} ({ex.meta.get('label') or 'plain'})",
                    **length.facts(),
                )
            )
        else:
            natural.append(f"{ex.probe}/{ex.meta.get('label') or 'plain'}")
    if bad:
        raise Failed(bad[0]["problem"], {"bad": bad, "doubtful": doubtful})
    if doubtful:
        raise Warned(doubtful[0]["problem"], {"doubtful": doubtful})
    if not judged:
        if ignored:
            raise Skipped(
                "not judgeable: the cap was not applied at all, so no answer was cut "
                f"({', '.join(ignored)}; see semantics.max_tokens)"
            )
        raise Skipped(
            "not judgeable: every capped answer ended on its own before the cap "
            f"({', '.join(natural) or 'no finish_reason'})"
        )
    return f'"length" on {judged} capped answer(s)'


@check(
    id="semantics.n_choices",
    fact="param.n",
    title="n gives n choices, indexed 0..n-1, plain and streamed",
    severity=Severity.CLIENT,
    source=_REF + ": n",
    probes=("n_choices",),
    dialects=OPENAI_ONLY,
    requires="n",
)
def n_choices(ctx: CheckContext) -> str:
    """A request with `n: 2` (or 3) gets that many choices with indexes 0..n-1; streamed
    choices are told apart by index and each gets its own finish_reason. A server that does
    not support n > 1 may refuse it with a 4xx (skipped), but must not ignore it."""
    bad: list[dict[str, Any]] = []
    judged = 0
    refusals: list[str] = []
    for ex in ctx.exchanges("n_choices"):
        label = ex.meta.get("label") or None
        try:
            ex = accepted(ctx, "n_choices", feature="n > 1", label=label)
        except Skipped as exc:
            refusals.append(exc.detail)
            continue
        n = _param(ex, "n")
        gen = decode_or_skip(ctx, ex)
        indexes = [c.index for c in gen.choices]
        mode = "streamed" if ex.events is not None else "plain"
        judged += 1
        if len(indexes) == 1 and n != 1:
            problem = f"n={n} was ignored: one choice came back ({label}, {mode})"
        elif sorted(indexes) != list(range(n)):
            problem = (
                f"n={n} gave choice indexes {sorted(indexes)}, not {list(range(n))} "
                f"({label}, {mode})"
            )
        elif any(c.finish_reason is None for c in gen.choices):
            open_ = sorted(c.index for c in gen.choices if c.finish_reason is None)
            problem = (
                f"n={n} {mode}: choice(s) {open_} never got a finish_reason ({label}); "
                "clients wait for every choice to finish"
            )
        else:
            continue
        bad.append(
            exchange_evidence(
                ex, body=ex.events is None, problem=problem, indexes=indexes, mode=mode
            )
        )
    if bad:
        raise Failed(bad[0]["problem"], {"bad": bad})
    if not judged:
        raise Skipped(refusals[0] if refusals else "not judged: no n > 1 request was answered")
    return f"{judged} answer(s) with n choices indexed 0..n-1"


#: the probes whose answers the usage check reads (plain and streamed)
_USAGE_PROBES = (
    "chat",
    "stream_usage",
    "length_cap",
    "length_cap_mct",
    "multi_turn",
    "stop_string",
)


def _cap_of(ex: Exchange) -> tuple[str, int] | None:
    """The tightest length cap the request set, as (parameter, value)."""
    caps = [
        (name, value)
        for name in ("max_tokens", "max_completion_tokens")
        if isinstance(value := _param(ex, name), int) and not isinstance(value, bool)
    ]
    return min(caps, key=lambda c: c[1]) if caps else None


def _raw_usage(gen: Generation) -> dict[str, Any]:
    """The usage object as sent (plain: the body's; streamed: the last chunk's)."""
    docs = gen.raw if isinstance(gen.raw, list) else [gen.raw]
    for doc in reversed(docs):
        usage = doc.get("usage") if isinstance(doc, dict) else None
        if isinstance(usage, dict):
            return usage
    return {}


def _reasoning_tokens(gen: Generation) -> int | None:
    """The reasoning tokens the usage reports, or ``None`` (a reasoning text without a
    count counts as an unknown number: ``-1``)."""
    details = _raw_usage(gen).get("completion_tokens_details")
    count = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        return count
    return -1 if gen.extras.get("reasoning") else None


def _over_cap(ex: Exchange, gen: Generation, where: str) -> tuple[str, bool] | None:
    """(problem, certain) when completion_tokens exceed the request's cap. OpenAI counts
    reasoning tokens inside completion_tokens and inside max_completion_tokens, so any
    excess is impossible there; but some reasoning servers document a cap on the final
    answer only (DeepSeek's max_tokens): when the visible part fits the cap, or the count
    of reasoning tokens is unknown, the excess is only doubtful."""
    u = gen.usage
    cap = _cap_of(ex)
    if u is None or u.completion_tokens is None or cap is None:
        return None
    n = _param(ex, "n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
    limit = cap[1] * choices
    if u.completion_tokens <= limit:
        return None
    problem = (
        f"completion_tokens {u.completion_tokens} is above {cap[0]}={cap[1]}"
        + (f" x n={choices}" if choices > 1 else "")
        + f": a capped answer cannot cost more ({where})"
    )
    reasoning = _reasoning_tokens(gen)
    if reasoning == -1 or (reasoning is not None and u.completion_tokens - reasoning <= limit):
        return (
            problem + "; the excess looks like reasoning tokens counted outside the cap "
            "(OpenAI counts them inside max_completion_tokens)",
            False,
        )
    return problem, True


def _impossible_usage(ex: Exchange, gen: Generation, where: str) -> list[str]:
    """The counts of one answer that cannot be right, whatever the tokenizer."""
    u = gen.usage
    assert u is not None and u.prompt_tokens is not None and u.completion_tokens is not None
    out: list[str] = []
    if u.total_tokens != u.prompt_tokens + u.completion_tokens:
        out.append(
            f"total_tokens {u.total_tokens} != prompt_tokens {u.prompt_tokens} + "
            f"completion_tokens {u.completion_tokens} ({where})"
            + reasoning_outside(
                _raw_usage(gen), (u.total_tokens or 0) - u.prompt_tokens - u.completion_tokens
            )
        )
    if u.prompt_tokens <= 0:
        out.append(f"prompt_tokens is {u.prompt_tokens} for a non-empty prompt ({where})")
    text = "".join(c.text for c in gen.choices)
    called = any(c.tool_calls for c in gen.choices)
    if u.completion_tokens <= 0 and (text.strip() or called):
        out.append(f"completion_tokens is {u.completion_tokens} for a non-empty answer ({where})")
    over = _over_cap(ex, gen, where)
    if over is not None and over[1]:
        out.append(over[0])
    return out


@check(
    id="semantics.usage_consistent",
    fact="response.usage",
    title="usage counts are possible and consistent, plain and streamed",
    severity=Severity.CLIENT,
    source=_REF + ": usage; stream_options.include_usage",
    probes=_USAGE_PROBES,
    dialects=OPENAI_ONLY,
)
def usage_consistent(ctx: CheckContext) -> str:
    """In plain answers and in streams' usage chunks: total_tokens = prompt_tokens +
    completion_tokens; a non-empty prompt costs tokens; a non-empty answer costs tokens;
    an answer capped by max_tokens / max_completion_tokens costs no more than the cap
    (reasoning tokens included, as OpenAI counts them). Those are failures: no tokenizer
    makes them true, and clients bill from them. Counts that are merely doubtful (an answer
    cut by the cap that counts fewer tokens, a longer conversation that costs no more
    prompt tokens) are warnings: the tokenizer is the server's."""
    fails: list[dict[str, Any]] = []
    warns: list[dict[str, Any]] = []
    judged = 0
    prompt_by_probe: dict[str, int] = {}
    for name in _USAGE_PROBES:
        try:
            usable, _ = _usable(ctx, name)
        except Skipped:
            continue
        for ex in usable:
            try:
                gen = decode_or_skip(ctx, ex)
            except Skipped:
                continue
            u = gen.usage
            if u is None or None in (u.prompt_tokens, u.completion_tokens, u.total_tokens):
                continue  # absent or partial usage: schema.usage and stream.usage_chunk
            assert u.prompt_tokens is not None and u.completion_tokens is not None
            judged += 1
            mode = "streamed" if ex.events is not None else "plain"
            where = f"{name}/{ex.meta.get('label') or mode}, {mode}"
            counts = {"prompt": u.prompt_tokens, "completion": u.completion_tokens,
                      "total": u.total_tokens}  # fmt: skip
            for problem in _impossible_usage(ex, gen, where):
                fails.append(case_evidence(ex, problem=problem, usage=counts, mode=mode))
            over = _over_cap(ex, gen, where)
            if over is not None and not over[1]:
                warns.append(case_evidence(ex, problem=over[0], usage=counts, mode=mode))
            cap = _cap_of(ex)
            finish = gen.choices[0].finish_reason if len(gen.choices) == 1 else None
            if cap is not None and finish == "length" and u.completion_tokens < cap[1]:
                warns.append(case_evidence(ex, problem=(
                    f'finish_reason "length" but completion_tokens {u.completion_tokens} is '
                    f"below {cap[0]}={cap[1]} ({where})"), usage=counts, mode=mode))  # fmt: skip
            if ex.events is None:
                prompt_by_probe.setdefault(name, u.prompt_tokens)
    single, multi = prompt_by_probe.get("chat"), prompt_by_probe.get("multi_turn")
    if single is not None and multi is not None and single > 0 and multi <= single:
        warns.append({"problem": (
            f"the four-message conversation counts {multi} prompt tokens, no more than the "
            f"one-message prompt ({single})")})  # fmt: skip
    if fails:
        raise Failed(fails[0]["problem"], {"bad": fails, "doubtful": warns})
    if warns:
        raise Warned(warns[0]["problem"], {"doubtful": warns})
    if not judged:
        raise Skipped("not judged: no answer carried a complete usage object")
    return f"usage consistent in {judged} answer(s)"


@check(
    id="semantics.stream_matches_plain",
    fact="stream",
    title="A streamed answer matches the plain one at temperature 0",
    severity=Severity.COSMETIC,
    source=_REF + ": temperature, seed, stream",
    probes=("stream_agreement",),
    dialects=OPENAI_ONLY,
    requires="streaming",
    warn_only=True,
)
def stream_matches_plain(ctx: CheckContext) -> str:
    """The same greedy request (temperature 0 and a seed) gives the same text streamed and
    not streamed. Only a warning: batching makes many backends not bit-for-bit
    deterministic."""
    plain = ctx.successful("stream_agreement", label="plain")
    streamed = ctx.successful("stream_agreement", label="streamed")
    a, b = decode_or_skip(ctx, plain).text, decode_or_skip(ctx, streamed).text
    if a != b:
        common = 0
        while common < min(len(a), len(b)) and a[common] == b[common]:
            common += 1
        raise Failed(
            f"the streamed text differs from the plain one after {common} characters",
            exchange_evidence(streamed, body=False, plain_text=a[:400], streamed_text=b[:400]),
        )
    return f"identical ({len(a)} characters)"


@check(
    id="semantics.multi_turn",
    fact="messages.roles",
    title="A multi-turn conversation is accepted",
    severity=Severity.CLIENT,
    source=_REF + ": messages (system, user, assistant)",
    probes=("multi_turn",),
    requires="multi_turn",
)
def multi_turn(ctx: CheckContext) -> str:
    """A conversation with a system message and earlier user and assistant turns gets an
    answer, as every chat client sends the history with each request."""
    ex = ctx.completed("multi_turn")
    status = ex.status or 0
    if not 200 <= status < 300:
        message = ctx.provider.decode_error(status, ex.body).message
        sent = ex.meta.get("messages") or []
        has_system = any(isinstance(m, dict) and m.get("role") == "system" for m in sent)
        if 400 <= status < 500 and has_system and _SYSTEM_REFUSED.search(message or ""):
            # Gemma 2 and early Mistral chat templates raise on a system message; vLLM
            # and llama.cpp pass that on as a clean 400: the model's limit, not the server's
            raise Warned(
                f"the conversation was refused (HTTP {status}) because of its system message: "
                f"{message}. The model's chat template takes no system role; clients that "
                "send a system prompt must fold it into the first user turn",
                exchange_evidence(ex),
            )
        raise Failed(
            f"a {len(ex.meta.get('messages') or [])}-message conversation was answered HTTP "
            f"{ex.status}" + (f": {message}" if message else ""),
            exchange_evidence(ex),
        )
    gen = decode_or_skip(ctx, ex)
    if not gen.choices:
        raise Failed("the multi-turn answer has no choice", exchange_evidence(ex))
    return f"answered ({len(gen.text)} characters)"
