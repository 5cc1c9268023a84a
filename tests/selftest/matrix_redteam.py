"""Which faults trip the conversation checks added by the second red team.

The reference backend has no fault for these properties, so each is a ``mock:*`` fault
that rewrites the correct backend's answer the way real servers broke:

- content given as an array of text parts refused with a 400 (TGI, older llama.cpp);
- the turn that carries a tool's result crashing the server although tools are accepted
  (a clean 4xx there is only a warning);
- one canned text whatever the conversation (warn-only check: it must warn);
- streamed tool-call deltas without their ``index``, two calls at one index, or every
  delta repeating the call's id and name (the SDK's helper joins them);
- Wetrocloud ``tokens`` of 1 for a whole answer (warn-only check: it must warn).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from selftest import MockFault, rewrite_chunks, rewrite_json, sent_body

_OAI = "openai"
_WC = "wetrocloud"


def _messages(request: httpx.Request) -> list[dict[str, Any]]:
    messages = sent_body(request).get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def _bad_request(message: str, param: str) -> tuple[int, list[tuple[str, str]], bytes]:
    error = {"error": {"message": message, "type": "invalid_request_error", "param": param,
                       "code": None}}  # fmt: skip
    return 400, [("content-type", "application/json")], json.dumps(error).encode()


def _refuse_content_parts(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Only string content is accepted (an array of text parts is a 400)."""
    if any(isinstance(m.get("content"), list) for m in _messages(request)):
        return _bad_request("messages[0].content: Input should be a valid string", "messages")
    return status, headers, body


def _crash_on_tool_role(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Tools are accepted, but a conversation with a ``tool`` message crashes (500)."""
    if any(m.get("role") == "tool" for m in _messages(request)):
        error = {"error": {"message": "KeyError: 'tool'", "type": "server_error",
                           "param": None, "code": None}}  # fmt: skip
        return 500, [("content-type", "application/json")], json.dumps(error).encode()
    return status, headers, body


def _canned(data: dict[str, Any]) -> None:
    for choice in data.get("choices", []):
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["content"] = "Hello! How can I help you today?"


def _drop_tool_index(datas: list[str]) -> list[str]:
    out: list[str] = []
    for data in datas:
        if data != "[DONE]" and '"tool_calls"' in data:
            chunk = json.loads(data)
            for choice in chunk.get("choices", []):
                for call in (choice.get("delta") or {}).get("tool_calls") or []:
                    call.pop("index", None)
            data = json.dumps(chunk)
        out.append(data)
    return out


def _second_call_same_index(datas: list[str]) -> list[str]:
    """After the streamed call, a second call (another id) at the same index 0."""
    last = max((i for i, d in enumerate(datas) if '"tool_calls"' in d), default=None)
    if last is None:
        return datas
    chunk = json.loads(datas[last])
    choice = chunk["choices"][0]
    choice["delta"] = {"tool_calls": [{
        "index": 0, "id": "call_second", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
    }]}  # fmt: skip
    choice["finish_reason"] = None
    return [*datas[: last + 1], json.dumps(chunk), *datas[last + 1 :]]


def _repeat_call_head(datas: list[str]) -> list[str]:
    """Every delta of the streamed call repeats its id and name (the SDK joins them)."""
    head: dict[str, Any] = {}
    out: list[str] = []
    for data in datas:
        if data != "[DONE]" and '"tool_calls"' in data:
            chunk = json.loads(data)
            for call in chunk["choices"][0]["delta"].get("tool_calls") or []:
                if call.get("id"):
                    head = {"id": call["id"], "name": call["function"]["name"]}
                elif head:
                    call["id"] = head["id"]
                    call["function"]["name"] = head["name"]
            data = json.dumps(chunk)
        out.append(data)
    return out


def _tokens_one(data: dict[str, Any]) -> None:
    if "tokens" in data:
        data["tokens"] = 1


MOCKS: dict[str, MockFault] = {
    fault.name: fault
    for fault in (
        MockFault("mock:content_parts_refused", _OAI,
                  "content as an array of text parts refused with 400", _refuse_content_parts),
        MockFault("mock:tool_role_crashes", _OAI,
                  "the tool-result turn answered 500 while tools are accepted",
                  _crash_on_tool_role),
        MockFault("mock:canned_text", _OAI, "the same text whatever the conversation",
                  rewrite_json(_canned)),
        MockFault("mock:tool_stream_no_index", _OAI, "streamed tool_calls deltas lack `index`",
                  rewrite_chunks(_drop_tool_index)),
        MockFault("mock:tool_stream_shared_index", _OAI,
                  "a second streamed tool call reuses index 0",
                  rewrite_chunks(_second_call_same_index)),
        MockFault("mock:tool_stream_head_repeated", _OAI,
                  "every streamed tool-call delta repeats the call's id and name",
                  rewrite_chunks(_repeat_call_head)),
        MockFault("mock:wc_tokens_one", _WC, "`tokens` is 1 whatever the answer",
                  rewrite_json(_tokens_one)),
    )
}  # fmt: skip

TRIPS: dict[str, list[str]] = {
    "semantics.content_parts": ["mock:content_parts_refused"],
    "semantics.tool_result_turn": ["mock:tool_role_crashes"],
    "semantics.answers_the_prompt": ["mock:canned_text"],
    "semantics.tool_call_stream": [
        "mock:tool_stream_no_index",
        "mock:tool_stream_shared_index",
        "mock:tool_stream_head_repeated",
    ],
    "wetrocloud.tokens_plausible": ["mock:wc_tokens_one"],
    # the SDK's stream helper joins the repeated id and name: "call_1call_1"
    "sdk.stream_accumulate": ["mock:tool_stream_head_repeated"],
}
