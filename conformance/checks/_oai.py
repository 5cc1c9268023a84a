"""Shared reading of OpenAI-dialect exchanges for the core families.

These helpers turn an exchange into JSON values and raise :class:`Skipped` when the
exchange cannot be judged by the calling check (another check reports that problem).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from conformance.checks.registry import CheckContext, Skipped
from conformance.providers.base import DecodeError, Generation, Provider
from conformance.wire.exchange import Exchange
from conformance.wire.json_bounded import parse_json_bounded

#: the finish reasons the OpenAI specification allows
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
#: the probes that stream (judged together by stream-wide checks)
STREAM_PROBES: tuple[str, ...] = ("stream", "stream_usage")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One parsed ``chat.completion.chunk`` event and where it sat in the stream."""

    #: index of the event in ``Exchange.events``
    event: int
    data: dict[str, Any]

    @property
    def choices(self) -> list[dict[str, Any]]:
        raw = self.data.get("choices")
        return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def choice_list(doc: Any) -> list[Any]:
    """``doc["choices"]`` when it is a list, else ``[]`` (the schema checks report that)."""
    choices = doc.get("choices") if isinstance(doc, dict) else None
    return choices if isinstance(choices, list) else []


def is_int(value: Any) -> TypeGuard[int]:
    """An integer that is not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def stream_exchanges(ctx: CheckContext, names: tuple[str, ...] = STREAM_PROBES) -> list[Exchange]:
    """The completed streamed exchanges among ``names`` that got a 2xx answer.

    Raises :class:`Skipped` with the first reason when none is usable.
    """
    usable: list[Exchange] = []
    reasons: list[str] = []
    for name in names:
        try:
            usable.append(ctx.successful(name))
        except Skipped as exc:
            reasons.append(exc.detail)
    if not usable:
        raise Skipped(reasons[0] if reasons else "not judged: no stream was made")
    return usable


def events_or_skip(ex: Exchange) -> list[Any]:
    """The SSE events of a streamed exchange (:class:`Skipped` when it was not a stream)."""
    if ex.events is None:
        raise Skipped(
            f"not judged: probe {ex.probe!r} was not answered with an event stream "
            "(see sse.stream_when_asked)"
        )
    return ex.events


#: keys of Azure OpenAI's content-filter metadata
_FILTER_KEYS = ("prompt_filter_results", "prompt_annotations")
_CHOICE_FILTER_KEYS = ("content_filter_results", "content_filter_offsets")


def is_annotation_chunk(doc: Any) -> bool:
    """Azure OpenAI's content-filter annotation, not a completion chunk.

    Azure sends, besides the chunks, events with ``object: ""`` (and ``id: ""``,
    ``created: 0``, ``model: ""``) that carry only filter results: the prompt filter
    first (``choices: []``), and with asynchronous filtering, offsets after the answer
    (a choice without ``delta``). They carry no content, role, finish reason or usage.
    The official SDK's stream helper skips every event whose ``object`` is not
    ``chat.completion.chunk`` for this reason, so the chunk checks leave them out and
    ``schema.object_values`` warns about them once.
    """
    if not isinstance(doc, dict) or doc.get("object") == "chat.completion.chunk":
        return False
    if doc.get("usage") is not None or not isinstance(doc.get("choices"), list):
        return False
    choices = doc["choices"]
    marked = any(k in doc for k in _FILTER_KEYS) or any(
        isinstance(c, dict) and any(k in c for k in _CHOICE_FILTER_KEYS) for c in choices
    )
    if not marked:
        return False
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
            return False
        delta = choice.get("delta")
        if delta is not None and (not isinstance(delta, dict) or any(delta.values())):
            return False
    return True


def annotation_events(ex: Exchange) -> list[int]:
    """The positions of :func:`is_annotation_chunk` events in a stream (before ``[DONE]``)."""
    found: list[int] = []
    for pos, event in enumerate(ex.events or []):
        if event.data is None:
            continue
        if event.data.strip() == "[DONE]":
            break
        try:
            value = parse_json_bounded(event.data)
        except ValueError:
            continue
        if is_annotation_chunk(value):
            found.append(pos)
    return found


def iter_chunks(ex: Exchange) -> Iterator[Chunk]:
    """Every event before ``[DONE]`` whose data is a JSON object (others are skipped;
    ``sse.data_is_json`` judges them), leaving out errors (an ``error`` that is set: a
    chunk that says ``"error": null`` is a chunk, as the SDK reads it) and Azure's
    content-filter annotations (:func:`is_annotation_chunk`)."""
    for pos, event in enumerate(events_or_skip(ex)):
        if event.data is None:
            continue
        if event.data.strip() == "[DONE]":
            return
        try:
            value = parse_json_bounded(event.data)
        except ValueError:
            continue
        if isinstance(value, dict) and not value.get("error") and not is_annotation_chunk(value):
            yield Chunk(pos, value)


def chunks_or_skip(ex: Exchange) -> list[Chunk]:
    """The parsed chunks of a stream; :class:`Skipped` when there are none."""
    chunks = list(iter_chunks(ex))
    if not chunks:
        raise Skipped(f"not judged: probe {ex.probe!r} produced no parseable chunk")
    return chunks


def json_body_or_skip(ex: Exchange) -> dict[str, Any]:
    """The response body as a JSON object; :class:`Skipped` when it is not one."""
    try:
        value = parse_json_bounded(ex.body)
    except ValueError as exc:
        raise Skipped(
            f"not judged: the body of probe {ex.probe!r} is not JSON (see schema.completion_json)"
        ) from exc
    if not isinstance(value, dict):
        raise Skipped(f"not judged: the body of probe {ex.probe!r} is not a JSON object")
    return value


def decode_exchange(provider: Provider, ex: Exchange) -> Generation:
    """The answer of ``ex``, streamed or plain, decoded by ``provider``'s rules
    (:class:`DecodeError` when it is not a valid completion)."""
    if ex.events is not None:
        return provider.decode_stream(ex.events)
    return provider.decode(ex.body)


def decode_or_skip(ctx: CheckContext, ex: Exchange) -> Generation:
    """The decoded answer; :class:`Skipped` when it cannot be decoded (schema.* says why)."""
    try:
        return decode_exchange(ctx.provider, ex)
    except DecodeError as exc:
        raise Skipped(
            f"not judged: the answer to probe {ex.probe!r} ({ex.meta.get('label') or 'plain'}) "
            f"could not be decoded: {exc}"
        ) from None


def reasoning_outside(usage: dict[str, Any], missing: int) -> str:
    """Why a usage total is off by ``missing``, when that is exactly the reasoning tokens
    (``""`` otherwise): a phrase to append to the message."""
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if not is_int(reasoning) or reasoning <= 0 or reasoning != missing:
        return ""
    return (
        f": the {reasoning} reasoning tokens are counted outside completion_tokens (OpenAI "
        "counts them inside), so clients that bill completion_tokens under-count"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (RFC 8259 has no NaN or Infinity)")


def non_standard_json(text: str | bytes) -> str | None:
    """Why ``text``, which Python's ``json`` module reads, is still not RFC 8259 JSON
    (``NaN``, ``Infinity``, ``-Infinity``), or ``None`` when it is standard JSON.

    Python accepts those constants; ``JSON.parse`` (the official Node SDK, browsers) and
    most other parsers throw on them. Call it only on text that ``json.loads`` accepted.
    """
    try:
        parse_json_bounded(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return str(exc)
    return None


def type_name(value: Any) -> str:
    """The JSON type name of a Python value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
