"""Which faults trip the usage detail check: the correct backend sends no detail objects
(absent for ``openai``, null for ``nebulablock``), so each fault adds malformed ones."""

from __future__ import annotations

import json
from typing import Any

from selftest import MockFault, rewrite_chunks, rewrite_json


def _usage(body: dict[str, Any]) -> dict[str, Any]:
    usage = body.get("usage")
    assert isinstance(usage, dict), "the correct backend always sends usage"
    return usage


def _cached_over_prompt(body: dict[str, Any]) -> None:
    usage = _usage(body)
    usage["prompt_tokens_details"] = {"cached_tokens": usage["prompt_tokens"] + 5}


def _reasoning_over_completion(body: dict[str, Any]) -> None:
    usage = _usage(body)
    usage["completion_tokens_details"] = {"reasoning_tokens": usage["completion_tokens"] + 1}


def _detail_string(body: dict[str, Any]) -> None:
    _usage(body)["prompt_tokens_details"] = {"cached_tokens": "0"}


def _details_not_object(body: dict[str, Any]) -> None:
    _usage(body)["completion_tokens_details"] = []


def _stream_reasoning_over(datas: list[str]) -> list[str]:
    out = []
    for data in datas:
        if data != "[DONE]":
            chunk = json.loads(data)
            if isinstance(chunk.get("usage"), dict):
                _reasoning_over_completion(chunk)
                data = json.dumps(chunk)
        out.append(data)
    return out


# fmt: off
MOCKS: dict[str, MockFault] = {
    m.name: m
    for m in (
        MockFault("mock:usage_cached_over_prompt", "nebulablock",
                  "usage.prompt_tokens_details.cached_tokens > prompt_tokens",
                  rewrite_json(_cached_over_prompt)),
        MockFault("mock:usage_reasoning_over_completion", "openai",
                  "usage.completion_tokens_details.reasoning_tokens > completion_tokens",
                  rewrite_json(_reasoning_over_completion)),
        MockFault("mock:usage_detail_string", "openai",
                  "usage.prompt_tokens_details.cached_tokens a string",
                  rewrite_json(_detail_string)),
        MockFault("mock:usage_details_not_object", "nebulablock",
                  "usage.completion_tokens_details a list",
                  rewrite_json(_details_not_object)),
        MockFault("mock:stream_usage_reasoning_over", "openai",
                  "the stream usage chunk's reasoning_tokens > completion_tokens",
                  rewrite_chunks(_stream_reasoning_over)),
    )
}
# fmt: on

TRIPS: dict[str, list[str]] = {
    "schema.usage_details": [
        "mock:usage_cached_over_prompt",
        "mock:usage_reasoning_over_completion",
        "mock:usage_detail_string",
        "mock:usage_details_not_object",
        "mock:stream_usage_reasoning_over",
    ],
}


def _unasked_usage_chunk(datas: list[str]) -> list[str]:
    """A usage chunk nobody asked for (NebulaBlock documents no stream_options), whose
    cached tokens exceed the prompt tokens."""
    out = [d for d in datas if d != "[DONE]"]
    first = json.loads(out[0])
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
             "prompt_tokens_details": {"cached_tokens": 9}}  # fmt: skip
    out.append(json.dumps({**first, "choices": [], "usage": usage}))
    return [*out, "[DONE]"]


MOCKS["mock:usage_unasked_details_over"] = MockFault(
    "mock:usage_unasked_details_over",
    "nebulablock",
    "an unasked usage chunk ends every stream; its cached_tokens exceed prompt_tokens",
    rewrite_chunks(_unasked_usage_chunk),
)
TRIPS["schema.usage_details"].append("mock:usage_unasked_details_over")
