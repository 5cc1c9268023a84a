"""NebulaBlock's OpenAI-compatible inference API.

Documented at https://docs.nebulablock.com/overview/inference-api-openai-compatible/generate_text:
``POST {API_URL}/chat/completions`` with ``API_URL = https://inference.nebulablock.com/v1``
and a body of ``messages``, ``model``, ``max_tokens``, ``temperature``, ``top_p`` and
``stream``. The page says nothing of authentication, of how the body is encoded, of
errors, of a model list or of how a stream is framed: the profile sends a Bearer key and
a JSON body as OpenAI clients do, and judges those (and every other OpenAI rule) as
compatibility findings, not as violations of the document (see :attr:`documented`). Responses are OpenAI ``chat.completion`` /
``chat.completion.chunk`` objects plus ``service_tier``, ``prompt_logprobs`` and
``message.function_calls``.

The page names no model, so the default is a Llama 3.3 70B instruct model from
NebulaBlock's model list; pass ``--model`` for another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from conformance.providers.base import Capabilities
from conformance.providers.facts import Cited
from conformance.providers.openai import OpenAIProvider

__all__ = ["RESPONSE_FIELDS", "NebulaBlockProvider"]

#: the response attributes the Generate Text page lists, by object (the documented
#: fixtures hold exactly these)
RESPONSE_FIELDS: dict[str, frozenset[str]] = {
    "completion": frozenset(
        {"id", "created", "model", "object", "system_fingerprint", "choices", "usage",
         "service_tier", "prompt_logprobs"}
    ),
    "choice": frozenset({"finish_reason", "index", "message"}),
    "message": frozenset({"content", "role", "tool_calls", "function_calls"}),
    "usage": frozenset(
        {"completion_tokens", "prompt_tokens", "total_tokens", "completion_tokens_details",
         "prompt_tokens_details"}
    ),
}  # fmt: skip


class NebulaBlockProvider(OpenAIProvider):
    """NebulaBlock: OpenAI Chat Completions with a few documented extras."""

    name = "nebulablock"
    title = "NebulaBlock inference API (OpenAI-compatible, with service_tier and prompt_logprobs)"
    default_base_url = "https://inference.nebulablock.com/v1"
    endpoint = "/chat/completions"
    api_key_env = "NEBULABLOCK_API_KEY"
    models = ("meta-llama/Llama-3.3-70B-Instruct",)
    # Only what the Generate Text page documents is a requirement; the rest is undocumented.
    capabilities = Capabilities(
        streaming=True,
        stream_usage=False,
        n=False,
        stop=False,
        max_tokens=True,
        max_completion_tokens=False,
        temperature=True,
        top_p=True,
        seed=False,
        tools=False,
        logprobs=False,
        response_format=False,
        system_role=True,
        multi_turn=True,
        # "temperature float", "top_p float: Nucleus sampling probability": no range stated
        temperature_range=None,
        top_p_range=None,
        # "max_tokens integer or null: ... If null, the model's default will be used."
        max_tokens_null=True,
        max_tokens_min=None,
    )
    # The facts the Generate Text page states, section by section; nothing else is judged
    # on the basis of the document.
    documented: ClassVar[Mapping[str, Cited]] = {
        "endpoint": Cited("HTTP Request", "POST {API_URL}/chat/completions"),
        "messages": Cited("body parameters", "messages array: An array of message objects"),
        "param.max_tokens": Cited(
            "body parameters",
            "max_tokens integer or null: The maximum number of tokens to generate",
        ),
        "param.temperature": Cited("body parameters", "temperature float: Sampling temperature"),
        "param.top_p": Cited("body parameters", "top_p float: Nucleus sampling probability"),
        "stream": Cited(
            "Example",
            "if you set stream to True you'll get a stream of chat.completion.chunk objects. "
            "The entire collection of chunks represents the complete generated response.",
        ),
        "stream.chunks": Cited(
            "Response Attributes",
            'object string: ... "chat.completion.chunk" for a streamed chunk',
        ),
        "response.completion": Cited(
            "Response Attributes",
            "id, created, model, object, choices (finish_reason, index, message: content, role)",
        ),
        "response.usage": Cited(
            "Response Attributes",
            "usage: completion_tokens, prompt_tokens, total_tokens (prompt and completion "
            "combined)",
        ),
        "response.usage_details": Cited(
            "Response Attributes",
            "completion_tokens_details null, prompt_tokens_details null: if available",
        ),
    }
    docs = "https://docs.nebulablock.com/overview/inference-api-openai-compatible/generate_text"
    embedded_prefix = "/nebulablock/v1"
