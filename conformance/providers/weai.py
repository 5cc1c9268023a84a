"""WeAI (Product Science): the OpenAI Chat Completions API with open-source models.

Documented in the "Text generation models" guide: ``POST
https://weai.productscience.ai/v1/chat/completions`` with ``Authorization: Bearer
$WEAI_API_KEY`` and an OpenAI Chat Completions body; models ``llama3.1-8B`` (the
recommended default) and ``llama3.1-70B``; temperature from 0 to 2. The guide presents
its API as the Chat Completions API with an OpenAI-style SDK, so the full OpenAI request
surface is expected; optional features may still be refused with a clean 4xx, which
checks treat as a capability answer rather than a failure.
"""

from __future__ import annotations

from conformance.providers.base import Capabilities
from conformance.providers.openai import OpenAIProvider

__all__ = ["WeAIProvider"]


class WeAIProvider(OpenAIProvider):
    """WeAI: OpenAI Chat Completions at weai.productscience.ai."""

    name = "weai"
    title = "WeAI (Product Science) Chat Completions, llama3.1 models"
    default_base_url = "https://weai.productscience.ai/v1"
    endpoint = "/chat/completions"
    api_key_env = "WEAI_API_KEY"
    models = ("llama3.1-8B", "llama3.1-70B")
    capabilities = Capabilities(temperature_range=(0.0, 2.0))
    docs = "https://weai.productscience.ai (Text generation models guide)"
    embedded_prefix = "/weai/v1"
