"""Which faults trip the core families: schema, sse, stream, robustness, sdk, wetrocloud.

Backend faults are named as in :data:`conformance.backend.FAULTS`; ``mock:*`` faults
rewrite the correct backend's answer into bytes the specification forbids.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from selftest import MockFault, rewrite_chunks, rewrite_json


def _completion(fn: Any) -> Any:
    return rewrite_json(fn)


def _drop_model(body: dict[str, Any]) -> None:
    body.pop("model", None)


def _role_model(body: dict[str, Any]) -> None:
    for choice in body.get("choices", []):
        choice["message"]["role"] = "model"


def _drop_usage(body: dict[str, Any]) -> None:
    body.pop("usage", None)


def _usage_strings(body: dict[str, Any]) -> None:
    usage = body.get("usage") or {}
    usage["prompt_tokens"] = str(usage.get("prompt_tokens"))


def _drop_spec_only(body: dict[str, Any]) -> None:
    for choice in body.get("choices", []):
        choice["message"].pop("refusal", None)
        choice.pop("logprobs", None)


def _html(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A proxy's HTML page with status 200 instead of the JSON answer (non-streamed)."""
    if b'"stream":true' in request.content.replace(b" ", b""):
        return status, headers, body
    return 200, [("content-type", "text/html")], b"<html><body>502 Bad Gateway</body></html>"


def _server_error(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    error = {
        "error": {"message": "internal error", "type": "server_error", "param": None, "code": None}
    }
    return 500, [("content-type", "application/json")], json.dumps(error).encode()


def _each_chunk(fn: Any) -> Any:
    """Apply ``fn(chunk, position)`` to every JSON chunk of a stream."""

    def events(datas: list[str]) -> list[str]:
        out = []
        for pos, data in enumerate(datas):
            if data == "[DONE]":
                out.append(data)
                continue
            chunk = json.loads(data)
            fn(chunk, pos)
            out.append(json.dumps(chunk))
        return out

    return rewrite_chunks(events)


def _created_changes(chunk: dict[str, Any], pos: int) -> None:
    chunk["created"] = int(chunk["created"]) + pos


def _drop_delta(chunk: dict[str, Any], pos: int) -> None:
    for choice in chunk.get("choices", []):
        choice.pop("delta", None)


def _done_twice(datas: list[str]) -> list[str]:
    return [*datas, "[DONE]"]


def _after_done(datas: list[str]) -> list[str]:
    return [*datas, datas[0]]


def _content_after_finish(datas: list[str]) -> list[str]:
    """A chunk with more content right after the first finish_reason chunk."""
    out = list(datas)
    for pos, data in enumerate(out):
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        if any(c.get("finish_reason") for c in chunk.get("choices", [])):
            extra = dict(chunk)
            extra["choices"] = [
                {"index": c.get("index", 0), "delta": {"content": " more"}, "finish_reason": None}
                for c in chunk["choices"]
            ]
            out.insert(pos + 1, json.dumps(extra))
            break
    return out


def _unterminated_last(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The stream stops inside its last chunk event: no blank line after it, no [DONE]."""
    done = b"data: [DONE]\n\n"
    if body.endswith(done) and "event-stream" in dict(headers).get("content-type", ""):
        return status, headers, body[: -len(done) - 1]
    return status, headers, body


def _refuse_streams(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The server is gone for streamed requests (as after a crash): connection refused."""
    if b'"stream":true' in request.content.replace(b" ", b""):
        raise httpx.ConnectError("connection refused", request=request)
    return status, headers, body


def _wc(fn: Any) -> Any:
    return rewrite_json(fn)


def _wc_html(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    return 200, [("content-type", "text/html")], b"<html>ok</html>"


def _set(key: str, value: Any) -> Any:
    def fn(body: dict[str, Any]) -> None:
        body[key] = value

    return fn


_OAI = "openai"
_WC = "wetrocloud"
MOCKS: dict[str, MockFault] = {
    m.name: m
    for m in (
        MockFault("mock:completion_model_missing", _OAI, "completion without `model`", _completion(_drop_model)),
        MockFault("mock:message_role_wrong", _OAI, 'message.role "model"', _completion(_role_model)),
        MockFault("mock:usage_missing", _OAI, "completion without usage", _completion(_drop_usage)),
        MockFault("mock:usage_string", _OAI, "usage.prompt_tokens a string", _completion(_usage_strings)),
        MockFault("mock:spec_only_missing", _OAI, "no message.refusal, no choices[].logprobs", _completion(_drop_spec_only)),
        MockFault("mock:html_body", _OAI, "an HTML page with 200 instead of JSON", _html),
        MockFault("mock:server_error", _OAI, "every request answered 500", _server_error),
        MockFault("mock:created_changes", _OAI, "chunk `created` changes", _each_chunk(_created_changes)),
        MockFault("mock:chunk_delta_missing", _OAI, "chunk choices without `delta`", _each_chunk(_drop_delta)),
        MockFault("mock:done_twice", _OAI, "[DONE] sent twice", rewrite_chunks(_done_twice)),
        MockFault("mock:event_after_done", _OAI, "a chunk after [DONE]", rewrite_chunks(_after_done)),
        MockFault("mock:content_after_finish", _OAI, "content after finish_reason", rewrite_chunks(_content_after_finish)),
        MockFault("mock:unterminated_last", _OAI, "last event not closed by a blank line", _unterminated_last),
        MockFault("mock:streams_refused", _OAI, "connections refused for streams", _refuse_streams),
        MockFault("mock:wc_html", _WC, "an HTML page with 200", _wc_html),
        MockFault("mock:wc_response_null", _WC, "`response` null", _wc(_set("response", None))),
        MockFault("mock:wc_tokens_zero", _WC, "`tokens` 0", _wc(_set("tokens", 0))),
        MockFault("mock:wc_success_false", _WC, "`success` false with 200", _wc(_set("success", False))),
    )
}  # fmt: skip

TRIPS: dict[str, list[str]] = {
    # --- SSE framing
    "sse.stream_when_asked": ["json_instead_of_stream"],
    "sse.content_type": ["wrong_content_type", "json_instead_of_stream"],
    "sse.no_bom": ["bom"],
    "sse.events_have_data": ["event_without_data"],
    "sse.events_separated": ["no_blank_line", "mock:unterminated_last"],
    "sse.data_is_json": ["unparseable_event"],
    # --- stream semantics
    "stream.done_sentinel": [
        "no_done",
        "truncated_stream",
        "mock:done_twice",
        "mock:event_after_done",
    ],
    "stream.role_first": ["no_role"],
    "stream.role_once": ["role_every_delta"],
    "stream.finish_reason_once": ["finish_never", "finish_twice", "mock:content_after_finish"],
    "stream.usage_chunk": ["usage_ignored", "usage_every_chunk", "usage_chunk_with_choices"],
    "stream.usage_only_on_usage_chunk": [
        "usage_every_chunk",
        "usage_chunk_with_choices",
        "usage_unrequested",
    ],
    # --- schemas
    "schema.completion_json": ["truncated_stream", "mock:html_body"],
    "schema.completion": ["mock:completion_model_missing"],
    "schema.chunk": ["mock:chunk_delta_missing"],
    "schema.object_values": ["chunk_object_wrong"],
    "schema.created_integer": ["created_string"],
    "schema.chunk_id_stable": ["id_changes", "id_missing"],
    "schema.chunk_created_stable": ["mock:created_changes"],
    "schema.choice_index": ["choice_index_wrong"],
    "schema.message_role": ["mock:message_role_wrong"],
    "schema.finish_reason_enum": ["finish_bad_value", "finish_never"],
    "schema.usage": ["mock:usage_string"],
    "schema.usage_total": ["usage_total_wrong"],
    "schema.spec_only_fields": ["mock:spec_only_missing"],
    # --- robustness
    "robustness.no_hang": ["hang_before_headers", "hang_mid_stream"],
    "robustness.stays_up": ["mock:streams_refused"],
    "robustness.complete_body": ["truncated_stream", "midstream_error_plain"],
    "robustness.body_size": ["huge_body"],
    "robustness.valid_request_succeeds": ["mock:server_error", "wc_multipart_rejected"],
    # --- the official SDK
    "sdk.completion": ["finish_bad_value", "truncated_stream", "mock:message_role_wrong"],
    "sdk.stream_chunks": ["bom", "event_without_data", "unparseable_event", "chunk_object_wrong"],
    "sdk.stream_accumulate": ["role_every_delta", "no_role", "choice_index_wrong"],
    # --- Wetrocloud
    "wetrocloud.multipart_accepted": ["wc_multipart_rejected"],
    "wetrocloud.token_scheme": ["wc_token_scheme_rejected"],
    "wetrocloud.json_object": ["mock:wc_html"],
    "wetrocloud.response_string": ["mock:wc_response_null"],
    "wetrocloud.tokens_integer": ["wc_tokens_string", "mock:wc_tokens_zero"],
    "wetrocloud.success_boolean": ["wc_success_string", "mock:wc_success_false"],
}
