"""The OpenAI Chat Completions shapes: ``chat.completion``, ``chat.completion.chunk``
and the error envelope.

Required keys and types follow the OpenAI API reference: ``created`` is an integer,
``object`` the exact literal, ``finish_reason`` one of the five documented values,
``index`` an integer. Fields the reference marks optional are optional; unknown fields
are allowed. One deliberate tolerance: the error ``code`` may be an integer (the
reference says string or null; vLLM and others send the HTTP status, and no client
breaks on it).
"""

from __future__ import annotations

from typing import Any, Literal

from conformance.schemas._base import StrictModel

__all__ = [
    "FINISH_REASONS",
    "ChatCompletion",
    "ChatCompletionChoice",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChunkChoice",
    "CompletionUsage",
    "ErrorBody",
    "ErrorEnvelope",
    "FinishReason",
    "FunctionCall",
    "FunctionCallDelta",
    "Model",
    "ModelList",
    "ToolCall",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
FINISH_REASONS: frozenset[str] = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "function_call"}
)


class FunctionCall(StrictModel):
    name: str
    #: the arguments as a JSON text, as generated
    arguments: str


class ToolCall(StrictModel):
    id: str
    type: Literal["function"]
    function: FunctionCall


class TopLogprob(StrictModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(StrictModel):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] | None = None


class ChoiceLogprobs(StrictModel):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class CompletionUsage(StrictModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: dict[str, Any] | None = None
    prompt_tokens_details: dict[str, Any] | None = None


class ChatCompletionMessage(StrictModel):
    role: Literal["assistant"]
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class ChatCompletionChoice(StrictModel):
    index: int
    message: ChatCompletionMessage
    finish_reason: FinishReason
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(StrictModel):
    """A non-streamed response."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


class FunctionCallDelta(StrictModel):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(StrictModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta | None = None


class ChoiceDelta(StrictModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    function_call: FunctionCallDelta | None = None


class ChunkChoice(StrictModel):
    index: int
    delta: ChoiceDelta
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(StrictModel):
    """One streamed chunk (the data of one SSE event)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None


class ErrorBody(StrictModel):
    """The ``error`` object: all four keys present; ``param`` and ``code`` may be null."""

    message: str
    type: str
    param: str | None
    code: str | int | None


class ErrorEnvelope(StrictModel):
    """``{"error": {"message", "type", "param", "code"}}``, also the data of a mid-stream
    error event."""

    error: ErrorBody


class Model(StrictModel):
    """One model object (``GET /models/{id}``, and each entry of the list)."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(StrictModel):
    """The model list, ``GET /models``."""

    object: Literal["list"]
    data: list[Model]
