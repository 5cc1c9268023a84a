"""Which faults trip the checks on behaviours of hosted and local OpenAI-compatible servers.

Each is a ``mock:*`` fault that rewrites the correct backend's answer the way a real
server broke:

- JSON mode accepted and ignored, with the free-text answer cut by the length cap (a
  cut answer used to be left unjudged; JSON mode would have started it with ``{``);
- a forced tool call whose stream ends with ``"stop"`` while the same request plain ends
  with ``"tool_calls"`` (Gemini's OpenAI endpoint);
- completions served as ``text/html`` (the official Node SDK returns them as a string)
  or preceded by a UTF-8 byte order mark (RFC 8259 forbids it; Go's decoder rejects it);
- content deltas sent as cumulative snapshots of the text so far (DashScope);
- chunks that carry ``"error": null`` (a serialized unset field): they are still chunks,
  judged like any other (role repeated in every delta), and a stream of them that stops
  early is still cut;
- reasoning tokens counted in ``total_tokens`` but outside ``completion_tokens`` (xAI);
- an invalid request that crashes the handler: the connection closes without an answer
  (mlx_lm.server under Python's http.server);
- an error envelope sent with status 200 instead of an answer, plain or as the only
  event of a stream (LM Studio at a path it does not serve; OpenRouter's errors after
  the status was sent), a refusal of an optional feature (n > 1) included.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from selftest import MockFault, rewrite_chunks, rewrite_json, sent_body

_OAI = "openai"


def _json_mode_ignored_cut(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """JSON mode accepted; the answer is free text cut by the length cap."""
    sent = sent_body(request)
    if (sent.get("response_format") or {}).get("type") != "json_object" or sent.get("stream"):
        return status, headers, body
    answer = {
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000,
        "model": sent.get("model", "mock"),
        "choices": [{"index": 0, "message": {"role": "assistant", "refusal": None,
                                             "content": "Sure! Here is a colour for you"},
                     "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13},
    }  # fmt: skip
    return 200, [("content-type", "application/json")], json.dumps(answer).encode()


def _tool_stream_ends_stop(datas: list[str]) -> list[str]:
    """Streamed, a tool call ends with finish_reason "stop" (plain: "tool_calls")."""
    out: list[str] = []
    for data in datas:
        if data != "[DONE]" and "tool_calls" in data:
            chunk = json.loads(data)
            for choice in chunk.get("choices") or []:
                if choice.get("finish_reason") == "tool_calls":
                    choice["finish_reason"] = "stop"
            data = json.dumps(chunk)
        out.append(data)
    return out


def _json_served_as_html(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Completions served as text/html (a web framework's default media type)."""
    if not 200 <= status < 300 or sent_body(request).get("stream"):
        return status, headers, body
    kept = [(k, v) for k, v in headers if k.lower() != "content-type"]
    return status, [*kept, ("content-type", "text/html; charset=utf-8")], body


def _json_bom(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Completions preceded by a UTF-8 byte order mark."""
    if not 200 <= status < 300 or sent_body(request).get("stream"):
        return status, headers, body
    return status, headers, b"\xef\xbb\xbf" + body


def _cumulative_deltas(datas: list[str]) -> list[str]:
    """Each content delta is the text so far (DashScope's cumulative snapshots)."""
    so_far: dict[int, str] = {}
    out: list[str] = []
    for data in datas:
        if data != "[DONE]":
            chunk = json.loads(data)
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    index = choice.get("index", 0)
                    so_far[index] = so_far.get(index, "") + delta["content"]
                    delta["content"] = so_far[index]
            data = json.dumps(chunk)
        out.append(data)
    return out


def _with_error_null(chunk: dict[str, Any]) -> dict[str, Any]:
    """The chunk as a server that serializes its unset error field writes it."""
    chunk["error"] = None
    return chunk


def _error_null_role_every_delta(datas: list[str]) -> list[str]:
    """Chunks carry ``"error": null`` and every delta repeats the role."""
    out: list[str] = []
    for data in datas:
        if data != "[DONE]":
            chunk = _with_error_null(json.loads(data))
            for choice in chunk.get("choices") or []:
                choice.setdefault("delta", {})["role"] = "assistant"
            data = json.dumps(chunk)
        out.append(data)
    return out


def _error_null_cut(datas: list[str]) -> list[str]:
    """Chunks carry ``"error": null`` and the stream stops after three of them."""
    return [json.dumps(_with_error_null(json.loads(d))) for d in datas[:3] if d != "[DONE]"]


def _reasoning_outside(data: dict[str, Any]) -> None:
    """usage counts 3 reasoning tokens outside completion_tokens but inside total_tokens."""
    usage = data.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        usage["total_tokens"] += 3
        usage["completion_tokens_details"] = {"reasoning_tokens": 3}


def _drop_on_refusal(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A request the backend refuses with 400 crashes the handler: no answer at all."""
    if status == 400:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    return status, headers, body


def _error_with_200(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Every plain answer is an error envelope sent with status 200."""
    if not 200 <= status < 300 or sent_body(request).get("stream"):
        return status, headers, body
    error = {"error": {"message": "Unexpected endpoint or method.", "type": "invalid_request",
                       "param": None, "code": None}}  # fmt: skip
    return 200, [("content-type", "application/json")], json.dumps(error).encode()


def _stream_only_error(datas: list[str]) -> list[str]:
    """Every stream is one event carrying an error envelope, then [DONE]."""
    error = {"error": {"message": "Unexpected endpoint or method.", "type": "invalid_request",
                       "param": None, "code": None}}  # fmt: skip
    return [json.dumps(error), "[DONE]"]


MOCKS: dict[str, MockFault] = {
    fault.name: fault
    for fault in (
        MockFault("mock:json_mode_ignored_cut", _OAI,
                  "JSON mode accepted, free text returned and cut by the length cap",
                  _json_mode_ignored_cut),
        MockFault("mock:tool_stream_finish_stop", _OAI,
                  'a streamed tool call ends with "stop", the same call plain with "tool_calls"',
                  rewrite_chunks(_tool_stream_ends_stop)),
        MockFault("mock:json_served_as_html", _OAI, "completions served as text/html",
                  _json_served_as_html),
        MockFault("mock:json_bom", _OAI, "completions preceded by a UTF-8 byte order mark",
                  _json_bom),
        MockFault("mock:cumulative_deltas", _OAI,
                  "each content delta is the whole text so far", rewrite_chunks(_cumulative_deltas)),
        MockFault("mock:error_null_role_every_delta", _OAI,
                  'chunks carry "error": null, and every delta repeats the role',
                  rewrite_chunks(_error_null_role_every_delta)),
        MockFault("mock:error_null_cut", _OAI,
                  'chunks carry "error": null, and the stream stops after three chunks',
                  rewrite_chunks(_error_null_cut)),
        MockFault("mock:usage_reasoning_outside", _OAI,
                  "reasoning tokens counted in total_tokens but not in completion_tokens",
                  rewrite_json(_reasoning_outside)),
        MockFault("mock:invalid_drops_connection", _OAI,
                  "an invalid request closes the connection without any answer",
                  _drop_on_refusal),
        MockFault("mock:error_with_200", _OAI, "plain answers are error envelopes with 200",
                  _error_with_200),
        MockFault("mock:stream_only_error", _OAI,
                  "every stream is a single error event (status 200)",
                  rewrite_chunks(_stream_only_error)),
    )
}  # fmt: skip

TRIPS: dict[str, list[str]] = {
    "robustness.valid_request_succeeds": ["mock:error_with_200", "mock:stream_only_error"],
    "semantics.n_choices": ["mock:error_with_200"],
    "errors.no_server_error": ["mock:invalid_drops_connection"],
    "schema.usage_total": ["mock:usage_reasoning_outside"],
    "stream.role_once": ["mock:error_null_role_every_delta"],
    "robustness.complete_body": ["mock:error_null_cut"],
    "stream.deltas_incremental": ["mock:cumulative_deltas"],
    "schema.completion_json": ["mock:json_served_as_html", "mock:json_bom"],
    "semantics.json_mode": ["mock:json_mode_ignored_cut"],
    "semantics.tool_call_stream": ["mock:tool_stream_finish_stop"],
}
