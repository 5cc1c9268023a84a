"""``POST .../chat/completions`` for the OpenAI, NebulaBlock and WeAI flavours.

Written as a lean ASGI handler (no framework on the hot path): the body is parsed with
orjson, every stream event is encoded once and handed to the server with one ``send``.

A stream is, per choice: a role-only chunk, one chunk per content token at its
deadline ``t_request + ttft + k * itl``, one finish chunk; then the usage chunk
(``choices: []``) when ``stream_options.include_usage`` is true, with ``"usage": null``
on every other chunk; then ``data: [DONE]``. Choices of ``n > 1`` share deadlines:
token k of every choice is sent at the k-th deadline. The role chunks go out in the
same network write as the first content token, and the finish, usage and ``[DONE]``
events in the write of the last one (see :func:`group_writes`).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from conformance.backend.asgi import (
    DisconnectWatch,
    read_body,
    send_body,
    send_endless,
    sleep_until,
)
from conformance.backend.config import BackendConfig
from conformance.backend.errors import RequestError, invalid, model_not_found
from conformance.backend.faults import Fault, effective
from conformance.backend.generation import (
    Completion,
    ToolCall,
    call_tool,
    complete,
    count_prompt_tokens,
    json_answer,
    prompt_key,
    token_logprobs,
)
from conformance.backend.sampling import bend_sampling, malformed_answer
from conformance.backend.stats import Stats
from conformance.backend.validate import ChatRequest, lenient_chat, validate_chat

FINGERPRINT = "fp_conformance"
SSE = b"text/event-stream; charset=utf-8"
SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]

#: faults that silently drop optional features instead of honouring or refusing them
IGNORED_BY_FAULT: dict[str, frozenset[str]] = {
    "tools_ignored": frozenset(
        {"tools", "tool_choice", "functions", "function_call", "parallel_tool_calls"}
    ),
    "response_format_ignored": frozenset({"response_format"}),
}

#: the model an answer names under the ``model_renamed`` fault
RENAMED_MODEL = "unrelated-model-7b"

# event kinds in a stream plan
ROLE, CONTENT, FINISH, USAGE, DONE, OTHER = range(6)


@dataclass(slots=True)
class RequestContext:
    """What one request's handling depends on, resolved by the dispatcher."""

    config: BackendConfig
    stats: Stats
    fault: Fault | None
    #: "openai", "nebulablock", "weai" or "wetrocloud"
    flavour: str
    #: seconds
    ttft: float
    itl: float
    #: time.monotonic() when the request arrived
    t0: float
    #: fail (correctly) after this many content tokens: X-Conformance-Midstream-Error
    midstream_error_after: int | None = None

    @property
    def fault_name(self) -> str:
        return self.fault.name if self.fault is not None else ""


@dataclass(slots=True)
class Answer:
    """The generated result of one request, before it is put on the wire."""

    id: str
    created: int
    model: str
    choices: list[Completion]
    #: the index written for each choice (0..n-1 unless a fault changes it)
    indexes: list[int]
    #: finish_reason written for each choice (None: never set)
    finish: list[str | None]
    usage: dict[str, Any]
    #: per choice, one OpenAI logprobs entry per piece (None: logprobs not asked for)
    logprobs: list[list[dict[str, Any]]] | None = None
    #: per choice, the function it calls (None: the answer is text)
    tool_calls: list[ToolCall | None] | None = None

    def call(self, position: int) -> ToolCall | None:
        """The tool call of choice ``position``, if it makes one."""
        return self.tool_calls[position] if self.tool_calls is not None else None

    def deltas(self, position: int) -> list[dict[str, Any]]:
        """The deltas of choice ``position`` that carry its tokens, one per stream event."""
        call = self.call(position)
        if call is None:
            return [{"content": piece} for piece in self.choices[position].pieces]
        head = {"index": 0, "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}  # fmt: skip
        return [{"tool_calls": [head]}] + [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            for piece in call.pieces
        ]

    @property
    def longest(self) -> int:
        """The number of token events of the longest choice."""
        return max((len(self.deltas(p)) for p in range(len(self.choices))), default=0)


async def send_error(send: Send, ctx: RequestContext, error: RequestError) -> None:
    """Answer with an error in the dialect's shape (faults may bend it)."""
    ctx.stats.errors += 1
    fault = ctx.fault_name
    if fault == "invalid_500" and error.status == 400:
        error = RequestError(
            500,
            "The server had an error while processing your request.",
            "server_error",
            None,
            None,
        )
    if ctx.flavour == "wetrocloud":
        body = error.wetrocloud_bytes()
    elif fault == "error_not_envelope":
        body = orjson.dumps({"error": error.message})
    else:
        body = error.envelope_bytes()
    await send_body(send, error.status, body)


#: faults that report another finish_reason when a stop sequence ended the answer
_STOP_FINISH: dict[str, str | None] = {"stop_finish_length": "length", "stop_finish_null": None}


def _faulty_stops(request: ChatRequest, fault: str) -> tuple[str, ...]:
    """The stop sequences the backend honours (all of them, unless a fault says otherwise)."""
    if fault == "stop_ignored_stream" and request.stream:
        return ()
    if fault == "stop_list_first_only":
        return request.stops[:1]
    return request.stops


def generate(request: ChatRequest, ctx: RequestContext) -> Answer:
    """Generate every choice and the usage, applying generation-level faults."""
    fault = ctx.fault_name
    key = prompt_key(request.turns)
    if fault == "nondeterministic":
        key += secrets.token_bytes(8)  # every request words its answer anew
    n = 1 if fault == "n_ignored" else request.n
    stops = _faulty_stops(request, fault)
    stopped: set[int] = set()  # choices a stop sequence ended (for the _STOP_FINISH faults)
    bounds = (ctx.config.min_natural_tokens, ctx.config.max_natural_tokens)
    choices: list[Completion] = []
    calls: list[ToolCall | None] = []
    sampling = request.sampling
    if fault == "seed_ignored" and sampling.seed is not None and sampling.temperature > 0:
        sampling = replace(sampling, seed=secrets.randbits(32))
    for index in range(n):
        call = None
        if request.call is None and request.json_schema is not None:
            limit = None if fault == "max_tokens_ignored" else request.max_tokens
            done = json_answer(key, sampling, index, request.json_schema, max_tokens=limit,
                               violate=fault == "json_schema_violated")  # fmt: skip
        elif request.call is not None:
            schema = dict(request.tools)[request.call]
            limit = None if fault == "max_tokens_ignored" else request.max_tokens
            call = call_tool(key, sampling, index, request.call, schema, max_tokens=limit)
            done = Completion((), "length" if call.cut else "tool_calls", call.tokens)
        elif fault == "max_tokens_ignored" and request.max_tokens is not None:
            done = complete(
                key,
                sampling,
                index,
                max_tokens=request.max_tokens + 5,
                length_bounds=bounds,
                ignore_eos=True,
            )
            done = Completion(done.pieces, "stop", done.tokens)
        else:
            done = complete(
                key,
                sampling,
                index,
                max_tokens=request.max_tokens,
                stops=stops,
                length_bounds=bounds,
                ignore_eos=request.ignore_eos,
                keep_stop=fault == "stop_left_in",
                eager_stop=fault == "stop_leak_delta" and request.stream,
                json_object=request.json_object,
            )
            if fault in _STOP_FINISH and stops and done.finish_reason == "stop":
                free = complete(key, request.sampling, index, max_tokens=request.max_tokens,
                                length_bounds=bounds, ignore_eos=request.ignore_eos)  # fmt: skip
                if free.text != done.text:  # the stop sequence ended this answer
                    stopped.add(index)
        choices.append(done)
        calls.append(call)
    finish: list[str | None] = [c.finish_reason for c in choices]
    if stopped:
        finish = [_STOP_FINISH[fault] if i in stopped else f for i, f in enumerate(finish)]
    if fault == "length_reported_as_stop":
        finish = ["stop" for _ in finish]
    elif fault == "finish_bad_value":
        finish = ["eos" for _ in finish]
    elif fault == "finish_never":
        finish = [None for _ in finish]
    prompt = count_prompt_tokens(text for _, text in request.turns)
    completion = sum(c.tokens for c in choices)
    if fault == "usage_prompt_zero":
        prompt = 0
    elif fault == "usage_completion_zero":
        completion = 0
    elif fault == "usage_over_cap" and request.max_tokens is not None:
        completion = max(completion, request.max_tokens * n + 3)
    total = prompt + completion + (7 if fault == "usage_total_wrong" else 0)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
    }
    if ctx.flavour == "nebulablock":
        usage["prompt_tokens_details"] = None
        usage["completion_tokens_details"] = None
    logprobs = None
    if request.top_logprobs is not None and fault != "logprobs_ignored":
        logprobs = [
            token_logprobs(
                key,
                sampling,
                index,
                done.pieces,
                top=request.top_logprobs + (fault == "top_logprobs_wrong"),
                length_bounds=bounds,
                length=done.drawn_length,
                sources=done.sources,
            )
            for index, done in enumerate(choices)
        ]
    ctx.stats.requests += 1
    ctx.stats.tokens += completion
    return Answer(
        id="chatcmpl-" + secrets.token_hex(12),
        created=int(time.time()),
        model=RENAMED_MODEL if fault == "model_renamed" else request.model,
        choices=choices,
        indexes=[i + 1 if fault == "choice_index_wrong" else i for i in range(n)],
        finish=finish,
        usage=usage,
        logprobs=logprobs,
        tool_calls=calls if request.call is not None else None,
    )


def completion_body(answer: Answer, ctx: RequestContext) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    fault = ctx.fault_name
    nebula = ctx.flavour == "nebulablock"
    choices = []
    for position, done in enumerate(answer.choices):
        index, finish = answer.indexes[position], answer.finish[position]
        message: dict[str, Any] = {"role": "assistant", "content": done.text, "refusal": None}
        if nebula:
            message["tool_calls"] = []
            message["function_calls"] = []
        call = answer.call(position)
        if call is not None:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ]
        choice: dict[str, Any] = {
            "index": index,
            "message": message,
            "logprobs": None
            if answer.logprobs is None
            else {"content": answer.logprobs[position], "refusal": None},
            "finish_reason": finish,
        }
        if fault == "ok_extra_fields":
            message["x_reasoning_note"] = None
            choice["x_choice_extra"] = {"stop_reason": None}
        choices.append(choice)
    body: dict[str, Any] = {
        "id": answer.id,
        "object": "chat.completion",
        "created": str(answer.created) if fault == "created_string" else answer.created,
        "model": answer.model,
        "choices": choices,
        "usage": answer.usage,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if nebula:
        body["prompt_logprobs"] = None
    if fault == "created_missing":
        del body["created"]
    if fault == "ok_extra_fields":
        body["x_backend"] = {"name": "conformance", "variant": "extra_fields"}
    return body


#: sampling parameters OpenAI's reasoning models refuse outright
_REASONING_REFUSED = ("max_tokens", "stop", "top_p", "logprobs", "top_logprobs", "logit_bias")


def _refuse_like_a_reasoning_model(body: dict[str, Any]) -> None:
    """Raise the 400 an OpenAI reasoning model gives for what it does not support."""
    for name in _REASONING_REFUSED:
        if name in body:
            instead = " Use 'max_completion_tokens' instead." if name == "max_tokens" else ""
            raise RequestError(
                400,
                f"Unsupported parameter: '{name}' is not supported with this model.{instead}",
                "invalid_request_error",
                name,
                "unsupported_parameter",
            )
    temperature = body.get("temperature", 1)
    if temperature != 1:
        raise RequestError(
            400,
            f"Unsupported value: 'temperature' does not support {temperature!r:.20} with this "
            "model. Only the default (1) value is supported.",
            "invalid_request_error",
            "temperature",
            "unsupported_value",
        )


async def handle_chat(scope: Scope, receive: Receive, send: Send, ctx: RequestContext) -> None:
    """Serve one Chat Completions request."""
    raw = await read_body(receive, ctx.config.max_body_bytes)
    fault = ctx.fault_name
    if fault == "hang_before_headers":
        await DisconnectWatch(receive).wait(ctx.config.hang_s)
        return
    body: Any = None
    unparsed: str | None = None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        unparsed = exc.msg
    # a per-mode fault acts on its own mode only
    ctx.fault = effective(
        ctx.fault, streaming=isinstance(body, dict) and body.get("stream") is True
    )
    fault = ctx.fault_name
    try:
        if unparsed is not None:
            raise invalid(
                f"We could not parse the JSON body of your request ({unparsed}). "
                "The body must be a JSON object.",
                None,
                "invalid_json",
            )
        if isinstance(body, dict) and body.get("tools"):
            body = _bend_tool_choice(body, fault)
        if fault == "ok_reasoning_model" and isinstance(body, dict):
            _refuse_like_a_reasoning_model(body)
        if fault in IGNORED_BY_FAULT and isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in IGNORED_BY_FAULT[fault]}
        body = bend_sampling(body, fault)
        request = validate_chat(body, max_output_tokens=ctx.config.max_output_tokens)
        known = ctx.config.models_of(ctx.flavour)
        if request.model not in known:
            if fault == "unknown_model_served":
                request = dataclasses.replace(request, model=known[0])
            elif fault == "unknown_model_500":
                raise RequestError(500, "Internal error while loading the model.", "server_error")
            else:
                raise model_not_found(request.model, known)
    except RequestError as error:
        if fault == "invalid_accepted" and error.status in (400, 404):
            request = lenient_chat(body)
        elif fault == "invalid_stream_event" and isinstance(body, dict) and body.get("stream"):
            await _error_as_stream(send, ctx, error)
            return
        else:
            await send_error(send, ctx, error)
            return
    malformed = malformed_answer(body, fault)
    if malformed is not None:
        await send_body(send, 200, malformed)
        return
    answer = generate(request, ctx)
    if request.stream and fault != "json_instead_of_stream":
        ctx.stats.streams += 1
        await _stream(send, receive, answer, request, ctx)
    else:
        await _respond(send, receive, answer, ctx)


def _bend_tool_choice(body: dict[str, Any], fault: str) -> dict[str, Any]:
    """The faults that misread ``tool_choice``: "none" and a named function both become
    "required" (the first tool is called)."""
    choice = body.get("tool_choice")
    if (fault == "tool_choice_none_ignored" and choice == "none") or (
        fault == "tool_name_ignored" and isinstance(choice, dict)
    ):
        return {**body, "tool_choice": "required"}
    return body


async def _error_as_stream(send: Send, ctx: RequestContext, error: RequestError) -> None:
    """The ``invalid_stream_event`` fault: a refusal sent as a 200 event stream whose only
    event carries the error envelope."""
    ctx.stats.errors += 1
    headers = [(b"content-type", SSE), *SSE_HEADERS]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    data = b"data: " + error.envelope_bytes() + b"\n\ndata: [DONE]\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def _respond(send: Send, receive: Receive, answer: Answer, ctx: RequestContext) -> None:
    """A non-streamed answer, sent when its last token would be ready."""
    fault = ctx.fault_name
    await sleep_until(ctx.t0 + ctx.ttft + max(0, answer.longest - 1) * ctx.itl)
    data = orjson.dumps(completion_body(answer, ctx))
    if fault in {"truncated_stream", "hang_mid_stream", "huge_body", "connection_dropped"}:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        if fault == "huge_body":
            head = b'{"object":"chat.completion","choices":[{"index":0,"message":{"content":"'
            await send_endless(send, receive, head, b"amber " * 10923, ctx.config.huge_body_bytes)
            return
        await send(
            {"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True}
        )
        if fault == "connection_dropped":
            return  # the server closes the connection: the body is never completed
        if fault == "hang_mid_stream":
            await DisconnectWatch(receive).wait(ctx.config.hang_s)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send_body(send, 200, data)


# ---------------------------------------------------------------- streaming


def _framer(fault: str) -> Callable[[bytes, int], bytes]:
    """How one event's data becomes bytes on the wire (the SSE framing variants)."""
    if fault == "ok_no_space":
        return lambda data, _: b"data:" + data + b"\n\n"
    if fault == "ok_crlf":
        return lambda data, _: b"data: " + data + b"\r\n\r\n"
    if fault == "ok_cr":
        return lambda data, _: b"data: " + data + b"\r\r"
    if fault == "no_blank_line":
        return lambda data, _: b"data: " + data + b"\n"
    if fault == "ok_sse_id":
        return lambda data, k: b"id: %d\ndata: " % k + data + b"\n\n"
    if fault == "ok_comments":
        return lambda data, _: b": keep-alive\n\n: next event\ndata: " + data + b"\n\n"
    return lambda data, _: b"data: " + data + b"\n\n"


def _plan_fast(answer: Answer, request: ChatRequest) -> list[tuple[int, int, bytes]]:
    """:func:`plan_stream` without faults or logprobs, from pre-encoded byte templates.

    Produces exactly the bytes of the general path (a test holds them equal), in a
    fraction of the time: only each token's text is encoded per event.
    """
    dumps = orjson.dumps
    head = b"".join(
        (
            b'data: {"id":',
            dumps(answer.id),
            b',"object":"chat.completion.chunk","created":',
            str(answer.created).encode(),
            b',"model":',
            dumps(answer.model),
            b',"system_fingerprint":"' + FINGERPRINT.encode() + b'","choices":[{"index":',
        )
    )
    tail = b'}],"usage":null}\n\n' if request.include_usage else b"}]}\n\n"
    no_logprobs = b',"logprobs":null,"finish_reason":'
    events: list[tuple[int, int, bytes]] = []
    for index in answer.indexes:
        events.append((-1, ROLE, b"%s%d,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                       b"\"refusal\":null}%snull%s" % (head, index, no_logprobs, tail)))  # fmt: skip
    longest = max((len(c.pieces) for c in answer.choices), default=0)
    for slot in range(max(longest, 1)):
        for position, done in enumerate(answer.choices):
            pieces = done.pieces
            index = answer.indexes[position]
            if slot < len(pieces):
                events.append((slot, CONTENT, b"%s%d,\"delta\":{\"content\":%s}%snull%s" % (
                    head, index, dumps(pieces[slot]), no_logprobs, tail)))  # fmt: skip
            finish = answer.finish[position]
            if finish is not None and (slot == len(pieces) - 1 or (not pieces and slot == 0)):
                reason = dumps(finish)
                events.append((slot, FINISH, b"%s%d,\"delta\":{}%s%s%s" % (
                    head, index, no_logprobs, reason, tail)))  # fmt: skip
    end = max(longest - 1, 0)
    if request.include_usage:
        usage_head = head[: -len(b'{"index":')]
        events.append((end, USAGE, usage_head + b'],"usage":' + dumps(answer.usage) + b"}\n\n"))
    events.append((end, DONE, b"data: [DONE]\n\n"))
    return events


def plan_stream(
    answer: Answer, request: ChatRequest, ctx: RequestContext, *, fast: bool = True
) -> list[tuple[int, int, bytes]]:
    """Every event of a stream as (deadline slot, kind, bytes); slot -1 means "at once".

    A request without fault and logprobs takes the template path (``fast``).
    """
    fault = ctx.fault_name
    if (
        fast
        and not fault
        and answer.logprobs is None
        and answer.tool_calls is None
        and ctx.midstream_error_after is None
    ):
        return _plan_fast(answer, request)
    include_usage = (request.include_usage or fault == "usage_unrequested") and (
        fault != "usage_ignored"
    )
    usage_null = include_usage and fault != "ok_usage_key_absent"
    base: dict[str, Any] = {
        "id": answer.id,
        "object": "chat.completion" if fault == "chunk_object_wrong" else "chat.completion.chunk",
        "created": str(answer.created) if fault == "created_string" else answer.created,
        "model": answer.model,
        "system_fingerprint": FINGERPRINT,
    }
    chunks: list[tuple[int, int, dict[str, Any]]] = []

    def add(slot: int, kind: int, choices: list[dict[str, Any]], **extra: Any) -> None:
        chunk = dict(base)
        chunk["choices"] = choices
        if usage_null:
            chunk["usage"] = None
        chunk.update(extra)
        chunks.append((slot, kind, chunk))

    def choice(
        position: int, delta: dict[str, Any], finish: str | None = None, slot: int = -1
    ) -> dict[str, Any]:
        logprobs = None
        if answer.logprobs is not None and 0 <= slot < len(answer.logprobs[position]):
            logprobs = {"content": [answer.logprobs[position][slot]], "refusal": None}
        return {
            "index": answer.indexes[position],
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish,
        }

    role_first = fault not in {"no_role", "ok_role_with_content"}
    if role_first:
        for position in range(len(answer.choices)):
            text = None if answer.call(position) is not None else ""
            add(-1, ROLE, [choice(position, {"role": "assistant", "content": text,
                                             "refusal": None})])  # fmt: skip
    deltas = [answer.deltas(position) for position in range(len(answer.choices))]
    longest = max((len(d) for d in deltas), default=0)
    for slot in range(max(longest, 1)):
        for position, own in enumerate(deltas):
            last = slot == len(own) - 1 or (not own and slot == 0)
            finish = answer.finish[position]
            if slot < len(own):
                delta: dict[str, Any] = dict(own[slot])
                if fault == "role_every_delta" or (fault == "ok_role_with_content" and slot == 0):
                    delta = {"role": "assistant", **delta}
                if last and fault == "ok_finish_with_content" and finish is not None:
                    add(slot, CONTENT, [choice(position, delta, finish, slot)])
                    continue
                add(slot, CONTENT, [choice(position, delta, None, slot)])
            if last and finish is not None:
                delta = {"role": "assistant"} if fault == "role_every_delta" else {}
                if not own and fault == "ok_role_with_content":
                    delta = {"role": "assistant"}
                add(slot, FINISH, [choice(position, delta, finish)])
                if fault == "finish_twice":
                    add(slot, FINISH, [choice(position, {}, finish)])
    end = max(longest - 1, 0)
    if include_usage:
        if fault == "usage_chunk_with_choices" and chunks and chunks[-1][1] == FINISH:
            slot, _kind, last_chunk = chunks[-1]
            last_chunk["usage"] = answer.usage
        else:
            add(end, USAGE, [], usage=answer.usage)
    if fault == "usage_every_chunk":
        for _, _, chunk in chunks:
            chunk["usage"] = answer.usage
    if fault == "created_missing":
        for _, _, chunk in chunks:
            del chunk["created"]
    elif fault == "created_changes":
        for k, (_, _, chunk) in enumerate(chunks):
            chunk["created"] = answer.created + k
    if fault == "id_missing":
        for _, _, chunk in chunks:
            del chunk["id"]
    elif fault == "id_changes":
        for k, (_, _, chunk) in enumerate(chunks):
            chunk["id"] = f"{answer.id}-{k}"
    if fault == "ok_extra_fields":
        for _, _, chunk in chunks:
            chunk["x_backend"] = {"variant": "extra_fields"}
            for c in chunk["choices"]:
                c["x_choice_extra"] = None
                c["delta"]["x_delta_extra"] = None
    frame = _framer(fault)
    events = [
        (slot, kind, frame(orjson.dumps(chunk), k)) for k, (slot, kind, chunk) in enumerate(chunks)
    ]
    events.append((end, DONE, frame(b"[DONE]", len(chunks))))
    return _wire_faults(events, fault, longest, ctx)


def _wire_faults(
    events: list[tuple[int, int, bytes]], fault: str, longest: int, ctx: RequestContext
) -> list[tuple[int, int, bytes]]:
    """Faults that act on the encoded events."""
    half = max(1, longest // 2)
    if fault == "no_done":
        events = [e for e in events if e[1] != DONE]
    elif fault == "bom" and events:
        slot, kind, data = events[0]
        events[0] = (slot, kind, b"\xef\xbb\xbf" + data)
    elif fault == "event_without_data":
        at = next((i for i, e in enumerate(events) if e[1] == CONTENT), 0)
        events.insert(at, (events[at][0], OTHER, b"event: message\n\n"))
    elif fault == "unparseable_event":
        at = next((i for i, e in enumerate(events) if e[1] == CONTENT and e[0] >= half), 0)
        slot, kind, data = events[at]
        events[at] = (slot, kind, data[: len(data) // 2].rstrip(b"\n") + b"\n\n")
    elif fault in {"truncated_stream", "hang_mid_stream", "connection_dropped"}:
        events = [e for e in events if e[0] < half and e[1] in (ROLE, CONTENT, FINISH)]
    failure_at = ctx.midstream_error_after
    if fault == "midstream_error_plain":
        failure_at = half if failure_at is None else failure_at
    if failure_at is not None:
        kept = [e for e in events if e[0] < failure_at and e[1] in (ROLE, CONTENT, FINISH)]
        if fault == "midstream_error_plain":
            tail = b"Internal Server Error: generation failed\n"
        else:
            error = RequestError(
                500,
                "The server had an error while generating the answer.",
                "server_error",
                None,
                "internal_error",
            )
            tail = b"data: " + error.envelope_bytes() + b"\n\n"
        kept.append((failure_at, OTHER, tail))
        events = kept
    return events


def group_writes(
    events: list[tuple[int, int, bytes]], fault: str
) -> list[tuple[int, bytes, tuple[int, ...]]]:
    """Which events go out in one network write: (deadline slot, bytes, content slots).

    Each content event gets a write of its own at its deadline; the role chunks ride
    with the first content event and the events that end a choice (finish, usage,
    ``[DONE]``) with the content event they follow. ``ok_split_writes`` splits events
    across writes instead, and ``ok_coalesced_writes`` sends the whole stream at once.
    """
    if fault == "ok_split_writes":
        writes: list[tuple[int, bytes, tuple[int, ...]]] = []
        for slot, kind, data in events:
            third = max(1, len(data) // 3)
            writes.append((slot, data[:third], (slot,) if kind == CONTENT else ()))
            writes += [(slot, data[third : 2 * third], ()), (slot, data[2 * third :], ())]
        return [w for w in writes if w[1]]
    if fault == "ok_coalesced_writes":
        slots = [slot for slot, _, _ in events]
        contents = tuple(slot for slot, kind, _ in events if kind == CONTENT)
        return [(max(slots, default=0), b"".join(data for _, _, data in events), contents)]
    groups: list[tuple[int, list[bytes], list[int]]] = []
    leading: list[bytes] = []
    for slot, kind, data in events:
        if kind == CONTENT:
            groups.append((slot, [*leading, data], [slot]))
            leading = []
        elif groups and groups[-1][0] == slot:
            groups[-1][1].append(data)
        elif not groups:
            leading.append(data)
        else:
            groups.append((slot, [data], []))
    if leading:
        groups.append((max(0, max(slot for slot, _, _ in events)), leading, []))
    return [(slot, b"".join(parts), tuple(contents)) for slot, parts, contents in groups]


async def _stream(
    send: Send, receive: Receive, answer: Answer, request: ChatRequest, ctx: RequestContext
) -> None:
    fault = ctx.fault_name
    events = plan_stream(answer, request, ctx)
    content_type = b"application/json" if fault == "wrong_content_type" else SSE
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type), *SSE_HEADERS],
        }
    )
    if fault == "huge_body":
        await _endless_stream(send, receive, events, ctx)
        return
    writes = group_writes(events, fault)
    ttft, itl, t0 = ctx.ttft, ctx.itl, ctx.t0
    stats = ctx.stats
    watch: DisconnectWatch | None = None
    if ttft or itl or fault == "hang_mid_stream":
        watch = DisconnectWatch(receive)
        watch.start()
    monotonic = time.monotonic
    first = True
    hang = fault == "hang_mid_stream"
    #: end without completing the HTTP message (uvicorn then closes the connection)
    drop = fault == "connection_dropped"
    last = len(writes) - 1
    try:
        for position, (slot, data, contents) in enumerate(writes):
            if slot >= 0:
                deadline = t0 + ttft + slot * itl
                if monotonic() < deadline:
                    await sleep_until(deadline)
                    if watch is not None and watch.gone:
                        return
            more = hang or drop or position != last
            await send({"type": "http.response.body", "body": data, "more_body": more})
            if contents:
                now = monotonic()
                for content_slot in contents:
                    lateness = now - (t0 + ttft + content_slot * itl)
                    if first:
                        stats.ttft.add(lateness)
                        first = False
                    else:
                        stats.itl.add(lateness)
        if drop:
            return
        if hang and watch is not None:
            await watch.wait(ctx.config.hang_s)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif last < 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if watch is not None:
            watch.stop()


async def _endless_stream(
    send: Send, receive: Receive, events: list[tuple[int, int, bytes]], ctx: RequestContext
) -> None:
    head = b"".join(data for _, kind, data in events if kind == ROLE)
    content = next((data for _, kind, data in events if kind == CONTENT), b"")
    block = content * max(1, 65536 // max(1, len(content)))
    await send_endless(send, receive, head, block, ctx.config.huge_body_bytes)
