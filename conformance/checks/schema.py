"""Response schemas: strict about what is required and typed, tolerant of extra fields.

Each property that real servers get wrong has a check of its own (``created`` an
integer, the ``object`` values, ``finish_reason`` in the enum, choice indexes, usage);
``schema.completion`` and ``schema.chunk`` judge the rest of the shape against the
pydantic models of :mod:`conformance.schemas`, leaving out what the specific checks
cover, so that one defect fails one schema check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from conformance.checks._oai import (
    FINISH_REASONS,
    STREAM_PROBES,
    annotation_events,
    choice_list,
    chunks_or_skip,
    is_int,
    json_body_or_skip,
    non_standard_json,
    reasoning_outside,
    stream_exchanges,
    type_name,
)
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import (
    OPENAI_ONLY,
    CheckContext,
    Failed,
    Refused,
    Severity,
    Skipped,
    Warned,
    check,
)
from conformance.schemas import SchemaViolation, schemas_for, violations
from conformance.wire.exchange import Exchange, is_json_media_type
from conformance.wire.json_bounded import parse_json_bounded

_COMPLETION_REF = "OpenAI API reference, The chat completion object"
_CHUNK_REF = "OpenAI API reference, The chat completion chunk object"
_ALL_PROBES = ("chat", *STREAM_PROBES)

#: violation locations that a dedicated check judges (left out of the umbrella checks)
_COVERED_COMPLETION = re.compile(
    r"^(object|created|usage(\..*)?|choices\.\d+\.(index|finish_reason|logprobs)"
    r"|choices\.\d+\.message\.(role|refusal))$"
)
_COVERED_CHUNK = re.compile(
    r"^(id|object|created|usage(\..*)?|choices\.\d+\.(index|finish_reason|logprobs)"
    r"|choices\.\d+\.delta\.(role|refusal))$"
)
_MAX_LISTED = 8


def _completion(ctx: CheckContext) -> tuple[Exchange, dict[str, Any]]:
    ex = ctx.successful("chat")
    return ex, json_body_or_skip(ex)


def _streams(ctx: CheckContext, names: tuple[str, ...] = STREAM_PROBES) -> list[Exchange]:
    try:
        return stream_exchanges(ctx, names)
    except Skipped:
        return []


def _documents(ctx: CheckContext) -> Iterable[tuple[Exchange, int | None, dict[str, Any]]]:
    """(exchange, event index or None, document) for the completion and every chunk."""
    found = False
    try:
        ex, body = _completion(ctx)
        found = True
        yield ex, None, body
    except Skipped:
        pass
    for ex in _streams(ctx):
        try:
            chunks = chunks_or_skip(ex)
        except Skipped:
            continue
        found = True
        for chunk in chunks:
            yield ex, chunk.event, chunk.data
    if not found:
        raise Skipped("not judged: neither a completion nor a stream was received")


def _where(ex: Exchange, event: int | None) -> str:
    return f"probe {ex.probe!r}" + (f", event {event}" if event is not None else "")


def _fail_on(violated: list[SchemaViolation], ex: Exchange, event: int | None, what: str) -> None:
    if not violated:
        return
    listed = "; ".join(str(v) for v in violated[:_MAX_LISTED])
    more = f" (+{len(violated) - _MAX_LISTED} more)" if len(violated) > _MAX_LISTED else ""
    raise Failed(
        f"the {what} of {_where(ex, event)} breaks its schema: {listed}{more}",
        exchange_evidence(
            ex,
            event=event,
            body=event is None,
            violations=[v.as_dict() for v in violated[:_MAX_LISTED]],
        ),
    )


@check(
    id="schema.completion_json",
    fact="response.completion",
    title="A completion is a JSON object served as JSON",
    severity=Severity.SDK,
    source=_COMPLETION_REF,
    probes=("chat",),
    dialects=OPENAI_ONLY,
)
def completion_json(ctx: CheckContext) -> str:
    """The body of a successful non-streamed answer is one JSON object, served as JSON
    (`Content-Type: application/json`) without a byte order mark. The SDK raises on
    anything else (HTML error pages, cut or concatenated JSON); the official Node SDK
    parses only a JSON media type and returns any other body as a plain string; Go's
    encoding/json rejects a leading BOM, which RFC 8259 forbids."""
    ex = ctx.successful("chat")
    try:
        json_body_or_skip(ex)
    except Skipped as exc:
        raise Failed(
            f"the completion body is not a JSON object: {exc.detail.split(': ', 1)[-1]}",
            exchange_evidence(ex),
        ) from None
    if ex.body.startswith(_UTF8_BOM):
        raise Failed(
            "the completion body starts with a UTF-8 byte order mark, which RFC 8259 forbids "
            "in JSON sent over a network: Go's encoding/json and Python's json.loads of the "
            "decoded text reject it",
            exchange_evidence(ex, first_bytes=ex.body[:16].hex(" ")),
        )
    if not is_json_media_type(ex.content_type):
        raise Failed(
            f"the completion is served with Content-Type {ex.content_type!r}, not "
            "application/json: the official Node SDK parses only JSON media types and "
            "returns this body as a string, so `completion.choices` is undefined",
            exchange_evidence(ex),
        )
    problem = non_standard_json(ex.body)
    if problem is not None:
        raise Failed(
            f"the completion body is not standard JSON: {problem}; JSON.parse (the official "
            "Node SDK, browsers) throws on it",
            exchange_evidence(ex),
        )
    return "JSON object"


_UTF8_BOM = b"\xef\xbb\xbf"


@check(
    id="schema.completion",
    fact="response.completion",
    title="The chat.completion has every required field, correctly typed",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF,
    probes=("chat",),
    dialects=OPENAI_ONLY,
)
def completion_shape(ctx: CheckContext) -> str:
    """`id` and `model` strings, a `choices` array of objects with a `message` whose
    content is a string or null, tool calls in their documented shape; unknown extra
    fields are fine. (`object`, `created`, indexes, finish reasons and usage have checks
    of their own.)"""
    ex, body = _completion(ctx)
    model = schemas_for(ctx.provider).response
    found = [v for v in violations(model, body) if not _COVERED_COMPLETION.match(v.loc)]
    _fail_on(found, ex, None, "completion")
    if not body.get("choices"):
        raise Failed("the completion has an empty choices array", exchange_evidence(ex))
    return "conforms"


@check(
    id="schema.chunk",
    fact="stream.chunks",
    title="Every chat.completion.chunk has the required fields, correctly typed",
    severity=Severity.CLIENT,
    source=_CHUNK_REF,
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def chunk_shape(ctx: CheckContext) -> str:
    """Each chunk has a `model` string and a `choices` array whose items carry a `delta`
    object (content a string or null); unknown extra fields are fine. (`id`, `object`,
    `created`, indexes, finish reasons and usage have checks of their own.)"""
    model = schemas_for(ctx.provider).chunk
    if model is None:
        raise Skipped(f"{ctx.provider.name} does not stream")
    for ex in stream_exchanges(ctx):
        for chunk in chunks_or_skip(ex):
            found = [v for v in violations(model, chunk.data) if not _COVERED_CHUNK.match(v.loc)]
            _fail_on(found, ex, chunk.event, "chunk")
    return "every chunk conforms"


@check(
    id="schema.object_values",
    fact="response.completion",
    title='`object` is "chat.completion" / "chat.completion.chunk"',
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + "; " + _CHUNK_REF,
    probes=_ALL_PROBES,
    dialects=OPENAI_ONLY,
)
def object_values(ctx: CheckContext) -> str:
    """A completion says `object: "chat.completion"` and every chunk
    `object: "chat.completion.chunk"`; clients and strict SDK validation dispatch on it."""
    for ex, event, doc in _documents(ctx):
        expected = "chat.completion" if event is None else "chat.completion.chunk"
        if doc.get("object") != expected:
            raise Failed(
                f"`object` is {doc.get('object')!r} in {_where(ex, event)}, expected {expected!r}",
                exchange_evidence(ex, event=event, body=event is None),
            )
    for ex in _streams(ctx):
        annotations = annotation_events(ex)
        if annotations:
            raise Warned(
                f"{len(annotations)} content-filter annotation event(s) in probe {ex.probe!r} "
                "are not chunks (`object` not chat.completion.chunk, as Azure OpenAI sends "
                "them): the official SDK's stream helper skips them, but clients that read "
                "`chunk.choices[0]` or `choices[0].delta` of every event crash on them",
                exchange_evidence(ex, event=annotations[0], body=False),
            )
    return "object values right"


@check(
    id="schema.created_integer",
    fact="response.completion",
    title="`created` is an integer Unix timestamp",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (created: integer)",
    probes=_ALL_PROBES,
    dialects=OPENAI_ONLY,
)
def created_integer(ctx: CheckContext) -> str:
    """`created` is present and an integer number of seconds (not a string, not a float)
    in the completion and in every chunk; typed clients reject anything else."""
    for ex, event, doc in _documents(ctx):
        value = doc.get("created")
        if not is_int(value):
            raise Failed(
                f"`created` is {type_name(value)} {value!r:.40} in {_where(ex, event)}, "
                "not an integer",
                exchange_evidence(ex, event=event, body=event is None),
            )
        if value > _MAX_UNIX_SECONDS:
            raise Failed(
                f"`created` is {value} in {_where(ex, event)}: that is not a Unix time in "
                "seconds (it is past the year 5000; milliseconds or microseconds were sent)",
                exchange_evidence(ex, event=event, body=event is None),
            )
    return "integer"


#: 10**11 seconds is the year 5138: anything larger is a time in milliseconds or finer
_MAX_UNIX_SECONDS = 10**11


@check(
    id="schema.chunk_id_stable",
    fact="stream.chunk_identity",
    title="Every chunk carries the same `id`",
    severity=Severity.CLIENT,
    source=_CHUNK_REF + " (id: each chunk has the same ID)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def chunk_id_stable(ctx: CheckContext) -> str:
    """Each chunk of a stream has an `id` string and it is the same in every chunk;
    clients use it to tie chunks to one completion."""
    for ex in stream_exchanges(ctx):
        first: Any = None
        for chunk in chunks_or_skip(ex):
            value = chunk.data.get("id")
            if not isinstance(value, str) or not value:
                raise Failed(
                    f"a chunk of probe {ex.probe!r} has no `id` string (event {chunk.event})",
                    exchange_evidence(ex, event=chunk.event, body=False),
                )
            if first is None:
                first = value
            elif value != first:
                raise Failed(
                    f"the chunk id changes from {first!r} to {value!r} (event {chunk.event})",
                    exchange_evidence(ex, event=chunk.event, body=False),
                )
    return "constant id"


@check(
    id="schema.chunk_created_stable",
    fact="stream.chunk_identity",
    title="Every chunk carries the same `created`",
    severity=Severity.COSMETIC,
    source=_CHUNK_REF + " (created: each chunk has the same timestamp)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def chunk_created_stable(ctx: CheckContext) -> str:
    """`created` is the same timestamp in every chunk of a stream (the time the
    completion was created, not the time of each chunk)."""
    for ex in stream_exchanges(ctx):
        values = [(c.event, c.data.get("created")) for c in chunks_or_skip(ex)]
        present = [(e, v) for e, v in values if v is not None]
        if not present:
            continue  # missing created is schema.created_integer's finding
        first = present[0][1]
        for event, value in values:
            if value != first:
                raise Failed(
                    f"`created` changes from {first!r} to {value!r} in probe {ex.probe!r} "
                    f"(event {event})",
                    exchange_evidence(ex, event=event, body=False),
                )
    return "constant created"


def _expected_choices(ex: Exchange) -> int:
    params = ex.meta.get("params") or {}
    n = params.get("n", 1) if isinstance(params, dict) else 1
    return n if is_int(n) and n > 0 else 1


@check(
    id="schema.choice_index",
    fact="response.completion",
    title="Choice indexes are integers 0..n-1",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (choices[].index)",
    probes=_ALL_PROBES,
    dialects=OPENAI_ONLY,
)
def choice_index(ctx: CheckContext) -> str:
    """`choices[].index` is an integer from 0 to n-1, each once in a completion; chunks
    use the same indexes. Clients place each choice (and each streamed delta) by it."""
    for ex, event, doc in _documents(ctx):
        choices = doc.get("choices")
        if not isinstance(choices, list):
            continue
        n = _expected_choices(ex)
        indexes: list[int] = []
        for choice in choices:
            value = choice.get("index") if isinstance(choice, dict) else None
            if is_int(value) and 0 <= value < n:
                indexes.append(value)
            else:
                raise Failed(
                    f"choice index {value!r} in {_where(ex, event)} is not an integer in "
                    f"0..{n - 1}",
                    exchange_evidence(ex, event=event, body=event is None, expected_n=n),
                )
        if event is None and sorted(indexes) != list(range(len(indexes))):
            raise Failed(
                f"the completion's choice indexes are {indexes}, not 0..{len(indexes) - 1}",
                exchange_evidence(ex),
            )
    return "indexes 0..n-1"


@check(
    id="schema.message_role",
    fact="response.completion",
    title='The completion message has role "assistant"',
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (choices[].message.role)",
    probes=("chat",),
    dialects=OPENAI_ONLY,
)
def message_role(ctx: CheckContext) -> str:
    """Every `choices[].message.role` in a completion is "assistant"; clients append the
    message to the conversation as it is."""
    ex, body = _completion(ctx)
    for pos, choice in enumerate(choice_list(body)):
        message = choice.get("message") if isinstance(choice, dict) else None
        role = message.get("role") if isinstance(message, dict) else None
        if role != "assistant":
            raise Failed(
                f"choices[{pos}].message.role is {role!r}, not 'assistant'", exchange_evidence(ex)
            )
    return "assistant"


@check(
    id="schema.finish_reason_enum",
    fact="response.finish_reason_values",
    title="finish_reason is one of stop, length, tool_calls, content_filter, function_call",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (choices[].finish_reason)",
    probes=_ALL_PROBES,
    dialects=OPENAI_ONLY,
)
def finish_reason_enum(ctx: CheckContext) -> str:
    """A completion's `finish_reason` is one of the five documented values; in chunks it
    is null or one of them. Clients branch on it ("length" means cut short)."""
    for ex, event, doc in _documents(ctx):
        for choice in choice_list(doc):
            if not isinstance(choice, dict):
                continue
            value = choice.get("finish_reason")
            if value is None and event is not None:
                continue
            if value not in FINISH_REASONS:
                raise Failed(
                    f"finish_reason {value!r} in {_where(ex, event)} is not one of "
                    f"{', '.join(sorted(FINISH_REASONS))}",
                    exchange_evidence(ex, event=event, body=event is None),
                )
    return "in the enum"


def _usage_docs(ctx: CheckContext) -> list[tuple[Exchange, int | None, Any]]:
    """The usage objects to judge: the completion's and every stream usage chunk's."""
    found: list[tuple[Exchange, int | None, Any]] = []
    try:
        ex, body = _completion(ctx)
        found.append((ex, None, body.get("usage")))
    except Skipped:
        pass
    for ex in _streams(ctx, ("stream_usage",)):
        try:
            chunks = chunks_or_skip(ex)
        except Skipped:
            continue
        found.extend((ex, c.event, c.data["usage"]) for c in chunks if c.data.get("usage"))
    if not found:
        raise Skipped("not judged: no completion and no usage chunk was received")
    return found


@check(
    id="schema.usage",
    fact="response.usage",
    title="usage has integer prompt, completion and total token counts",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (usage)",
    probes=("chat", "stream_usage"),
    dialects=OPENAI_ONLY,
)
def usage(ctx: CheckContext) -> str:
    """A completion carries `usage` with non-negative integer `prompt_tokens`,
    `completion_tokens` and `total_tokens` (so does a stream's usage chunk); clients
    count cost and context from it. A malformed usage fails; a completion without any
    is a warning, since the schema leaves `usage` optional (the SDK reads `None`), but
    clients then cannot count tokens or cost."""
    absent: Exchange | None = None
    for ex, event, value in _usage_docs(ctx):
        if value is None and event is None:
            absent = ex
            continue
        if not isinstance(value, dict):
            raise Failed(
                f"{_where(ex, event)} has usage {type_name(value)}, not an object",
                exchange_evidence(ex, event=event, body=event is None),
            )
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            count = value.get(key)
            if not is_int(count) or count < 0:
                raise Failed(
                    f"usage.{key} is {type_name(count)} {count!r:.40} in {_where(ex, event)}, "
                    "not a non-negative integer",
                    exchange_evidence(ex, event=event, body=event is None),
                )
    if absent is not None:
        raise Warned(
            "the completion has no usage (optional in the schema, but clients that count "
            "tokens or cost get nothing)",
            exchange_evidence(absent),
        )
    return "integer counts"


@check(
    id="schema.usage_total",
    fact="response.usage",
    title="usage.total_tokens = prompt_tokens + completion_tokens",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (usage.total_tokens: prompt + completion)",
    probes=("chat", "stream_usage"),
    dialects=OPENAI_ONLY,
)
def usage_total(ctx: CheckContext) -> str:
    """The total token count is the sum of the prompt and completion counts, in the
    completion and in a stream's usage chunk. Reasoning tokens are part of
    `completion_tokens` (`completion_tokens_details.reasoning_tokens` says how many):
    a server that counts them outside it makes clients that bill `completion_tokens`
    under-count."""
    judged = False
    for ex, event, value in _usage_docs(ctx):
        if not isinstance(value, dict):
            continue
        p, c, t = (value.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
        if not (is_int(p) and is_int(c) and is_int(t)):
            continue
        judged = True
        if t != p + c:
            raise Failed(
                f"usage.total_tokens is {t} but prompt_tokens + completion_tokens is "
                f"{p} + {c} = {p + c} in {_where(ex, event)}" + reasoning_outside(value, t - p - c),
                exchange_evidence(ex, event=event, body=event is None),
            )
    if not judged:
        raise Skipped("not judged: no usage with three integer counts (see schema.usage)")
    return "sums up"


#: the integer counts each usage detail object may carry, and the total they are part of
_USAGE_DETAILS: dict[str, tuple[str, tuple[str, ...]]] = {
    "prompt_tokens_details": ("prompt_tokens", ("cached_tokens", "audio_tokens")),
    "completion_tokens_details": (
        "completion_tokens",
        (
            "reasoning_tokens",
            "audio_tokens",
            "accepted_prediction_tokens",
            "rejected_prediction_tokens",
        ),
    ),
}


def _detail_problem(usage: dict[str, Any], name: str) -> str | None:
    """What is wrong with ``usage[name]`` (a details object), or ``None``."""
    details = usage.get(name)
    if details is None:
        return None
    if not isinstance(details, dict):
        return f"usage.{name} is {type_name(details)}, not an object or null"
    total_key, keys = _USAGE_DETAILS[name]
    total = usage.get(total_key)
    for key in keys:
        count = details.get(key)
        if count is None:
            continue
        if not is_int(count) or count < 0:
            return (
                f"usage.{name}.{key} is {type_name(count)} {count!r:.40}, "
                "not a non-negative integer or null"
            )
        if is_int(total) and count > total:
            return f"usage.{name}.{key} is {count}, more than usage.{total_key} ({total})"
    return None


def _every_usage(ctx: CheckContext) -> list[tuple[Exchange, int | None, Any]]:
    """Every usage object of the run's successful completions and streams (requests with
    a body of the harness's own making; malformed input is left out); :class:`Skipped`
    when the run has no successful answer at all (answers without usage give ``[]``)."""
    found: list[tuple[Exchange, int | None, Any]] = []
    answers = 0
    for ex in ctx.all_exchanges():
        if ex.meta.get("custom_body") or not ex.ok or ex.request.method != "POST":
            continue
        answers += 1
        if ex.events is not None:
            for pos, event in enumerate(ex.events):
                try:
                    data = parse_json_bounded(event.data or "")
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("usage") is not None:
                    found.append((ex, pos, data["usage"]))
            continue
        try:
            body = parse_json_bounded(ex.body)
        except ValueError:
            continue
        if isinstance(body, dict) and "choices" in body and body.get("usage") is not None:
            found.append((ex, None, body["usage"]))
    if not answers:
        raise Skipped("not judged: no completion and no usage chunk was received")
    return found


@check(
    id="schema.usage_details",
    fact="response.usage_details",
    title="usage detail objects, when sent, hold integer counts within their totals",
    severity=Severity.CLIENT,
    source=_COMPLETION_REF + " (usage.prompt_tokens_details, usage.completion_tokens_details); "
    "NebulaBlock Generate Text (usage)",
    probes=("chat", "stream", "stream_usage"),
    dialects=OPENAI_ONLY,
)
def usage_details(ctx: CheckContext) -> str:
    """`usage.prompt_tokens_details` and `usage.completion_tokens_details` are optional:
    absent or null is fine. When sent, each is an object whose counts (`cached_tokens`,
    `audio_tokens`, `reasoning_tokens`, `accepted_prediction_tokens`,
    `rejected_prediction_tokens`) are non-negative integers or null, and none exceeds the
    total it is part of (cached prompt tokens are prompt tokens, reasoning tokens are
    completion tokens): the official SDK types them as integers, and clients that price
    cached or reasoning tokens apart get negative uncached counts otherwise. Judged on
    every usage object of the run: the completions', the usage chunks asked for, and the
    ones a server sends unasked (NebulaBlock's document lists no `stream_options`)."""
    judged = 0
    for ex, event, value in _every_usage(ctx):
        if not isinstance(value, dict):
            continue  # schema.usage judges that
        for name in _USAGE_DETAILS:
            if value.get(name) is not None:
                judged += 1
            problem = _detail_problem(value, name)
            if problem is not None:
                raise Failed(
                    f"{problem} in {_where(ex, event)}",
                    exchange_evidence(ex, event=event, body=event is None),
                )
    if not judged:
        raise Refused(
            "not judged: no usage carries prompt_tokens_details or completion_tokens_details "
            "(both optional; the target sends none)"
        )
    return f"{judged} detail object(s) well-formed and within their totals"


@check(
    id="schema.spec_only_fields",
    fact="response.spec_fields",
    title="Fields the specification requires but clients ignore are present",
    severity=Severity.COSMETIC,
    source=_COMPLETION_REF + " (message.refusal, choices[].logprobs, system_fingerprint)",
    probes=("chat",),
    dialects=OPENAI_ONLY,
    warn_only=True,
)
def spec_only_fields(ctx: CheckContext) -> str:
    """The completion's messages have `refusal` (string or null), its choices `logprobs`
    (object or null), and `system_fingerprint` is a string when present. The reference
    lists them but no mainstream client breaks without them, so this only warns."""
    ex, body = _completion(ctx)
    problems: list[str] = []
    for pos, choice in enumerate(choice_list(body)):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict):
            if "refusal" not in message:
                problems.append(f"choices[{pos}].message.refusal is missing")
            elif not isinstance(message["refusal"], str | None):
                problems.append(
                    f"choices[{pos}].message.refusal is {type_name(message['refusal'])}"
                )
        if "logprobs" not in choice:
            problems.append(f"choices[{pos}].logprobs is missing")
        elif not isinstance(choice["logprobs"], dict | None):
            problems.append(f"choices[{pos}].logprobs is {type_name(choice['logprobs'])}")
    fingerprint = body.get("system_fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        problems.append(f"system_fingerprint is {type_name(fingerprint)}")
    if problems:
        raise Warned("; ".join(problems), exchange_evidence(ex))
    return "present"
