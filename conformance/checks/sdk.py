"""The official SDK as oracle: replay each captured answer through ``openai``.

Each recorded completion and stream is served, byte for byte, to the official Python
SDK through an ``httpx.MockTransport`` (no network), with
``_strict_response_validation=True``. The SDK must read it without raising and must end
up with the same text, role and finish reasons as the harness's own decoding. Any
exception or corruption (a role of "assistantassistant", lost content) is a failure at
severity ``sdk``: that is what users of the SDK would get. One exception: when strict
validation rejects only informational top-level fields (``service_tier``,
``system_fingerprint``: a value the SDK's types do not list, such as Groq's
``"on_demand"``), the answer is read again in the SDK's default mode and, if that reads
it right, the check warns instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from conformance.checks._oai import STREAM_PROBES, is_annotation_chunk, stream_exchanges
from conformance.checks.evidence import excerpt, exchange_evidence
from conformance.checks.registry import (
    OPENAI_ONLY,
    CheckContext,
    Failed,
    Severity,
    Skipped,
    Warned,
    check,
)
from conformance.providers.base import DecodeError, Generation
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

if TYPE_CHECKING:
    import openai

_SOURCE = "openai-python (the official SDK), strict response validation"
#: response headers that describe the transfer, not the (already decoded) body
_TRANSFER_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
_REPLAY_BASE = "http://sdk-replay.invalid/v1"


def _sdk_http_library() -> Any:
    """The HTTP library the installed SDK is built on: ``httpx2`` (openai 3.x) or ``httpx``."""
    try:
        import httpx2
    except ImportError:  # openai < 3
        import httpx

        return httpx
    return httpx2


@contextmanager
def replay_client(ex: Exchange, *, strict: bool = True) -> Iterator[openai.OpenAI]:
    """An SDK client whose every request is answered with the recorded response."""
    import openai

    http_lib = _sdk_http_library()
    headers = [(k, v) for k, v in ex.headers if k.lower() not in _TRANSFER_HEADERS]
    status = ex.status or 200

    def handler(request: Any) -> Any:
        return http_lib.Response(status, headers=headers, content=ex.body)

    http = http_lib.Client(transport=http_lib.MockTransport(handler))
    client = openai.OpenAI(
        api_key="sk-sdk-replay",
        base_url=_REPLAY_BASE,
        http_client=http,
        max_retries=0,
        timeout=10.0,
        _strict_response_validation=strict,
    )
    try:
        yield client
    finally:
        client.close()


def _call_args(ctx: CheckContext, ex: Exchange) -> dict[str, Any]:
    """The SDK call that matches the recorded request (the mock ignores it anyway)."""
    raw = ex.meta.get("params")
    params = dict(raw) if isinstance(raw, dict) else {}
    params.pop("stream", None)
    model = params.pop("model", None)
    messages = ex.meta.get("messages")
    if not (isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages)):
        messages = [{"role": "user", "content": "hi"}]
    return {
        "model": model if isinstance(model, str) else ctx.provider.model,
        "messages": messages,
        "extra_body": params or None,
    }


def _has_error_event(ex: Exchange) -> bool:
    """The stream reports an error in-band (the SDK raises APIError for it, by design)."""
    for event in ex.events or []:
        if event.event == "error":
            return True
        try:
            value = parse_json_bounded(event.data or "")
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("error"):
            return True
    return False


def _replayable(ctx: CheckContext, core: list[Exchange], *, stream: bool) -> list[Exchange]:
    """``core`` plus every other successful chat-completion exchange of the run.

    Each captured answer is an oracle case, whatever probe made it (n > 1, stop strings,
    tools...), except requests whose body was replaced by raw bytes (malformed input).
    """
    found = list(core)
    seen = {id(ex) for ex in core}
    endpoint = ctx.provider.endpoint.rstrip("/")
    for ex in ctx.all_exchanges():
        if id(ex) in seen or not ex.ok or ex.meta.get("custom_body"):
            continue
        if ex.request.method != "POST" or not ex.request.url.rstrip("/").endswith(endpoint):
            continue
        params = ex.meta.get("params")
        asked = isinstance(params, dict) and params.get("stream") is True
        if asked != stream or (stream and (not ex.events or _has_error_event(ex))):
            continue
        if not stream and (ex.events is not None or not ex.body.lstrip().startswith(b"{")):
            continue
        found.append(ex)
        seen.add(id(ex))
    if not found:
        raise Skipped("not judged: no successful " + ("stream" if stream else "completion"))
    return found


@contextmanager
def _sdk_failures(ex: Exchange, action: str) -> Iterator[None]:
    """Turn any exception the SDK raises into :class:`Failed` with the evidence."""
    try:
        yield
    except (Failed, Skipped):
        raise
    except Exception as exc:
        raise Failed(
            f"the official SDK raises while {action}: {type(exc).__name__}: "
            f"{excerpt(str(exc), 400)}",
            exchange_evidence(ex, event=-1, body=not ex.events, sdk_exception=type(exc).__name__),
        ) from None


#: top-level fields that only inform (no client branches on them): a value the SDK's
#: types do not list there (Groq's ``service_tier: "on_demand"``) fails strict validation
#: only, the SDK's default mode reads the answer
_INFORMATIONAL = frozenset({"service_tier", "system_fingerprint"})
_T = TypeVar("_T")


def _informational_only(exc: BaseException) -> list[str] | None:
    """The rejected locations when strict validation failed only on informational fields."""
    import openai
    import pydantic

    cause = exc.__cause__
    if not isinstance(exc, openai.APIResponseValidationError) or not isinstance(
        cause, pydantic.ValidationError
    ):
        return None
    found = [
        f"{'.'.join(str(p) for p in err['loc'])} = {err.get('input')!r:.40}"
        for err in cause.errors()
    ]
    outside = [e for e in cause.errors() if not e["loc"] or e["loc"][0] not in _INFORMATIONAL]
    if not found or outside:
        return None
    return found


def _annotation_rejected(exc: BaseException) -> bool:
    """Strict validation rejected an Azure content-filter annotation event (``object: ""``),
    which the SDK's stream helper skips by design."""
    import openai

    return isinstance(exc, openai.APIResponseValidationError) and is_annotation_chunk(exc.body)


def _read(ex: Exchange, action: str, read: Callable[[openai.OpenAI], _T]) -> tuple[_T, str | None]:
    """``read`` the replayed answer with strict validation. When strict validation rejects
    only informational fields, read it again in the SDK's default mode and return a note
    saying so (the caller warns); any other exception is :class:`Failed`."""
    try:
        with replay_client(ex) as client:
            return read(client), None
    except (Failed, Skipped):
        raise
    except Exception as exc:
        rejected = _informational_only(exc)
        if rejected is not None:
            note = (
                f"strict validation rejects {'; '.join(rejected)} in probe {ex.probe!r} (a "
                "value the SDK's types do not list); the SDK's default mode reads the answer, "
                "strict clients (pydantic models of the API) do not"
            )
        elif _annotation_rejected(exc):
            note = (
                f"strict validation rejects a content-filter annotation event of probe "
                f"{ex.probe!r} (`object` not chat.completion.chunk, as Azure OpenAI sends it); "
                "the SDK's default mode, skipping such events as its stream helper does, "
                "reads the answer"
            )
        else:
            with _sdk_failures(ex, action):
                raise
    with replay_client(ex, strict=False) as client, _sdk_failures(ex, action):
        return read(client), note


def _ours(decode: Callable[[], Generation]) -> Generation | None:
    try:
        return decode()
    except DecodeError:
        return None


def _ours_body(ctx: CheckContext, ex: Exchange) -> Generation | None:
    return _ours(lambda: ctx.provider.decode(ex.body))


def _ours_stream(ctx: CheckContext, ex: Exchange) -> Generation | None:
    return _ours(lambda: ctx.provider.decode_stream(ex.events or []))


#: what the SDK gave for one choice: (role, text, finish_reason)
_SdkChoice = tuple[str | None, str, str | None]


def _warn_notes(notes: list[tuple[Exchange, str]]) -> None:
    """Warn about the answers only strict validation rejected (after every other verdict)."""
    if notes:
        ex, note = notes[0]
        more = f" (and {len(notes) - 1} more answer(s))" if len(notes) > 1 else ""
        raise Warned(note + more, exchange_evidence(ex, event=-1, body=not ex.events))


def _compare(
    ex: Exchange,
    *,
    what: str,
    sdk_choices: dict[int, tuple[str | None, str, str | None]],
    ours: Generation | None,
) -> None:
    """Fail when the SDK's view (role, text, finish reason per index) is corrupt or differs."""
    for index, (role, _, _) in sorted(sdk_choices.items()):
        if role != "assistant":
            raise Failed(
                f"through the SDK ({what}), choice {index} has role {role!r:.80}, not 'assistant'",
                exchange_evidence(ex, event=-1, body=not ex.events, sdk_role=role),
            )
    if ours is None:
        return
    for choice in ours.choices:
        got = sdk_choices.get(choice.index)
        if got is None:
            raise Failed(
                f"the SDK ({what}) lost choice {choice.index}",
                exchange_evidence(ex, event=-1, body=not ex.events),
            )
        _, text, finish = got
        if text != choice.text:
            raise Failed(
                f"the SDK ({what}) reads a different text for choice {choice.index}: "
                f"{excerpt(text, 120)!r} instead of {excerpt(choice.text, 120)!r}",
                exchange_evidence(ex, event=-1, body=not ex.events, sdk_text=excerpt(text, 400)),
            )
        if finish != choice.finish_reason:
            raise Failed(
                f"the SDK ({what}) reads finish_reason {finish!r} for choice {choice.index}, "
                f"the wire says {choice.finish_reason!r}",
                exchange_evidence(ex, event=-1, body=not ex.events),
            )


#: what the SDK gave for one tool call: (id, function name, arguments)
_SdkToolCall = tuple[Any, Any, Any]


def _sdk_tool_calls(message: Any) -> list[_SdkToolCall]:
    """The tool calls of an SDK message as (id, name, arguments), in order."""
    calls = []
    for call in getattr(message, "tool_calls", None) or []:
        function = getattr(call, "function", None)
        calls.append(
            (
                getattr(call, "id", None),
                getattr(function, "name", None),
                getattr(function, "arguments", None),
            )
        )
    return calls


def _compare_tool_calls(
    ex: Exchange, sdk_tools: dict[int, list[_SdkToolCall]], ours: Generation | None
) -> None:
    """Fail when the SDK's stream helper builds other tool calls than the wire's deltas
    joined the way the specification means them (id and name given once, argument
    fragments concatenated)."""
    for choice in ours.choices if ours is not None else []:
        wire = [
            (
                call.get("id"),
                (call.get("function") or {}).get("name"),
                (call.get("function") or {}).get("arguments"),
            )
            for call in choice.tool_calls or []
        ]
        if not wire:
            continue
        got = sdk_tools.get(choice.index, [])
        if got != wire:
            raise Failed(
                f"through the SDK's stream helper, the tool calls of choice {choice.index} in "
                f"probe {ex.probe!r} are {excerpt(repr(got), 200)}, the wire's deltas say "
                f"{excerpt(repr(wire), 200)} (the helper concatenates every string field "
                "a call's deltas repeat)",
                exchange_evidence(ex, event=-1, body=False),
            )


@check(
    id="sdk.completion",
    basis="openai",
    title="The official SDK reads the completion",
    severity=Severity.SDK,
    source=_SOURCE + ": chat.completions.create()",
    probes=("chat",),
    dialects=OPENAI_ONLY,
)
def sdk_completion(ctx: CheckContext) -> str:
    """`client.chat.completions.create(...)` of the official Python SDK, with strict
    response validation, returns the completion without raising, with role "assistant"
    and the same text and finish reason as on the wire."""
    exchanges = _replayable(ctx, [ctx.successful("chat")], stream=False)
    notes: list[tuple[Exchange, str]] = []
    for ex in exchanges:

        def read(client: openai.OpenAI, ex: Exchange = ex) -> dict[int, _SdkChoice]:
            completion = client.chat.completions.create(**_call_args(ctx, ex))
            return {
                c.index: (c.message.role, c.message.content or "", c.finish_reason)
                for c in completion.choices
            }

        sdk_choices, note = _read(ex, "reading the completion", read)
        _compare(ex, what="create()", sdk_choices=sdk_choices, ours=_ours_body(ctx, ex))
        if note:
            notes.append((ex, note))
    _warn_notes(notes)
    return f"{len(exchanges)} completion(s) read without error, same content"


@check(
    id="sdk.stream_chunks",
    basis="openai",
    title="The official SDK iterates the stream",
    severity=Severity.SDK,
    source=_SOURCE + ": chat.completions.create(stream=True)",
    probes=STREAM_PROBES,
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def sdk_stream_chunks(ctx: CheckContext) -> str:
    """Iterating `client.chat.completions.create(..., stream=True)` with strict response
    validation yields every chunk without raising, and the content deltas add up to the
    text on the wire."""
    notes: list[tuple[Exchange, str]] = []
    for ex in _replayable(ctx, stream_exchanges(ctx), stream=True):

        def read(client: openai.OpenAI, ex: Exchange = ex) -> tuple[dict[int, _SdkChoice], int]:
            sdk_choices: dict[int, _SdkChoice] = {}
            count = 0
            for chunk in client.chat.completions.create(stream=True, **_call_args(ctx, ex)):
                if is_annotation_chunk(chunk.to_dict()):
                    continue  # what the SDK's stream helper skips (Azure's filter events)
                count += 1
                for choice in chunk.choices:
                    role, text, finish = sdk_choices.get(choice.index, (None, "", None))
                    delta = choice.delta
                    role = role or delta.role
                    text += delta.content or ""
                    finish = choice.finish_reason or finish
                    sdk_choices[choice.index] = (role, text, finish)
            return sdk_choices, count

        (sdk_choices, count), note = _read(ex, "iterating the stream", read)
        if note:
            notes.append((ex, note))
        if count == 0:
            raise Failed(
                f"the SDK yields no chunk at all from the stream of probe {ex.probe!r}",
                exchange_evidence(ex),
            )
        _compare(
            ex,
            what="create(stream=True)",
            sdk_choices=sdk_choices,
            ours=_ours_stream(ctx, ex),
        )
    _warn_notes(notes)
    return "every stream's chunks read, same content"


def _final_completion(client: openai.OpenAI, args: dict[str, Any]) -> Any:
    """The stream helper's final completion.

    By design the helper raises ``LengthFinishReasonError`` (``ContentFilter...``) when a
    choice was cut by max_tokens (a filter); that is the SDK's behaviour for a correct
    stream, so the completion it carries is judged instead.
    """
    import openai

    try:
        with client.chat.completions.stream(**args) as stream:
            for _ in stream:
                pass
            return stream.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
        return exc.completion


@check(
    id="sdk.stream_accumulate",
    basis="openai",
    title="The official SDK's stream helper builds the right final completion",
    severity=Severity.SDK,
    source=_SOURCE + ": chat.completions.stream() and get_final_completion()",
    # every captured stream is replayed; the streamed tool call is asked for explicitly
    probes=(*STREAM_PROBES, "tool_call_stream"),
    dialects=OPENAI_ONLY,
    requires="streaming",
)
def sdk_stream_accumulate(ctx: CheckContext) -> str:
    """`client.chat.completions.stream(...)` accumulates the chunks into a final
    completion without raising, whose messages have role "assistant" (not
    "assistantassistant") and the same text, finish reasons and tool calls as the wire
    (a call whose id or name every delta repeats becomes "call_1call_1")."""
    notes: list[tuple[Exchange, str]] = []
    for ex in _replayable(ctx, stream_exchanges(ctx), stream=True):

        def read(
            client: openai.OpenAI, ex: Exchange = ex
        ) -> tuple[dict[int, _SdkChoice], dict[int, list[_SdkToolCall]]]:
            final = _final_completion(client, _call_args(ctx, ex))
            choices = {
                c.index: (c.message.role, c.message.content or "", c.finish_reason)
                for c in final.choices
            }
            return choices, {c.index: _sdk_tool_calls(c.message) for c in final.choices}

        (sdk_choices, sdk_tools), note = _read(ex, "accumulating the stream", read)
        if note:
            notes.append((ex, note))
        if not sdk_choices:
            raise Failed(
                f"the SDK's final completion for probe {ex.probe!r} has no choices",
                exchange_evidence(ex, event=-1, body=False),
            )
        ours = _ours_stream(ctx, ex)
        _compare(ex, what="stream() final completion", sdk_choices=sdk_choices, ours=ours)
        _compare_tool_calls(ex, sdk_tools, ours)
    _warn_notes(notes)
    return "the final completion of every stream is right"
