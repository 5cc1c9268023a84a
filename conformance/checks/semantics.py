"""Family d: the parameters do what the specification says.

Length caps (``max_tokens``, ``max_completion_tokens``) are enforced and reported with
``finish_reason: "length"``; ``n`` gives n choices
indexed 0..n-1; usage counts are consistent; a streamed answer at temperature 0 matches
the plain one; multi-turn conversations are accepted; optional features (n > 1, tools,
logprobs, JSON mode, seed) are either honoured or refused with a clean 4xx. Stop strings
are judged in :mod:`conformance.checks.stops` (picked from the target's own answer).

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

from conformance.checks._judge import case_evidence
from conformance.checks.evidence import exchange_evidence
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
from conformance.providers.base import DecodeError, Dialect, Generation
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["LENGTH_CAP", "LONG_PROMPT"]

_OAI = {Dialect.OPENAI}
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


@probe("length_cap", dialects=_OAI, requires="max_tokens", priority=20)
def length_cap_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A long answer capped with max_tokens, plain and streamed."""
    return _length_requests(pctx, "max_tokens")


@probe("length_cap_mct", dialects=_OAI, requires="max_completion_tokens", priority=21)
def length_cap_mct_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A long answer capped with max_completion_tokens, plain and streamed."""
    return _length_requests(pctx, "max_completion_tokens")


def _greedy(pctx: ProbeContext, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if pctx.capabilities.temperature:
        params["temperature"] = 0
    if pctx.capabilities.seed:
        params["seed"] = 1234
    if pctx.capabilities.max_tokens:
        params["max_tokens"] = 40
    params.update(extra)
    return params


@probe("n_choices", dialects=_OAI, requires="n", priority=23)
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


@probe("stream_agreement", dialects=_OAI, requires="streaming", priority=24)
def stream_agreement_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """The same greedy request (temperature 0, a seed), plain and streamed."""
    messages = pctx.messages()
    return [
        ProbeRequest(messages=messages, params=_greedy(pctx, max_tokens=24), label="plain"),
        ProbeRequest(
            messages=messages, params=_greedy(pctx, max_tokens=24, stream=True), label="streamed"
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


@probe("logprobs", dialects=_OAI, requires="logprobs", priority=40)
def logprobs_probe(pctx: ProbeContext) -> ProbeRequest:
    """A short completion asking for logprobs with two alternatives per token."""
    return ProbeRequest(
        messages=pctx.messages(), params={"logprobs": True, "top_logprobs": 2, "max_tokens": 5}
    )


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


@probe("tool_call", dialects=_OAI, requires="tools", priority=41)
def tool_call_probe(pctx: ProbeContext) -> ProbeRequest:
    """A question with one tool offered and forced by a named tool_choice."""
    params = {
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_tokens": 64,
    }
    return ProbeRequest(messages=pctx.messages("What is the weather in Paris?"), params=params)


@probe("json_mode", dialects=_OAI, requires="response_format", priority=42)
def json_mode_probe(pctx: ProbeContext) -> ProbeRequest:
    """A request for a JSON object with response_format json_object."""
    messages = [
        {"role": "system", "content": "You reply with a single JSON object and nothing else."},
        {
            "role": "user",
            "content": 'Give a JSON object with the key "colour" and a colour as value.',
        },
    ]
    params = {"response_format": {"type": "json_object"}, "max_tokens": 48}
    return ProbeRequest(messages=messages, params=params)


@probe("seed_pair", dialects=_OAI, requires="seed", priority=43)
def seed_pair_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """The same sampled request twice with the same seed."""
    params: dict[str, Any] = {"seed": 4242, "temperature": 1.0, "max_tokens": 12}
    messages = pctx.messages("Invent a name for a small boat.")
    return [
        ProbeRequest(messages=messages, params=params, label="first"),
        ProbeRequest(messages=messages, params=params, label="second"),
    ]


# --------------------------------------------------------------------------- helpers


def _decode(ctx: CheckContext, ex: Exchange) -> Generation:
    """The decoded answer; :class:`Skipped` when it cannot be decoded (schema.* says why)."""
    try:
        if ex.events is not None:
            return ctx.provider.decode_stream(ex.events)
        return ctx.provider.decode(ex.body)
    except DecodeError as exc:
        raise Skipped(
            f"not judged: the answer to probe {ex.probe!r} ({ex.meta.get('label') or 'plain'}) "
            f"could not be decoded: {exc}"
        ) from None


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
    gen = _decode(ctx, ex)
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
            bad.append(
                exchange_evidence(ex, problem=f"{unit} with {param}={length.cap}", **length.facts())
            )
    if bad:
        raise Failed(
            f"{param} is not enforced: {bad[0]['problem']} ({bad[0].get('label') or 'plain'})",
            {"bad": bad},
        )
    if not judged:
        raise Skipped("not judged: no answer had a choice to measure")
    return f"{param}={LENGTH_CAP} respected in {judged} answer(s)"


# --------------------------------------------------------------------------- checks


@check(
    id="semantics.max_tokens",
    title="max_tokens caps the answer's length",
    severity=Severity.CLIENT,
    source=_REF + ": max_tokens",
    probes=("length_cap",),
    dialects=_OAI,
    requires="max_tokens",
)
def max_tokens(ctx: CheckContext) -> str:
    """An answer asked for with `max_tokens: 5` has at most 5 completion tokens (judged
    plain and streamed, on the server's own usage count). Clients set the cap to bound
    cost and latency."""
    return _judge_cap(ctx, "length_cap", "max_tokens")


@check(
    id="semantics.max_completion_tokens",
    title="max_completion_tokens caps the answer's length",
    severity=Severity.CLIENT,
    source=_REF + ": max_completion_tokens",
    probes=("length_cap_mct",),
    dialects=_OAI,
    requires="max_completion_tokens",
)
def max_completion_tokens(ctx: CheckContext) -> str:
    """An answer asked for with `max_completion_tokens: 5` (the newer name of the cap)
    has at most 5 completion tokens, plain and streamed."""
    return _judge_cap(ctx, "length_cap_mct", "max_completion_tokens")


@check(
    id="semantics.length_finish_reason",
    title='An answer cut by the length cap says finish_reason "length"',
    severity=Severity.CLIENT,
    source=_REF + ': choices[].finish_reason ("length": the maximum number of tokens was reached)',
    probes=("length_cap", "length_cap_mct"),
    dialects=_OAI,
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
                    f"{param}={length.cap}",
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
    title="n gives n choices, indexed 0..n-1, plain and streamed",
    severity=Severity.CLIENT,
    source=_REF + ": n",
    probes=("n_choices",),
    dialects=_OAI,
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
            ex = ctx.accepted("n_choices", feature="n > 1", label=label)
        except Skipped as exc:
            refusals.append(exc.detail)
            continue
        n = _param(ex, "n")
        gen = _decode(ctx, ex)
        indexes = [c.index for c in gen.choices]
        judged += 1
        if len(indexes) == 1 and n != 1:
            problem = f"n={n} was ignored: one choice came back ({label})"
        elif sorted(indexes) != list(range(n)):
            problem = f"n={n} gave choice indexes {sorted(indexes)}, not {list(range(n))} ({label})"
        elif ex.events is not None and any(c.finish_reason is None for c in gen.choices):
            open_ = sorted(c.index for c in gen.choices if c.finish_reason is None)
            problem = (
                f"n={n} streamed: choice(s) {open_} never got a finish_reason ({label}); "
                "clients wait for every choice to finish"
            )
        else:
            continue
        bad.append(exchange_evidence(ex, body=ex.events is None, problem=problem, indexes=indexes))
    if bad:
        raise Failed(bad[0]["problem"], {"bad": bad})
    if not judged:
        raise Skipped(refusals[0] if refusals else "not judged: no n > 1 request was answered")
    return f"{judged} answer(s) with n choices indexed 0..n-1"


@check(
    id="semantics.usage_consistent",
    title="usage counts are consistent with the request and the answer",
    severity=Severity.CLIENT,
    source=_REF + ": usage",
    probes=("chat", "length_cap", "multi_turn", "stop_string"),
    dialects=_OAI,
)
def usage_consistent(ctx: CheckContext) -> str:
    """Across plain and streamed answers: total_tokens = prompt_tokens + completion_tokens;
    an answer cut by the cap counts exactly the cap; a non-empty prompt costs tokens and a
    longer conversation more of them. Exact counts are never demanded (the tokenizer is
    the server's)."""
    fails: list[dict[str, Any]] = []
    warns: list[dict[str, Any]] = []
    judged = 0
    prompt_by_probe: dict[str, int] = {}
    for name in ("chat", "length_cap", "multi_turn", "stop_string"):
        try:
            usable, _ = _usable(ctx, name)
        except Skipped:
            continue
        for ex in usable:
            try:
                gen = _decode(ctx, ex)
            except Skipped:
                continue
            u = gen.usage
            if u is None or None in (u.prompt_tokens, u.completion_tokens, u.total_tokens):
                continue  # absent or partial usage: schema.usage and stream.usage_chunk
            assert u.prompt_tokens is not None and u.completion_tokens is not None
            judged += 1
            where = f"{name}/{ex.meta.get('label') or 'plain'}"
            counts = {"prompt": u.prompt_tokens, "completion": u.completion_tokens,
                      "total": u.total_tokens}  # fmt: skip
            if u.total_tokens != u.prompt_tokens + u.completion_tokens:
                fails.append(case_evidence(ex, problem=(
                    f"total_tokens {u.total_tokens} != prompt_tokens {u.prompt_tokens} + "
                    f"completion_tokens {u.completion_tokens} ({where})"), usage=counts))  # fmt: skip
            if u.prompt_tokens == 0:
                warns.append(case_evidence(ex, problem=f"prompt_tokens is 0 for a non-empty prompt ({where})", usage=counts))  # fmt: skip
            text = "".join(c.text for c in gen.choices)
            if u.completion_tokens == 0 and text.strip():
                warns.append(case_evidence(ex, problem=f"completion_tokens is 0 for a non-empty answer ({where})", usage=counts))  # fmt: skip
            cap = _param(ex, "max_tokens")
            finish = gen.choices[0].finish_reason if len(gen.choices) == 1 else None
            if isinstance(cap, int) and finish == "length" and u.completion_tokens < cap:
                warns.append(case_evidence(ex, problem=(
                    f'finish_reason "length" but completion_tokens {u.completion_tokens} is '
                    f"below max_tokens={cap} ({where})"), usage=counts))  # fmt: skip
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
    title="A streamed answer matches the plain one at temperature 0",
    severity=Severity.COSMETIC,
    source=_REF + ": temperature, seed, stream",
    probes=("stream_agreement",),
    dialects=_OAI,
    requires="streaming",
    warn_only=True,
)
def stream_matches_plain(ctx: CheckContext) -> str:
    """The same greedy request (temperature 0 and a seed) gives the same text streamed and
    not streamed. Only a warning: batching makes many backends not bit-for-bit
    deterministic."""
    plain = ctx.successful("stream_agreement", label="plain")
    streamed = ctx.successful("stream_agreement", label="streamed")
    a, b = _decode(ctx, plain).text, _decode(ctx, streamed).text
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
    gen = _decode(ctx, ex)
    if not gen.choices:
        raise Failed("the multi-turn answer has no choice", exchange_evidence(ex))
    return f"answered ({len(gen.text)} characters)"


@check(
    id="semantics.logprobs",
    title="logprobs are returned when asked for, or refused",
    severity=Severity.CLIENT,
    source=_REF + ": logprobs, top_logprobs",
    probes=("logprobs",),
    dialects=_OAI,
    requires="logprobs",
)
def logprobs(ctx: CheckContext) -> str:
    """`logprobs: true, top_logprobs: 2` returns `choices[].logprobs.content`: one entry
    per token with its log-probability (<= 0) and up to two alternatives. Refusing the
    feature with a 4xx is a capability (skipped); ignoring it is a failure."""
    ex = ctx.accepted("logprobs", feature="logprobs")
    try:
        choice = ex.json()["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise Skipped("not judged: the answer has no choices (see schema.completion)") from None
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if lp is None:
        raise Failed(
            "logprobs: true was accepted but the answer has no logprobs (silently ignored)",
            exchange_evidence(ex),
        )
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content:
        raise Failed("choices[0].logprobs has no content entries", exchange_evidence(ex))
    alternatives = 0
    for i, entry in enumerate(content):
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("token"), str)
            and isinstance(entry.get("logprob"), int | float)
            and not isinstance(entry.get("logprob"), bool)
        )
        if not ok:
            raise Failed(f"logprobs.content[{i}] is not {{token, logprob}}", exchange_evidence(ex))
        if entry["logprob"] > 1e-6:
            raise Failed(
                f"logprobs.content[{i}].logprob is {entry['logprob']}, above 0",
                exchange_evidence(ex),
            )
        top = entry.get("top_logprobs")
        if isinstance(top, list):
            if len(top) > 2:
                raise Failed(
                    f"logprobs.content[{i}] has {len(top)} alternatives; top_logprobs was 2",
                    exchange_evidence(ex),
                )
            alternatives += len(top)
    if alternatives == 0:
        raise Failed(
            "top_logprobs: 2 was ignored: no token lists alternatives", exchange_evidence(ex)
        )
    return f"{len(content)} token(s) with log-probabilities"


@check(
    id="semantics.tools",
    title="A forced tool call comes back as tool_calls, or tools are refused",
    severity=Severity.CLIENT,
    source=_REF + ": tools, tool_choice",
    probes=("tool_call",),
    dialects=_OAI,
    requires="tools",
)
def tools(ctx: CheckContext) -> str:
    """With one function offered and forced by a named `tool_choice`, the answer carries a
    tool call to that function whose arguments are a JSON object. Refusing tools with a
    4xx is a capability (skipped); answering in plain text ignores the tool schema."""
    ex = ctx.accepted("tool_call", feature="tools")
    gen = _decode(ctx, ex)
    calls = (gen.choices[0].tool_calls if gen.choices else None) or []
    if not calls:
        raise Failed(
            "tool_choice forced get_weather but the answer has no tool call (tools or tool_choice "
            "silently ignored)",
            exchange_evidence(ex, text=gen.text[:300]),
        )
    call = calls[0]
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if name != "get_weather":
        raise Failed(
            f"the tool call names {name!r}, not the forced 'get_weather'", exchange_evidence(ex)
        )
    arguments = function.get("arguments") if isinstance(function, dict) else None
    try:
        parsed = parse_json_bounded(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise Failed(
            f"the tool call's arguments are not a JSON object string: {arguments!r:.120}",
            exchange_evidence(ex),
        )
    return f"get_weather called with {sorted(parsed)}"


def _judge_cut_json(ex: Exchange, text: str) -> None:
    """An answer cut by the cap in JSON mode is the start of a JSON object: :class:`Failed`
    when it does not start with `{` (the setting was ignored), else :class:`Skipped`."""
    start = text.lstrip()
    if start and not start.startswith("{"):
        raise Failed(
            "JSON mode was accepted but the answer (cut by the length cap) does not even "
            f"start as a JSON object: {start[:120]!r}",
            exchange_evidence(ex),
        )
    raise Skipped("not judgeable: the JSON answer was cut by the length cap")


@check(
    id="semantics.json_mode",
    title="response_format json_object gives a JSON object, or is refused",
    severity=Severity.CLIENT,
    source=_REF + ": response_format",
    probes=("json_mode",),
    dialects=_OAI,
    requires="response_format",
)
def json_mode(ctx: CheckContext) -> str:
    """With `response_format: {"type": "json_object"}` the message content parses as a JSON
    object. Refusing JSON mode with a 4xx is a capability (skipped); free text means the
    setting was ignored. An answer cut by the length cap is only judged on its start: JSON
    mode constrains the first token, so even a cut answer begins with `{`."""
    ex = ctx.accepted("json_mode", feature="response_format json_object")
    gen = _decode(ctx, ex)
    if not gen.choices:
        raise Skipped("not judged: the answer has no choice")
    choice = gen.choices[0]
    if choice.finish_reason == "length":
        _judge_cut_json(ex, choice.text)
    try:
        value = parse_json_bounded(choice.text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Failed(
            f"JSON mode was accepted but the content is not a JSON object: {choice.text[:120]!r}",
            exchange_evidence(ex),
        )
    return "the content is a JSON object"


@check(
    id="semantics.seed",
    title="The same seed gives the same answer",
    severity=Severity.COSMETIC,
    source=_REF + ": seed (best effort determinism)",
    probes=("seed_pair",),
    dialects=_OAI,
    requires="seed",
    warn_only=True,
)
def seed(ctx: CheckContext) -> str:
    """Two sampled requests (temperature 1) with the same seed give the same text. Only a
    warning: the specification promises best effort. Refusing `seed` with a 4xx is a
    capability (skipped)."""
    first = ctx.accepted("seed_pair", feature="seed", label="first")
    second = ctx.accepted("seed_pair", feature="seed", label="second")
    a, b = _decode(ctx, first).text, _decode(ctx, second).text
    if a != b:
        raise Failed(
            "two requests with the same seed gave different texts",
            exchange_evidence(second, body=False, first_text=a[:300], second_text=b[:300]),
        )
    return "identical texts"
