"""Parameter semantics of the optional features, judged plainly and streamed.

``logprobs``/``top_logprobs``, tools and ``tool_choice`` ("none", "required", a named
function), ``response_format`` (``json_object`` and ``json_schema``) and ``seed``: each
probe sends the same request once plain and once streamed (when the profile documents
streaming), and each verdict names the mode that broke. Real servers build the two
answers in two code paths, so a parameter honoured plain is often dropped when streaming.

Judgement rules that keep correct servers green:

- a feature the profile does not document is not probed (capabilities);
- a clean 4xx refusal of the feature is a capability (``skipped``), per mode;
- streamed logprobs come per chunk and are joined before judging;
- a structured answer cut by the length cap is not judged on its whole;
- determinism (``seed``) is only ever a warning.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from conformance.checks._judge import accepted
from conformance.checks._oai import chunks_or_skip, decode_or_skip
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import (
    OPENAI_ONLY,
    CheckContext,
    Failed,
    ProbeContext,
    ProbeRequest,
    Severity,
    Skipped,
    check,
    probe,
)
from conformance.checks.semantics import WEATHER_TOOL
from conformance.providers.base import Generation
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["ANSWER_SCHEMA", "TIME_TOOL", "mode_of"]

_REF = "OpenAI API reference, Create chat completion"
PLAIN, STREAMED = "plain", "streamed"

#: a second tool, named by the tool_choice probe although the question is about weather
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_local_time",
        "description": "Get the current local time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "An IANA zone name"}},
            "required": ["timezone"],
        },
    },
}

#: the strict schema of the json_schema probe: nested objects, an array, enums
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "colour": {"type": "string", "enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "size": {"type": "string", "enum": ["small", "large"]},
            },
            "required": ["city", "size"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "colour", "tags", "owner"],
    "additionalProperties": False,
}


def mode_of(ex: Exchange) -> str:
    """``"streamed"`` or ``"plain"``: how the exchange's answer was asked for."""
    return STREAMED if ex.events is not None else PLAIN


def _both(
    pctx: ProbeContext, messages: list[dict[str, Any]], params: dict[str, Any], tag: str = ""
) -> list[ProbeRequest]:
    """The request plain, and streamed when the profile documents streaming."""
    prefix = f"{tag}/" if tag else ""
    out = [ProbeRequest(messages=messages, params=params, label=prefix + PLAIN)]
    if pctx.capabilities.streaming:
        out.append(
            ProbeRequest(
                messages=messages, params={**params, "stream": True}, label=prefix + STREAMED
            )
        )
    return out


def _accepted_each(
    ctx: CheckContext, probe_name: str, feature: str, tag: str = ""
) -> tuple[list[Exchange], list[Skipped]]:
    """The accepted exchanges of a two-mode probe (optionally of one ``tag``), and why
    the others are not judged (a clean 4xx per mode is a capability: :class:`Refused`)."""
    answers: list[Exchange] = []
    refusals: list[Skipped] = []
    for ex in ctx.exchanges(probe_name):
        label = str(ex.meta.get("label") or "")
        if tag and not label.startswith(tag + "/"):
            continue
        try:
            feature_in_mode = f"{feature} ({mode_of(ex)})"
            answers.append(accepted(ctx, probe_name, feature=feature_in_mode, label=label or None))
        except Skipped as exc:
            refusals.append(exc)
    return answers, refusals


def _verdict(bad: list[dict[str, Any]], judged: int, reasons: list[Skipped], what: str) -> str:
    """Failed on the first problem; else Refused/Skipped (the first reason) when nothing
    was judged; else ``what``."""
    if bad:
        raise Failed(bad[0]["problem"], {"bad": bad})
    if not judged:
        if reasons:
            raise reasons[0]
        raise Skipped("not judged: no request was answered")
    return what


def _first_choice(ctx: CheckContext, ex: Exchange) -> tuple[Generation, Any]:
    gen = decode_or_skip(ctx, ex)
    if not gen.choices:
        raise Skipped(f"not judged: the {mode_of(ex)} answer has no choice (see schema.*)")
    return gen, gen.choices[0]


# --------------------------------------------------------------------------- logprobs

#: alternatives asked for per token
TOP_LOGPROBS = 2


@probe("logprobs", dialects=OPENAI_ONLY, requires="logprobs", priority=40)
def logprobs_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A short completion asking for logprobs with two alternatives per token, plain and
    streamed."""
    params = {"logprobs": True, "top_logprobs": TOP_LOGPROBS, "max_tokens": 5}
    return _both(pctx, pctx.messages(), params)


def _logprob_entries(ex: Exchange) -> list[Any] | None:
    """The ``logprobs.content`` entries of choice 0 (streamed: joined over the chunks);
    ``None`` when no chunk or choice carries any logprobs object."""
    if ex.events is None:
        try:
            choice = parse_json_bounded(ex.body)["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise Skipped("not judged: the answer has no choices (see schema.completion)") from None
        lp = choice.get("logprobs") if isinstance(choice, dict) else None
        if lp is None:
            return None
        content = lp.get("content") if isinstance(lp, dict) else None
        return content if isinstance(content, list) else []
    entries: list[Any] | None = None
    for chunk in chunks_or_skip(ex):
        for choice in chunk.choices:
            if choice.get("index", 0) != 0:
                continue
            lp = choice.get("logprobs")
            if lp is None:
                continue
            content = lp.get("content") if isinstance(lp, dict) else None
            entries = (entries or []) + (content if isinstance(content, list) else [])
    return entries


def _logprob_problem(ex: Exchange, entries: list[Any] | None) -> str | None:
    mode = mode_of(ex)
    if entries is None:
        return f"logprobs: true was accepted but the {mode} answer has no logprobs (ignored)"
    if not entries:
        return f"the {mode} answer's logprobs have no content entries"
    alternatives = 0
    for i, entry in enumerate(entries):
        logprob = entry.get("logprob") if isinstance(entry, dict) else None
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("token"), str)
            and isinstance(logprob, int | float)
            and not isinstance(logprob, bool)
        ):
            return f"{mode}: logprobs.content[{i}] is not {{token, logprob}}"
        if logprob > 1e-6:
            return f"{mode}: logprobs.content[{i}].logprob is {logprob}, above 0"
        top = entry.get("top_logprobs")
        if isinstance(top, list):
            if len(top) > TOP_LOGPROBS:
                return (
                    f"{mode}: logprobs.content[{i}] has {len(top)} alternatives; "
                    f"top_logprobs was {TOP_LOGPROBS}"
                )
            alternatives += len(top)
    if alternatives == 0:
        return f"top_logprobs: {TOP_LOGPROBS} was ignored in the {mode} answer: no alternatives"
    return None


@check(
    id="semantics.logprobs",
    fact="param.logprobs",
    title="logprobs are returned when asked for, plain and streamed, or refused",
    severity=Severity.CLIENT,
    source=_REF + ": logprobs, top_logprobs; the chat completion chunk object (choices[].logprobs)",
    probes=("logprobs",),
    dialects=OPENAI_ONLY,
    requires="logprobs",
)
def logprobs(ctx: CheckContext) -> str:
    """`logprobs: true, top_logprobs: 2` returns `logprobs.content`: one entry per token
    with its log-probability (<= 0) and at most two alternatives (some, not none); streamed,
    each chunk carries the entries of its own tokens. More entries than the usage counts
    tokens is impossible. Refusing the feature with a 4xx is a capability (skipped);
    ignoring it, in either mode, is a failure."""
    accepted, refusals = _accepted_each(ctx, "logprobs", "logprobs")
    bad: list[dict[str, Any]] = []
    counted: list[str] = []
    for ex in accepted:
        entries = _logprob_entries(ex)
        problem = _logprob_problem(ex, entries)
        if problem is None and entries is not None:
            gen = decode_or_skip(ctx, ex)
            tokens = gen.usage.completion_tokens if gen.usage is not None else None
            if tokens is not None and len(entries) > tokens:
                problem = (
                    f"the {mode_of(ex)} answer has {len(entries)} logprobs entries but usage "
                    f"counts {tokens} completion tokens: one entry per token"
                )
            else:
                counted.append(f"{len(entries)} ({mode_of(ex)})")
        if problem is not None:
            bad.append(
                exchange_evidence(ex, body=ex.events is None, problem=problem, mode=mode_of(ex))
            )
    return _verdict(bad, len(accepted), refusals, f"token logprobs: {', '.join(counted)}")


# --------------------------------------------------------------------------- tools


def _choice_param(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


@probe("tool_call", dialects=OPENAI_ONLY, requires="tools", priority=41)
def tool_call_probe(pctx: ProbeContext) -> ProbeRequest:
    """A question with one tool offered and forced by a named tool_choice (streamed: the
    ``tool_call_stream`` probe)."""
    params = {
        "tools": [WEATHER_TOOL],
        "tool_choice": _choice_param("get_weather"),
        "max_tokens": 64,
    }
    return ProbeRequest(messages=pctx.messages("What is the weather in Paris?"), params=params)


@probe("tool_choice", dialects=OPENAI_ONLY, requires="tools", priority=46)
def tool_choice_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A weather question with tools offered and tool_choice "none", "required", and
    naming the time tool (not the one the question calls for), each plain and streamed."""
    messages = pctx.messages("What is the weather in Paris?")
    both = [WEATHER_TOOL, TIME_TOOL]
    out: list[ProbeRequest] = []
    for tag, choice in (
        ("none", "none"),
        ("required", "required"),
        ("named", _choice_param("get_local_time")),
    ):
        params = {"tools": both, "tool_choice": choice, "max_tokens": 64}
        out += _both(pctx, messages, params, tag)
    return out


def _calls(gen: Generation) -> list[Any]:
    return (gen.choices[0].tool_calls if gen.choices else None) or []


def _call_problem(ex: Exchange, call: Any, names: set[str]) -> str | None:
    """Why a tool call is not a call to one of ``names`` with a JSON object string."""
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    mode = mode_of(ex)
    if name not in names:
        return f"the {mode} tool call names {name!r}, not {' or '.join(sorted(names))}"
    arguments = function.get("arguments") if isinstance(function, dict) else None
    try:
        parsed = parse_json_bounded(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return f"the {mode} tool call's arguments are not a JSON object string: {arguments!r:.120}"
    return None


def _forced(ctx: CheckContext, ex: Exchange, name: str) -> str | None:
    gen = decode_or_skip(ctx, ex)
    calls = _calls(gen)
    if not calls:
        return (
            f"tool_choice forced {name} but the {mode_of(ex)} answer has no tool call (tools or "
            "tool_choice silently ignored)"
        )
    return _call_problem(ex, calls[0], {name})


@check(
    id="semantics.tools",
    fact="param.tools",
    title="A tool call forced by name comes back as that tool's call, plain and streamed",
    severity=Severity.CLIENT,
    source=_REF + ": tools, tool_choice (a named function forces that function)",
    probes=("tool_call", "tool_call_stream", "tool_choice"),
    dialects=OPENAI_ONLY,
    requires="tools",
)
def tools(ctx: CheckContext) -> str:
    """With `tool_choice` naming a function, the answer calls exactly that function (also
    when another offered tool fits the question better) with arguments that are a string
    holding a JSON object; the same streamed. Refusing tools with a 4xx is a capability
    (skipped); answering in text or calling another tool ignores the choice."""
    cases: list[tuple[Exchange, str]] = []
    refusals: list[Skipped] = []
    for name, tag, forced in (
        ("tool_call", "", "get_weather"),
        ("tool_call_stream", "", "get_weather"),
        ("tool_choice", "named", "get_local_time"),
    ):
        try:
            accepted, why = _accepted_each(ctx, name, "tools", tag)
        except Skipped as exc:
            refusals.append(exc)
            continue
        cases += [(ex, forced) for ex in accepted]
        refusals += why
    bad: list[dict[str, Any]] = []
    for ex, forced in cases:
        problem = _forced(ctx, ex, forced)
        if problem is not None:
            bad.append(
                exchange_evidence(ex, body=ex.events is None, problem=problem, mode=mode_of(ex))
            )
    return _verdict(bad, len(cases), refusals, f"the named tool called in {len(cases)} answer(s)")


@check(
    id="semantics.tool_choice_none",
    fact="param.tools",
    title='tool_choice "none" gives a text answer, plain and streamed',
    severity=Severity.CLIENT,
    source=_REF + ': tool_choice ("none" means the model will not call any tool)',
    probes=("tool_choice",),
    dialects=OPENAI_ONLY,
    requires="tools",
)
def tool_choice_none(ctx: CheckContext) -> str:
    """With tools offered and `tool_choice: "none"`, the answer calls no tool. Clients
    send "none" to get the final text answer after tool results; a call there loops an
    agent forever. Refusing it with a 4xx is a capability (skipped)."""
    accepted, refusals = _accepted_each(ctx, "tool_choice", 'tool_choice "none"', "none")
    bad: list[dict[str, Any]] = []
    for ex in accepted:
        calls = _calls(decode_or_skip(ctx, ex))
        if calls:
            function = calls[0].get("function") if isinstance(calls[0], dict) else None
            called = function.get("name") if isinstance(function, dict) else None
            problem = f'tool_choice "none" was ignored: the {mode_of(ex)} answer calls {called!r}'
            bad.append(
                exchange_evidence(ex, body=ex.events is None, problem=problem, mode=mode_of(ex))
            )
    return _verdict(bad, len(accepted), refusals, f"no tool call in {len(accepted)} answer(s)")


@check(
    id="semantics.tool_choice_required",
    fact="param.tools",
    title='tool_choice "required" gives a tool call, plain and streamed',
    severity=Severity.CLIENT,
    source=_REF + ': tool_choice ("required" means the model must call one or more tools)',
    probes=("tool_choice",),
    dialects=OPENAI_ONLY,
    requires="tools",
)
def tool_choice_required(ctx: CheckContext) -> str:
    """With `tool_choice: "required"`, the answer calls one of the offered tools, with
    arguments that are a JSON object string. Refusing "required" with a 4xx is a
    capability (skipped); a text answer ignores it."""
    accepted, refusals = _accepted_each(ctx, "tool_choice", 'tool_choice "required"', "required")
    offered = {WEATHER_TOOL["function"]["name"], TIME_TOOL["function"]["name"]}
    bad: list[dict[str, Any]] = []
    for ex in accepted:
        calls = _calls(decode_or_skip(ctx, ex))
        if not calls:
            problem: str | None = (
                f'tool_choice "required" was ignored: the {mode_of(ex)} answer calls no tool'
            )
        else:
            problem = _call_problem(ex, calls[0], offered)
        if problem is not None:
            bad.append(
                exchange_evidence(ex, body=ex.events is None, problem=problem, mode=mode_of(ex))
            )
    return _verdict(bad, len(accepted), refusals, f"a tool call in {len(accepted)} answer(s)")


# --------------------------------------------------------------------------- JSON


@probe("json_mode", dialects=OPENAI_ONLY, requires="response_format", priority=42)
def json_mode_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A request for a JSON object with response_format json_object, plain and streamed."""
    messages = [
        {"role": "system", "content": "You reply with a single JSON object and nothing else."},
        {
            "role": "user",
            "content": 'Give a JSON object with the key "colour" and a colour as value.',
        },
    ]
    params = {"response_format": {"type": "json_object"}, "max_tokens": 200}
    return _both(pctx, messages, params)


@probe("json_schema", dialects=OPENAI_ONLY, requires="response_format", priority=47)
def json_schema_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """A request for JSON fitting a strict schema (nested object, array, enums), plain
    and streamed."""
    messages = pctx.messages(
        "Describe a made-up pet: its name, a colour (red, green or blue), a few tags, and its "
        "owner's city and size (small or large)."
    )
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "pet", "strict": True, "schema": ANSWER_SCHEMA},
    }
    return _both(pctx, messages, {"response_format": fmt, "max_tokens": 200})


def _judge_cut_json(ex: Exchange, text: str) -> None:
    """An answer cut by the cap is the start of a JSON object: :class:`Failed` when it does
    not start with `{` (the setting was ignored), else :class:`Skipped`."""
    start = text.lstrip()
    if start and not start.startswith("{"):
        raise Failed(
            f"a JSON response_format was accepted but the {mode_of(ex)} answer (cut by the "
            f"length cap) does not even start as a JSON object: {start[:120]!r}",
            exchange_evidence(ex, body=ex.events is None, mode=mode_of(ex)),
        )
    raise Skipped(f"not judgeable: the {mode_of(ex)} JSON answer was cut by the length cap")


def _json_answer(ctx: CheckContext, ex: Exchange) -> tuple[Any, str]:
    """(the parsed content or ``None``, the text); raises for a cut answer."""
    _gen, choice = _first_choice(ctx, ex)
    if choice.finish_reason == "length":
        _judge_cut_json(ex, choice.text)
    try:
        return parse_json_bounded(choice.text), choice.text
    except ValueError:
        return None, choice.text


def _each_judged(
    ctx: CheckContext, accepted: list[Exchange], judge: Any
) -> tuple[list[dict[str, Any]], int, list[Skipped]]:
    """Run ``judge(ex)`` (a problem or ``None``) on each exchange; cut answers are left
    out with their reason."""
    bad: list[dict[str, Any]] = []
    judged = 0
    skipped: list[Skipped] = []
    for ex in accepted:
        try:
            problem = judge(ex)
        except Skipped as exc:
            skipped.append(exc)
            continue
        judged += 1
        if problem is not None:
            bad.append(
                exchange_evidence(ex, body=ex.events is None, problem=problem, mode=mode_of(ex))
            )
    return bad, judged, skipped


@check(
    id="semantics.json_mode",
    fact="param.response_format",
    title="response_format json_object gives a JSON object, plain and streamed, or is refused",
    severity=Severity.CLIENT,
    source=_REF + ": response_format",
    probes=("json_mode",),
    dialects=OPENAI_ONLY,
    requires="response_format",
)
def json_mode(ctx: CheckContext) -> str:
    """With `response_format: {"type": "json_object"}` the message content (streamed: the
    joined deltas) parses as a JSON object. Refusing JSON mode with a 4xx is a capability
    (skipped); free text means the setting was ignored. An answer cut by the length cap is
    only judged on its start: JSON mode constrains the first token."""
    accepted, refusals = _accepted_each(ctx, "json_mode", "response_format json_object")

    def judge(ex: Exchange) -> str | None:
        value, text = _json_answer(ctx, ex)
        if isinstance(value, dict):
            return None
        return (
            f"JSON mode was accepted but the {mode_of(ex)} content is not a JSON object: "
            f"{text[:120]!r}"
        )

    bad, judged, skipped = _each_judged(ctx, accepted, judge)
    return _verdict(bad, judged, refusals + skipped, f"a JSON object in {judged} answer(s)")


_SCHEMA_VALIDATOR = Draft202012Validator(ANSWER_SCHEMA)


def _schema_errors(value: Any) -> list[str]:
    """Where ``value`` breaks :data:`ANSWER_SCHEMA` (``[]``: it validates)."""
    try:
        errors = sorted(_SCHEMA_VALIDATOR.iter_errors(value), key=lambda e: list(e.path))
    except SchemaError as exc:  # pragma: no cover - the schema is ours and valid
        return [str(exc)]
    return [f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}"[:200] for e in errors]


@check(
    id="semantics.json_schema",
    fact="param.response_format",
    title="response_format json_schema gives JSON that validates, plain and streamed",
    severity=Severity.CLIENT,
    source=_REF + ": response_format json_schema (Structured Outputs, strict)",
    probes=("json_schema",),
    dialects=OPENAI_ONLY,
    requires="response_format",
)
def json_schema(ctx: CheckContext) -> str:
    """With `response_format: {"type": "json_schema", "json_schema": {"strict": true,
    "schema": ...}}` the content is JSON that validates against the schema sent (nested
    objects, arrays, enums, no extra properties), checked by a JSON Schema validator.
    Many servers support only json_object, or no strict schemas: a clean 4xx refusal is a
    capability (skipped). Accepting the schema and answering JSON that breaks it is the
    failure clients cannot guard against: they parse it into typed objects."""
    accepted, refusals = _accepted_each(ctx, "json_schema", "response_format json_schema")

    def judge(ex: Exchange) -> str | None:
        value, text = _json_answer(ctx, ex)
        if value is None:
            return (
                f"json_schema was accepted but the {mode_of(ex)} content is not JSON: "
                f"{text[:120]!r}"
            )
        errors = _schema_errors(value)
        if errors:
            return (
                f"json_schema was accepted but the {mode_of(ex)} JSON does not validate against "
                f"the schema sent: {errors[0]}"
            )
        return None

    bad, judged, skipped = _each_judged(ctx, accepted, judge)
    return _verdict(bad, judged, refusals + skipped, f"valid JSON in {judged} answer(s)")


# --------------------------------------------------------------------------- seed


@probe("seed_pair", dialects=OPENAI_ONLY, requires="seed", priority=43)
def seed_pair_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """The same sampled request twice with the same seed, plain and streamed."""
    params: dict[str, Any] = {"seed": 4242, "temperature": 1.0, "max_tokens": 12}
    messages = pctx.messages("Invent a name for a small boat.")
    out = [
        ProbeRequest(messages=messages, params=params, label="first"),
        ProbeRequest(messages=messages, params=params, label="second"),
    ]
    if pctx.capabilities.streaming:
        streamed = {**params, "stream": True}
        out.append(ProbeRequest(messages=messages, params=streamed, label="first_streamed"))
        out.append(ProbeRequest(messages=messages, params=streamed, label="second_streamed"))
    return out


@check(
    id="semantics.seed",
    fact="param.seed",
    title="The same seed gives the same answer, plain and streamed",
    severity=Severity.COSMETIC,
    source=_REF + ": seed (best effort determinism)",
    probes=("seed_pair",),
    dialects=OPENAI_ONLY,
    requires="seed",
    warn_only=True,
)
def seed(ctx: CheckContext) -> str:
    """Two sampled requests (temperature 1) with the same seed give the same text, and so
    do two streamed ones. Only a warning: the specification promises best effort.
    Refusing `seed` with a 4xx is a capability (skipped)."""
    bad: list[dict[str, Any]] = []
    judged: list[str] = []
    refusals: list[Skipped] = []
    for first_label, second_label in (("first", "second"), ("first_streamed", "second_streamed")):
        try:
            first = accepted(ctx, "seed_pair", feature="seed", label=first_label)
            second = accepted(ctx, "seed_pair", feature="seed", label=second_label)
        except Skipped as exc:
            refusals.append(exc)
            continue
        a, b = decode_or_skip(ctx, first).text, decode_or_skip(ctx, second).text
        judged.append(mode_of(first))
        if a != b:
            problem = f"two {mode_of(first)} requests with the same seed gave different texts"
            bad.append(
                exchange_evidence(
                    second, body=False, problem=problem, mode=mode_of(first),
                    first_text=a[:300], second_text=b[:300],
                )
            )  # fmt: skip
    return _verdict(bad, len(judged), refusals, f"identical texts ({', '.join(judged)})")
