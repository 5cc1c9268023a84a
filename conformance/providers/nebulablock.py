"""NebulaBlock's OpenAI-compatible inference API.

Documented at https://docs.nebulablock.com/overview/inference-api-openai-compatible/generate_text:
``POST {API_URL}/chat/completions`` with ``API_URL = https://inference.nebulablock.com/v1``,
Bearer auth, a JSON body with ``messages``, ``model``, ``max_tokens``, ``temperature``,
``top_p`` and ``stream``. Responses are OpenAI ``chat.completion`` /
``chat.completion.chunk`` objects plus ``service_tier``, ``prompt_logprobs`` and
``message.function_calls``.

The page names no model, so the default is a Llama 3.3 70B instruct model from
NebulaBlock's model list; pass ``--model`` for another one.
"""

from __future__ import annotations

from conformance.providers.base import Capabilities
from conformance.providers.openai import OpenAIProvider

__all__ = ["NebulaBlockProvider"]


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
    )
    docs = "https://docs.nebulablock.com/overview/inference-api-openai-compatible/generate_text"
    embedded_prefix = "/nebulablock/v1"
