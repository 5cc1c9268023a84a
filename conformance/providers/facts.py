"""The facts a provider's document may state, and where a profile says it states them.

Every check judges one fact (``@check(..., fact="auth")``) or a rule of HTTP and SSE
(``basis="http"``). A profile lists, in its ``documented`` mapping next to its
capabilities, the facts its provider's document states, each with the section that says
so (:class:`Cited`). A check of a fact the document states is judged on the basis of the
document; a check of a fact it does not state is an OpenAI-compatibility finding (what the
OpenAI specification, the official SDK and common clients need beyond the document).

The OpenAI profile's document is the OpenAI specification itself: it states every fact
(see ``Provider.document_is_openai_spec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["CAPABILITY_FACTS", "FACTS", "Cited"]


@dataclass(frozen=True, slots=True)
class Cited:
    """Where a provider's document states a fact: its section, and its words."""

    section: str
    quote: str = ""

    def __str__(self) -> str:
        return f"{self.section}: {self.quote!r}" if self.quote else self.section


#: every fact a check may judge, with what it means
FACTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "endpoint": "a plain request to the documented endpoint is answered with a success",
        "auth": "the key goes in the documented header and scheme; a request without it, "
        "or with a wrong key, is refused",
        "request.json": "the request body is a JSON object",
        "request.multipart": "the request body is a multipart form of the documented fields",
        "messages": "a conversation of messages is answered with generated text",
        "messages.roles": "system, user and assistant turns (a multi-turn conversation)",
        "messages.content_parts": "a message content given as a list of text parts",
        "response.completion": "the fields of the answer object (id, object, created, model, "
        "choices with index, message role and content, finish_reason)",
        "response.finish_reason_values": "finish_reason is one of the specified values "
        "(stop, length, tool_calls, content_filter); length when the cap cut the answer",
        "response.spec_fields": "fields the specification adds to the answer object "
        "(message.refusal, choices[].logprobs)",
        "response.usage": "the usage counts: prompt, completion and their total",
        "response.usage_details": "usage.prompt_tokens_details and completion_tokens_details",
        "response.wetrocloud": "the answer object {response, tokens, success}",
        "stream": "stream: true answers in chunks that together make the whole answer",
        "stream.chunks": "each streamed chunk is a chat.completion.chunk object",
        "stream.chunk_identity": "every chunk of one answer has the same id and created",
        "stream.delta_rules": "the role comes once in the first delta, the content in "
        "increments and the finish_reason once",
        "stream.sse": "the stream is server-sent events of JSON chunks ending with "
        "data: [DONE], an error in the stream an event with an error object",
        "stream.usage": "stream_options.include_usage: one final chunk with the usage, and "
        "no usage elsewhere",
        "param.max_tokens": "max_tokens caps the length of the answer",
        "param.max_completion_tokens": "max_completion_tokens caps the length of the answer",
        "param.temperature": "temperature within the documented range",
        "param.top_p": "top_p, nucleus sampling",
        "param.n": "n answers several choices",
        "param.stop": "stop sequences end the answer",
        "param.seed": "seed makes sampling repeatable (best effort)",
        "param.tools": "tools and tool_choice: the model calls functions",
        "param.logprobs": "logprobs and top_logprobs",
        "param.response_format": "response_format: JSON mode and JSON schema",
        "errors.envelope": "an error answer is a JSON object {error: {message, type, ...}}",
        "errors.invalid": "an invalid request is refused with a 4xx status",
        "models.list": "GET /models lists the models and /models/{id} retrieves one",
    }
)

#: the fact that offers each optional feature a check may require (a ``Capabilities``
#: field): a profile whose document does not state the fact does not offer the feature,
#: even where the profile sends it (WeAI's streaming, the Chat Completions basic its guide
#: refers to but never describes)
CAPABILITY_FACTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "streaming": "stream",
        "stream_usage": "stream.usage",
        "n": "param.n",
        "stop": "param.stop",
        "max_tokens": "param.max_tokens",
        "max_tokens_null": "param.max_tokens",
        "max_completion_tokens": "param.max_completion_tokens",
        "temperature": "param.temperature",
        "temperature_range": "param.temperature",
        "top_p": "param.top_p",
        "top_p_range": "param.top_p",
        "seed": "param.seed",
        "tools": "param.tools",
        "logprobs": "param.logprobs",
        "response_format": "param.response_format",
    }
)
