"""NebulaBlock's documented additions to the OpenAI shapes.

The Generate Text page lists ``service_tier`` and ``prompt_logprobs`` on the response,
``message.function_calls`` beside ``tool_calls``, and ``completion_tokens_details`` /
``prompt_tokens_details`` in usage (documented as null). All are optional here: the
page says "if available".
"""

from __future__ import annotations

from typing import Any

from conformance.schemas.openai import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChunkChoice,
    CompletionUsage,
)

__all__ = [
    "NebulaBlockChatCompletion",
    "NebulaBlockChatCompletionChunk",
    "NebulaBlockChoice",
    "NebulaBlockMessage",
    "NebulaBlockUsage",
]


class NebulaBlockMessage(ChatCompletionMessage):
    function_calls: list[Any] | None = None


class NebulaBlockChoice(ChatCompletionChoice):
    message: NebulaBlockMessage


class NebulaBlockUsage(CompletionUsage):
    completion_tokens_details: dict[str, Any] | None = None
    prompt_tokens_details: dict[str, Any] | None = None


class NebulaBlockChatCompletion(ChatCompletion):
    choices: list[NebulaBlockChoice]  # type: ignore[assignment]  # narrowed field
    usage: NebulaBlockUsage | None = None
    service_tier: str | None = None
    prompt_logprobs: list[Any] | None = None


class NebulaBlockChatCompletionChunk(ChatCompletionChunk):
    choices: list[ChunkChoice]
    usage: NebulaBlockUsage | None = None
    service_tier: str | None = None
    prompt_logprobs: list[Any] | None = None
