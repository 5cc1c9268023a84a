"""WeAI (Product Science): the OpenAI Chat Completions API with open-source models.

Documented in the "Text generation models" guide: ``POST
https://weai.productscience.ai/v1/chat/completions`` with ``Authorization: Bearer
$WEAI_API_KEY`` and a Chat Completions body of ``model`` and ``messages`` (system, user and
assistant turns: the quickstart is a multi-turn conversation); models ``llama3.1-8B`` (the
recommended default) and ``llama3.1-70B``; ``temperature`` from 0 to 2 (its FAQ).

The capabilities follow that document and nothing more: it names no ``n``, ``stop``,
``top_p``, ``seed``, ``logprobs``, ``tools``, ``response_format``, ``stream_options`` or
``max_completion_tokens``, so those are not probed as requirements (their checks are
skipped by design; a WeAI server that ignores them is not failed). Two undocumented
basics stay on because the guide sends its readers to "the Chat Completions API": streaming
(``stream: true``), and ``max_tokens``, the length cap every probe carries so that a run
against a live target stays bounded in cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from conformance.providers.base import Capabilities
from conformance.providers.facts import Cited
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
    # What the "Text generation models" guide documents; see the module docstring.
    capabilities = Capabilities(
        streaming=True,
        stream_usage=False,
        n=False,
        stop=False,
        max_tokens=True,
        max_completion_tokens=False,
        temperature=True,
        top_p=False,
        seed=False,
        tools=False,
        logprobs=False,
        response_format=False,
        system_role=True,
        multi_turn=True,
        temperature_range=(0.0, 2.0),
        # "low values for temperature (e.g. 0.2)", "slightly higher than normal (e.g. 1.2)"
        temperature_examples=(0.2, 1.2),
        top_p_range=None,
        # max_tokens is not in the guide: neither null nor a minimum is documented
        max_tokens_null=False,
        max_tokens_min=None,
    )
    # The facts the guide states; every other check is an OpenAI-compatibility finding.
    documented: ClassVar[Mapping[str, Cited]] = {
        "endpoint": Cited(
            "Quickstart (curl)", "curl https://weai.productscience.ai/v1/chat/completions"
        ),
        "auth": Cited("Quickstart (curl)", '-H "Authorization: Bearer $WEAI_API_KEY"'),
        "request.json": Cited("Quickstart (curl)", '-H "Content-Type: application/json"'),
        "messages": Cited(
            "Quickstart",
            "Chat models take a list of messages as input and return a model-generated "
            "message as output.",
        ),
        "messages.roles": Cited(
            "Quickstart",
            "the chat format is designed to make multi-turn conversations easy (system, "
            "user, assistant, user)",
        ),
        "response.completion": Cited(
            "Quickstart (node.js)",
            "the Chat Completions API ... console.log(completion.choices[0])",
        ),
        "param.temperature": Cited(
            "FAQ: How should I set the temperature parameter?",
            "0 being least random (or most deterministic) and 2 being most random",
        ),
    }
    docs = "https://weai.productscience.ai (Text generation models guide)"
    embedded_prefix = "/weai/v1"
