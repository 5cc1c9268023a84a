"""Which faults trip the errors, auth and semantics families.

Backend faults are named as in :data:`conformance.backend.FAULTS` (the matrix runs the
backend with API keys, so the auth faults show). ``mock:*`` faults rewrite the correct
backend's answer where the backend has no fault for the property.

Notes on the choices:

- the optional features (logprobs, tools, JSON mode) are honoured or refused by the
  correct backend (passed or skipped); their mocks accept them and answer plain text,
  which is exactly "silently ignored";
- ``semantics.stream_matches_plain`` and ``semantics.seed`` are warn-only: their faults
  make them warn.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx

from selftest import MockFault, rewrite_chunks, rewrite_json, sent_body

_OAI = "openai"


def _messages(request: httpx.Request) -> list[Any]:
    try:
        body = json.loads(request.content)
    except ValueError:
        return []
    messages = body.get("messages") if isinstance(body, dict) else None
    return messages if isinstance(messages, list) else []


def _refuse_multi_turn(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A chat template that refuses any history with an assistant turn."""
    if any(isinstance(m, dict) and m.get("role") == "assistant" for m in _messages(request)):
        error = {"error": {"message": "Conversation roles must alternate user/assistant",
                           "type": "invalid_request_error", "param": "messages", "code": None}}  # fmt: skip
        return 400, [("content-type", "application/json")], json.dumps(error).encode()
    return status, headers, body


def _stream_differs(datas: list[str]) -> list[str]:
    """The first content delta of every stream is replaced: streamed text != plain text."""
    out = list(datas)
    for pos, data in enumerate(out):
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            if delta.get("content"):
                delta["content"] = "different"
                out[pos] = json.dumps(chunk)
                return out
    return out


_draws = itertools.count()


def _seed_ignored(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Every request with a seed gets a different text (the seed is ignored)."""
    try:
        sent = json.loads(request.content)
    except ValueError:
        sent = {}
    if not isinstance(sent, dict) or "seed" not in sent or sent.get("temperature") == 0:
        return status, headers, body

    def vary(data: dict[str, Any]) -> None:
        for choice in data.get("choices", []):
            choice["message"]["content"] = f"draw {next(_draws)}"

    return rewrite_json(vary)(request, status, headers, body)


def _plain_completion(sent: dict[str, Any], content: str) -> dict[str, Any]:
    """A valid chat.completion with plain text content, for a request the backend refused."""
    return {
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000,
        "model": sent.get("model", "mock"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                             "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }  # fmt: skip


def _ignores(feature: str) -> Any:
    """Accept requests using ``feature`` and answer plain text without it (silently ignored),
    whether the backend itself supports the feature or refuses it."""

    def uses(sent: dict[str, Any]) -> bool:
        if feature == "response_format":
            return (sent.get("response_format") or {}).get("type") == "json_object"
        return bool(sent.get(feature))

    def rewrite(
        request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        sent = sent_body(request)
        if not uses(sent) or sent.get("stream"):
            return status, headers, body
        answer = _plain_completion(sent, "sunny words and no structure")
        return 200, [("content-type", "application/json")], json.dumps(answer).encode()

    return rewrite


MOCKS: dict[str, MockFault] = {
    fault.name: fault
    for fault in (
        MockFault("mock:multi_turn_refused", _OAI,
                  "a conversation with an assistant turn is refused with 400", _refuse_multi_turn),
        MockFault("mock:stream_text_differs", _OAI,
                  "the streamed text differs from the plain one at temperature 0",
                  rewrite_chunks(_stream_differs)),
        MockFault("mock:seed_ignored", _OAI, "the same seed gives different texts", _seed_ignored),
        MockFault("mock:logprobs_ignored", _OAI, "logprobs: true accepted, no logprobs returned",
                  _ignores("logprobs")),
        MockFault("mock:tools_ignored", _OAI, "a forced tool call answered in plain text",
                  _ignores("tools")),
        MockFault("mock:json_mode_ignored", _OAI, "JSON mode accepted, free text returned",
                  _ignores("response_format")),
    )
}  # fmt: skip

TRIPS: dict[str, list[str]] = {
    # --- errors (family e)
    "errors.invalid_refused": ["invalid_accepted"],
    "errors.no_server_error": ["invalid_500"],
    "errors.envelope": ["error_not_envelope"],
    "errors.stream_error_event": ["midstream_error_plain"],
    # --- auth (family f)
    "auth.missing_key_refused": ["missing_key_accepted"],
    "auth.wrong_key_refused": ["wrong_key_accepted"],
    "auth.error_envelope": ["error_not_envelope"],
    # --- parameter semantics (family d)
    "semantics.max_tokens": ["max_tokens_ignored"],
    "semantics.max_completion_tokens": ["max_tokens_ignored"],
    "semantics.length_finish_reason": ["length_reported_as_stop"],
    "semantics.n_choices": ["n_ignored", "choice_index_wrong"],
    "semantics.usage_consistent": ["usage_total_wrong"],
    "semantics.multi_turn": ["mock:multi_turn_refused"],
    "semantics.stream_matches_plain": ["mock:stream_text_differs"],
    "semantics.seed": ["mock:seed_ignored"],
    "semantics.logprobs": ["mock:logprobs_ignored"],
    "semantics.tools": ["mock:tools_ignored"],
    "semantics.json_mode": ["mock:json_mode_ignored"],
}
