"""Shared helpers for the reference backend's tests (no tests of its own).

``parse_sse`` follows the WHATWG event-stream rules (LF, CRLF and CR line ends, an
optional single space after the colon, comment lines, a blank line ends an event) but
keeps events without data (as ``None``) so tests can see them. ``assert_valid_stream``
states everything a correct Chat Completions stream must satisfy.
"""

from __future__ import annotations

import json
import re
from typing import Any

FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
_LINES = re.compile(r"\r\n|\r|\n")


def parse_sse(raw: bytes) -> list[str | None]:
    """The data of every dispatched event (None for an event that had fields but no data)."""
    text = raw.decode("utf-8")
    events: list[str | None] = []
    data: list[str] = []
    fields = False
    for line in _LINES.split(text):
        if line == "":
            if data:
                events.append("\n".join(data))
            elif fields:
                events.append(None)
            data, fields = [], False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        fields = True
        if name == "data":
            data.append(value)
    if data:
        events.append("\n".join(data))
    return events


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of a stream (everything but [DONE]); raises if one is not JSON."""
    return [json.loads(e) for e in parse_sse(raw) if e is not None and e != "[DONE]"]


def streamed_text(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        c["delta"].get("content") or ""
        for chunk in chunks
        for c in chunk["choices"]
        if c["index"] == index
    )


def assert_valid_completion(body: dict[str, Any], n: int = 1) -> None:
    """Everything a non-streamed chat.completion must satisfy."""
    assert isinstance(body["id"], str) and body["id"]
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and not isinstance(body["created"], bool)
    assert isinstance(body["model"], str)
    assert [c["index"] for c in body["choices"]] == list(range(n))
    for choice in body["choices"]:
        assert choice["message"]["role"] == "assistant"
        content = choice["message"]["content"]
        assert isinstance(content, str) or (content is None and choice["message"]["tool_calls"])
        assert choice["message"]["refusal"] is None
        logprobs = choice["logprobs"]
        assert logprobs is None or isinstance(logprobs["content"], list)
        assert choice["finish_reason"] in FINISH_REASONS
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert "system_fingerprint" in body


def assert_valid_stream(
    raw: bytes, content_type: str, *, n: int = 1, include_usage: bool = False
) -> list[dict[str, Any]]:
    """Everything a correct Chat Completions stream must satisfy; returns its chunks."""
    assert content_type.split(";")[0].strip() == "text/event-stream"
    assert not raw.startswith(b"\xef\xbb\xbf")
    events = parse_sse(raw)
    assert None not in events, "an event without data"
    assert events and events[-1] == "[DONE]"
    assert events.count("[DONE]") == 1
    chunks = [json.loads(e) for e in events[:-1] if e is not None]
    ids = {c.get("id") for c in chunks}
    assert len(ids) == 1 and None not in ids
    created = {c.get("created") for c in chunks}
    assert len(created) == 1 and all(isinstance(x, int) for x in created)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    roles: dict[int, int] = {}
    finishes: dict[int, int] = {}
    seen_content: set[int] = set()
    for chunk in chunks[:-1] if include_usage else chunks:
        assert chunk["choices"], "a chunk without choices before the usage chunk"
        assert chunk.get("usage") is None
        for choice in chunk["choices"]:
            index = choice["index"]
            delta = choice["delta"]
            if "role" in delta:
                assert index not in seen_content, "role after content"
                roles[index] = roles.get(index, 0) + 1
                assert delta["role"] == "assistant"
            if delta.get("content"):
                seen_content.add(index)
            if choice["finish_reason"] is not None:
                assert choice["finish_reason"] in FINISH_REASONS
                finishes[index] = finishes.get(index, 0) + 1
    assert sorted(roles) == list(range(n)) and set(roles.values()) == {1}
    assert sorted(finishes) == list(range(n)) and set(finishes.values()) == {1}
    if include_usage:
        last = chunks[-1]
        assert last["choices"] == []
        usage = last["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    return chunks


def chat_body(**params: Any) -> dict[str, Any]:
    """A small valid request body with ``params`` added."""
    body: dict[str, Any] = {
        "model": "reference-small",
        "messages": [{"role": "user", "content": "Tell me about rivers and mountains."}],
    }
    body.update(params)
    return body
