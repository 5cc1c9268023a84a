"""Parameter semantics, continued: the conversation reaches the model in every valid form.

Three ways real servers break that the request parameters alone do not show:

- ``content`` given as an array of text parts (``[{"type": "text", "text": ...}]``), the
  form the OpenAI SDKs, LangChain and most agent frameworks send, refused with a 400
  (TGI, older llama.cpp and several proxies accepted only strings);
- the follow-up turn of a tool call (an assistant message with ``tool_calls``, then a
  ``tool`` message with the result) refused although ``tools`` are accepted: a tool
  call can then never be completed;
- the same text whatever the conversation (a stub, a template that drops the messages):
  judged on the free answers to clearly different prompts, and only ever a warning;
- a tool call honoured plain but broken when streamed (deltas without ``index``,
  ``arguments`` sent as an object; plain text instead of the call is judged by
  ``semantics.tools``, which reads both modes).

The checks read answers the other families also use (``chat``, ``multi_turn``,
``stop_string``, ``tool_call``) and add four small probes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.checks._judge import accepted
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
from conformance.checks.semantics import WEATHER_TOOL
from conformance.providers.base import DecodeError
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["OTHER_PROMPT", "TOOL_RESULT_TURN"]

_REF = "OpenAI API reference, Create chat completion"
#: a prompt whose answer cannot be confused with the answer to the default prompt
OTHER_PROMPT = "Name three planets of the solar system, separated by commas."
#: a complete tool round trip: the question, the model's call, the tool's result (the
#: call id is 9 alphanumeric characters: vLLM's Mistral tokenizer refuses any other)
TOOL_RESULT_TURN: tuple[dict[str, Any], ...] = (
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call12345",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "call12345",
        "content": '{"temperature_c": 18, "sky": "clear"}',
    },
)


def _small(pctx: ProbeContext, tokens: int = 16) -> dict[str, Any]:
    return {"max_tokens": tokens} if pctx.capabilities.max_tokens else {}


@probe("content_parts", dialects=OPENAI_ONLY, priority=26)
def content_parts_probe(pctx: ProbeContext) -> ProbeRequest:
    """The greedy request of the ``stream_agreement`` probe (same prompt, temperature 0,
    seed, cap), with the user's content as an array of one text part."""
    parts = [{"type": "text", "text": pctx.prompt}]
    return ProbeRequest(
        messages=[{"role": "user", "content": parts}], params=greedy_params(pctx, max_tokens=24)
    )


@probe("tool_result_turn", dialects=OPENAI_ONLY, requires="tools", priority=44)
def tool_result_turn_probe(pctx: ProbeContext) -> ProbeRequest:
    """The turn after a tool call: the call, the tool's result, and the tool offered and
    named in ``tool_choice`` as the ``tool_call`` probe does (vLLM refuses the implicit
    ``"auto"`` unless started with --enable-auto-tool-choice; a named choice works)."""
    choice = {"type": "function", "function": {"name": WEATHER_TOOL["function"]["name"]}}
    params = {"tools": [WEATHER_TOOL], "tool_choice": choice, **_small(pctx, 32)}
    return ProbeRequest(messages=[dict(m) for m in TOOL_RESULT_TURN], params=params)


@probe("other_prompt", priority=27)
def other_prompt_probe(pctx: ProbeContext) -> ProbeRequest:
    """A one-turn request with a prompt unlike the default one."""
    return ProbeRequest(messages=pctx.messages(OTHER_PROMPT), params=_small(pctx, 24))


def _refusal(ctx: CheckContext, ex: Exchange) -> str:
    message = ctx.provider.decode_error(ex.status or 0, ex.body).message
    return f"HTTP {ex.status}" + (f": {message[:200]}" if message else "")


def _has_choice(ctx: CheckContext, ex: Exchange) -> bool:
    try:
        return bool(ctx.provider.decode(ex.body).choices)
    except DecodeError:
        return False


def _string_content_twin(ctx: CheckContext) -> Exchange | None:
    """The plain ``stream_agreement`` exchange: the content-parts request's parameters
    with string content (``None`` when it was not made)."""
    try:
        twin = ctx.completed("stream_agreement", label="plain")
    except Skipped:
        return None
    return twin if twin.status is not None else None


def _same_as_string_content(ctx: CheckContext, ex: Exchange) -> str:
    """Passed when the text-part answer matches the string-content one; a warning when a
    deterministic server (its plain and streamed greedy answers agree) answers the
    text-part request differently: the parts may be dropped (the model sees an empty
    message) or mangled."""
    try:
        plain = ctx.successful("stream_agreement", label="plain")
        streamed = ctx.successful("stream_agreement", label="streamed")
        texts = [ctx.provider.decode(plain.body).text]
        texts.append(ctx.provider.decode_stream(streamed.events or []).text)
        parts_text = ctx.provider.decode(ex.body).text
    except (Skipped, DecodeError):
        return "accepted (not compared with string content)"
    if texts[0] != texts[1]:
        return "accepted (the server is not deterministic: not compared with string content)"
    if parts_text != texts[0]:
        raise Warned(
            "content as text parts was accepted, but at temperature 0 it gets another answer "
            "than the same text as a string (which this server answers reproducibly): the "
            "parts may be dropped or mangled before the model sees them",
            exchange_evidence(
                ex, body=False, string_answer=texts[0][:300], parts_answer=parts_text[:300]
            ),
        )
    return "accepted, with the same answer as string content"


@check(
    id="semantics.content_parts",
    fact="messages.content_parts",
    title="Message content given as an array of text parts is accepted",
    severity=Severity.CLIENT,
    source=_REF + ": messages[].content (string or array of content parts)",
    probes=("content_parts", "chat", "stream_agreement"),
    dialects=OPENAI_ONLY,
)
def content_parts(ctx: CheckContext) -> str:
    """`"content": [{"type": "text", "text": "..."}]` means the same as the string. The
    OpenAI SDKs, LangChain and most agent frameworks send this form; a server that only
    takes strings refuses their requests with a 400. (Profiles whose documentation only
    shows string content get a warning.) Accepted parts that get another answer than the
    same text as a string, from a server that is otherwise deterministic at temperature
    0, are a warning: the text may be dropped."""
    try:
        ctx.successful("chat")
    except Skipped as exc:
        raise Skipped(f"not judged: the plain request failed too ({exc.detail})") from None
    ex = ctx.completed("content_parts")
    status = ex.status or 0
    if 200 <= status < 300:
        if not _has_choice(ctx, ex):
            raise Skipped("not judged: the answer could not be decoded (see schema.*)")
        return _same_as_string_content(ctx, ex)
    twin = _string_content_twin(ctx)
    if twin is not None and not 200 <= (twin.status or 0) < 300:
        # the same parameters with string content are refused too (a model that refuses
        # temperature 0, say): the refusal is not about the content parts
        raise Skipped(
            "not judged: the same request with string content was refused too "
            f"({_refusal(ctx, twin)})"
        )
    why = (
        f"a message whose content is an array of text parts was answered {_refusal(ctx, ex)} "
        "while the same request with string content succeeds"
    )
    if status >= 500 or ctx.provider.name == "openai":
        raise Failed(why, exchange_evidence(ex))
    raise Warned(
        why + f" (the {ctx.provider.name} documentation only shows string content)",
        exchange_evidence(ex),
    )


@check(
    id="semantics.tool_result_turn",
    fact="param.tools",
    title="The turn that returns a tool's result is accepted",
    severity=Severity.CLIENT,
    source=_REF + ": messages (assistant tool_calls, tool role with tool_call_id)",
    probes=("tool_result_turn", "tool_call"),
    dialects=OPENAI_ONLY,
    requires="tools",
)
def tool_result_turn(ctx: CheckContext) -> str:
    """After a tool call, the client sends the conversation back with the assistant's
    `tool_calls` and a `tool` message carrying the result; the server answers it. A
    server that accepts `tools` but refuses this turn lets no tool call ever complete:
    a warning for a clean 4xx (often the model's chat template has no tool role), a
    failure for a 5xx or any other answer. Refusing tools altogether is a capability
    (skipped)."""
    try:
        ctx.successful("tool_call")
    except Skipped as exc:
        raise Skipped(f"not judged: tools are not accepted here ({exc.detail})") from None
    ex = ctx.completed("tool_result_turn")
    status = ex.status or 0
    if 200 <= status < 300:
        if not _has_choice(ctx, ex):
            raise Skipped("not judged: the answer could not be decoded (see schema.*)")
        return "the tool's result was accepted and answered"
    why = (
        "tools are accepted, but the follow-up turn with the assistant's tool_calls and the "
        f"tool's result was answered {_refusal(ctx, ex)}: a tool call can never complete"
    )
    if 400 <= status < 500:
        # a clean refusal: often the model's chat template has no tool role (Gemma 2 or
        # early Mistral through vLLM, which still honours a named tool_choice by guided
        # decoding); tool calling is unusable there, but it is the model's limit
        raise Warned(why, exchange_evidence(ex))
    raise Failed(why, exchange_evidence(ex))


#: (probe, label) of free answers to distinct prompts
_FREE_ANSWERS: tuple[tuple[str, str | None], ...] = (
    ("chat", None),
    ("other_prompt", None),
    ("multi_turn", None),
    ("stop_free", "plain"),
)


#: a shorter answer counts as the start of a longer one only from this many characters
_MIN_PREFIX = 20


def _free_text(ctx: CheckContext, name: str, label: str | None) -> str | None:
    try:
        ex = ctx.successful(name, label=label)
    except Skipped:
        return None
    if ex.events is not None:
        return None
    try:
        text = ctx.provider.decode(ex.body).text
    except DecodeError:
        return None
    return text.strip() or None


@check(
    id="semantics.answers_the_prompt",
    fact="messages",
    title="Different conversations get different answers",
    severity=Severity.CLIENT,
    source=_REF + ": messages (the conversation the model answers)",
    probes=("chat", "other_prompt", "multi_turn", "stop_free"),
    warn_only=True,
)
def answers_the_prompt(ctx: CheckContext) -> str:
    """Answers to clearly different prompts (a short reply, a list of planets, a
    conversation about the sky, a list of fruits...) are not all the same text: a server
    that answers everything with one canned text is a stub, or its template drops the
    conversation. Only a warning: a model could, in principle, refuse everything alike.
    Answers cut by the length cap count as the same when one is the start of another."""
    texts: dict[str, str] = {}
    for name, label in _FREE_ANSWERS:
        text = _free_text(ctx, name, label)
        if text is not None:
            texts[f"{name}/{label or 'plain'}"] = text
    if len(texts) < 3:
        raise Skipped(f"not judged: only {len(texts)} non-empty answer(s) to distinct prompts")
    values = sorted(texts.values(), key=len)
    shortest = values[0]
    same = all(v == shortest for v in values) or (
        len(shortest) >= _MIN_PREFIX and all(v.startswith(shortest) for v in values)
    )
    if same:
        raise Failed(
            f"{len(texts)} different conversations all got the same answer: {shortest[:120]!r}",
            {"answers": {k: v[:200] for k, v in texts.items()}},
        )
    return f"{len(set(texts.values()))} distinct answers to {len(texts)} prompts"


@probe("tool_call_stream", dialects=OPENAI_ONLY, requires="tools", priority=45)
def tool_call_stream_probe(pctx: ProbeContext) -> list[ProbeRequest]:
    """The forced tool call of the ``tool_call`` probe, streamed (none when the profile
    documents no streaming)."""
    if not pctx.capabilities.streaming:
        return []
    choice = {"type": "function", "function": {"name": WEATHER_TOOL["function"]["name"]}}
    params = {"tools": [WEATHER_TOOL], "tool_choice": choice, "max_tokens": 64, "stream": True}
    return [ProbeRequest(messages=pctx.messages("What is the weather in Paris?"), params=params)]


def _tool_call_entries(ex: Exchange, problems: list[str]) -> Iterator[tuple[int, Any, Any]]:
    """(event number, choice index, entry) for every ``delta.tool_calls`` entry."""
    for i, event in enumerate(ex.events or []):
        data = (event.data or "").strip()
        if not data or data == "[DONE]":
            continue
        try:
            chunk = parse_json_bounded(data)
        except ValueError:
            continue  # sse.data_is_json judges it
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            if calls is None:
                continue
            if not isinstance(calls, list):
                problems.append(f"event {i}: delta.tool_calls is not an array")
                continue
            for call in calls:
                yield i, choice.get("index"), call


def _repeated_fields(i: int, index: int, call: dict[str, Any], seen: dict[str, str]) -> list[str]:
    """What is wrong with the id and name of a later delta of the call at ``index``.

    ``seen`` holds the call's first id and name. Another id means a second call at an
    index already taken; the same id or name again is joined to the first by the
    official SDK's stream helper, which concatenates the string fields of a call.
    """
    fn = call.get("function")
    fields = (
        ("id", call.get("id")),
        ("function.name", fn.get("name") if isinstance(fn, dict) else None),
    )
    for field, value in fields:
        if not isinstance(value, str) or not value:
            continue
        if field not in seen:
            seen[field] = value
            continue
        first = seen[field]
        if field == "id" and value != first:
            return [
                f"event {i}: tool call {value!r:.40} arrives at index {index}, which already "
                f"holds call {first!r:.40}: each call needs an index of its own, or "
                "accumulators merge the two into one"
            ]
        return [
            f"event {i}: a later delta of the tool call at index {index} repeats its {field} "
            f"{value!r:.40}; the official SDK's stream helper joins a call's string fields, "
            f"making it {(first + value)!r:.80} (send it in the first delta only)"
        ]
    return []


def _tool_delta_problems(ex: Exchange) -> list[str]:
    """What is wrong with the ``delta.tool_calls`` entries of a stream, event by event."""
    problems: list[str] = []
    #: (choice index, tool-call index) -> the call's first id and name
    seen: dict[tuple[Any, int], dict[str, str]] = {}
    for i, choice_index, call in _tool_call_entries(ex, problems):
        if not isinstance(call, dict):
            problems.append(f"event {i}: a delta.tool_calls entry is not an object")
            continue
        index = call.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            problems.append(
                f"event {i}: a delta.tool_calls entry has no integer `index` "
                f"({index!r:.20}); the SDK's stream accumulator places each "
                "fragment by its index"
            )
        else:
            problems += _repeated_fields(i, index, call, seen.setdefault((choice_index, index), {}))
        fn = call.get("function")
        args = fn.get("arguments") if isinstance(fn, dict) else None
        if args is not None and not isinstance(args, str):
            problems.append(
                f"event {i}: function.arguments is a JSON {type(args).__name__}, "
                "not a string fragment"
            )
    return problems


@check(
    id="semantics.tool_call_stream",
    fact="param.tools",
    title="A streamed tool call arrives as indexed tool_calls deltas",
    severity=Severity.CLIENT,
    source=_REF + " (streaming): choices[].delta.tool_calls[].index, function.arguments",
    probes=("tool_call_stream", "tool_call"),
    dialects=OPENAI_ONLY,
    requires="tools",
)
def tool_call_stream(ctx: CheckContext) -> str:
    """Streamed, the forced tool call comes as `delta.tool_calls` entries, each with its
    integer `index` (one index per call: a second call at an index already taken is merged
    into the first) and `function.arguments` as string fragments that join into a JSON
    object. Agent frameworks stream tool calls; without the index or with arguments sent
    as an object, their accumulators drop or corrupt the call. A stream that ends with
    "stop" where the same request plain ends with "tool_calls" fails too (agent loops
    branch on it). Refusing streamed tools with a 4xx is a capability (skipped); a server
    whose plain tool call already fails is judged by semantics.tools."""
    try:
        plain = ctx.successful("tool_call")
        plain_calls = ctx.provider.decode(plain.body).choices[0].tool_calls
    except (Skipped, DecodeError, IndexError):
        plain_calls = None
    if not plain_calls:
        raise Skipped("not judged: the plain forced tool call did not succeed (semantics.tools)")
    ex = accepted(ctx, "tool_call_stream", feature="streamed tool calls")
    problems = _tool_delta_problems(ex)
    if problems:
        raise Failed(problems[0], exchange_evidence(ex, body=False, problems=problems[:10]))
    try:
        gen = ctx.provider.decode_stream(ex.events or [])
    except DecodeError as exc:
        raise Skipped(f"not judged: the stream could not be decoded ({exc})") from None
    calls = (gen.choices[0].tool_calls if gen.choices else None) or []
    if not calls:
        # the forced call ignored when streaming is semantics.tools' verdict (both modes)
        raise Skipped(
            "not judged: the streamed answer has no tool call (semantics.tools fails the "
            "forced call ignored when streaming)"
        )
    function = calls[0].get("function") or {}
    name, arguments = function.get("name"), function.get("arguments")
    try:
        parsed = parse_json_bounded(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if name != WEATHER_TOOL["function"]["name"] or not isinstance(parsed, dict):
        raise Failed(
            f"the streamed tool call, joined, is {name!r} with arguments {arguments!r:.120}: "
            "not the forced get_weather with a JSON object",
            exchange_evidence(ex, body=False),
        )
    _compare_finish(ctx, plain, ex, gen.choices[0].finish_reason)
    return f"get_weather streamed with {sorted(parsed)}"


def _compare_finish(ctx: CheckContext, plain: Exchange, ex: Exchange, streamed: str | None) -> None:
    """Fail when the plain call ends with "tool_calls" and the same request streamed ends
    with "stop". For a call forced by name either value is right (OpenAI answers "stop"),
    but a server that says "tool_calls" plain and "stop" streamed contradicts itself: it
    maps streamed tool-call endings wrongly, and a streaming agent loop that waits for
    "tool_calls" (after `tool_choice: "auto"`) ends without running the tool."""
    try:
        said = ctx.provider.decode(plain.body).choices[0].finish_reason
    except (DecodeError, IndexError):
        return
    if said == "tool_calls" and streamed == "stop":
        raise Failed(
            'the plain tool call ends with finish_reason "tool_calls", the same request '
            'streamed with "stop": streaming agent loops that wait for "tool_calls" stop '
            "without running the tool",
            exchange_evidence(ex, body=False, plain_finish_reason=said, streamed=streamed),
        )
