"""A server that implements one provider's document and nothing more.

``conformance serve --only-document nebulablock`` (or ``weai``) answers
``POST /v1/chat/completions`` the way a server written from that provider's document
alone would, as a FastAPI application with a pydantic request model does: the documented
fields are read and type-checked, every other field is ignored, and a request that breaks
the documented types is refused with FastAPI's 422 ``{"detail": [...]}``, not OpenAI's
error envelope. Nothing the document does not state is there: no ``n``, ``stop``,
``tools``, JSON mode, ``logprobs``, ``stream_options`` or model list, and no
``data: [DONE]`` at the end of a stream.

- **nebulablock** (Generate Text): ``messages`` (role and content strings), ``model``,
  ``max_tokens`` (integer or null), ``temperature``, ``top_p``, ``stream``; the answer has
  the documented attributes (``system_fingerprint``, ``usage`` with null
  ``*_tokens_details``, ``service_tier``, ``prompt_logprobs``, ``message.function_calls``).
  The page says nothing of authentication, so any key (and none) is accepted.
- **weai** (Text generation models guide): ``Authorization: Bearer <key>`` (a configured
  key, or any key when none is configured), a JSON body of ``model`` and ``messages``,
  and ``temperature`` from 0 to 2 (its FAQ); ``max_tokens`` is not in the guide and is
  ignored. The guide names no ``usage`` either, so none is sent. Streaming, which the
  WeAI profile keeps because the guide sends its readers to "the Chat Completions API",
  is served as chunks in server-sent events.

It is the proof that a server following its provider's document is judged by that
document: ``conformance check --provider nebulablock`` passes it (with OpenAI-compatibility
findings), ``--provider openai`` fails it. Like the rest of the backend it shares no code
with the harness.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.types import Receive, Scope, Send

from conformance.backend.asgi import ClientGone, read_body, send_body
from conformance.backend.config import ONLY_DOCUMENTS, BackendConfig
from conformance.backend.errors import RequestError
from conformance.backend.generation import (
    Completion,
    Sampling,
    complete,
    count_prompt_tokens,
    prompt_key,
)

__all__ = ["DOCUMENTS", "DocumentOnlyApp"]

#: the providers whose document this server can implement alone
DOCUMENTS: Final[tuple[str, ...]] = ONLY_DOCUMENTS
CHAT_PATH: Final = "/v1/chat/completions"
_EVENT_STREAM: Final = b"text/event-stream"


class _Invalid(Exception):
    """A request the documented model does not accept: FastAPI's 422 detail list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


def _error(kind: str, loc: tuple[str | int, ...], msg: str, value: Any) -> dict[str, Any]:
    """One pydantic-style validation error as FastAPI reports it."""
    return {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Request:
    """The documented fields of one request, validated."""

    def __init__(self, document: str, body: Any) -> None:
        errors: list[dict[str, Any]] = []
        if not isinstance(body, dict):
            raise _Invalid(
                [
                    _error(
                        "model_attributes_type",
                        (),
                        "Input should be a valid dictionary or object to extract fields from",
                        body,
                    )
                ]
            )
        self.turns: list[tuple[str, str]] = []
        messages = body.get("messages")
        if "messages" not in body:
            errors.append(_error("missing", ("messages",), "Field required", None))
        elif not isinstance(messages, list):
            errors.append(
                _error("list_type", ("messages",), "Input should be a valid list", messages)
            )
        else:
            for i, message in enumerate(messages):
                if not isinstance(message, dict):
                    errors.append(
                        _error("model_type", ("messages", i), "Input should be an object", message)
                    )
                    continue
                role, content = message.get("role"), message.get("content")
                for name, value in (("role", role), ("content", content)):
                    if not isinstance(value, str):
                        kind = "missing" if name not in message else "string_type"
                        msg = (
                            "Field required"
                            if kind == "missing"
                            else "Input should be a valid string"
                        )
                        errors.append(_error(kind, ("messages", i, name), msg, value))
                if isinstance(role, str) and isinstance(content, str):
                    self.turns.append((role, content))
        model = body.get("model")
        if not isinstance(model, str):
            kind = "missing" if "model" not in body else "string_type"
            msg = "Field required" if kind == "missing" else "Input should be a valid string"
            errors.append(_error(kind, ("model",), msg, model))
        self.model = model if isinstance(model, str) else ""
        self.temperature = self._number(body, "temperature", 1.0, errors)
        if document == "weai" and not 0.0 <= self.temperature <= 2.0:
            errors.append(
                _error(
                    "less_than_equal" if self.temperature > 2 else "greater_than_equal",
                    ("temperature",),
                    "Input should be between 0 and 2 (the documented range)",
                    body.get("temperature"),
                )
            )
        self.top_p = 1.0
        self.max_tokens: int | None = None
        if document == "nebulablock":
            self.top_p = self._number(body, "top_p", 1.0, errors)
            value = body.get("max_tokens")
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                errors.append(
                    _error("int_type", ("max_tokens",), "Input should be a valid integer", value)
                )
            elif value is not None:
                self.max_tokens = max(0, value)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            errors.append(
                _error("bool_type", ("stream",), "Input should be a valid boolean", stream)
            )
        self.stream = stream is True
        if errors:
            raise _Invalid(errors)

    @staticmethod
    def _number(body: Mapping[str, Any], name: str, default: float, errors: list[Any]) -> float:
        value = body.get(name)
        if value is None:
            return default
        if not _is_number(value):
            errors.append(_error("float_type", (name,), "Input should be a valid number", value))
            return default
        return float(value)


class DocumentOnlyApp:
    """The ASGI application of ``--only-document`` (see the module docstring)."""

    def __init__(self, config: BackendConfig) -> None:
        if config.only_document is None or config.only_document not in DOCUMENTS:
            raise ValueError(f"no document-only server for {config.only_document!r}")
        self.config = config
        self.document: str = config.only_document
        self._keys = frozenset(config.api_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != CHAT_PATH:
            await _detail(send, 404, "Not Found")
            return
        if scope["method"] != "POST":
            await _detail(send, 405, "Method Not Allowed")
            return
        if self.document == "weai" and not self._authorized(scope):
            await _detail(send, 401, "Not authenticated", [(b"www-authenticate", b"Bearer")])
            return
        try:
            raw = await read_body(receive, self.config.max_body_bytes)
        except ClientGone:
            return
        except RequestError as error:
            await _detail(send, error.status, error.message)
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await _validation(send, [_error("json_invalid", (0,), "JSON decode error", str(exc))])
            return
        try:
            request = _Request(self.document, body)
        except _Invalid as invalid:
            await _validation(send, invalid.errors)
            return
        completion = complete(
            prompt_key(request.turns),
            Sampling(temperature=request.temperature, top_p=request.top_p),
            0,
            max_tokens=request.max_tokens,
            length_bounds=(self.config.min_natural_tokens, self.config.max_natural_tokens),
        )
        if request.stream:
            await self._stream(send, request, completion)
        else:
            answer = orjson.dumps(self._completion(request, completion))
            await send_body(send, 200, answer)

    def _authorized(self, scope: Scope) -> bool:
        """A ``Bearer`` key, one of the configured keys when there are any."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, key = value.decode("latin-1").strip().partition(" ")
                key = key.strip()
                return (
                    scheme.lower() == "bearer"
                    and bool(key)
                    and (not self._keys or key in self._keys)
                )
        return False

    def _completion(self, request: _Request, completion: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": completion.text}
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": completion.finish_reason,
        }
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [choice],
        }
        if self.document == "nebulablock":
            message["tool_calls"] = None
            message["function_calls"] = None
            answer["system_fingerprint"] = None
            prompt = count_prompt_tokens(text for _, text in request.turns)
            answer["usage"] = {
                "completion_tokens": completion.tokens,
                "prompt_tokens": prompt,
                "total_tokens": prompt + completion.tokens,
                "completion_tokens_details": None,
                "prompt_tokens_details": None,
            }
            answer["service_tier"] = "default"
            answer["prompt_logprobs"] = None
        return answer

    async def _stream(self, send: Send, request: _Request, completion: Completion) -> None:
        """``chat.completion.chunk`` objects as server-sent events, and nothing after them."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", _EVENT_STREAM), (b"cache-control", b"no-cache")],
            }
        )
        head = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.model,
        }
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": ""}, None)
        ]
        deltas += [({"content": piece}, None) for piece in completion.pieces]
        deltas.append(({}, completion.finish_reason))
        for delta, finish in deltas:
            chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            event = b"data: " + orjson.dumps(chunk) + b"\n\n"
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _detail(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """FastAPI's error body: ``{"detail": "..."}``."""
    await send_body(send, status, orjson.dumps({"detail": detail}), headers=headers or ())


async def _validation(send: Send, errors: list[dict[str, Any]]) -> None:
    """FastAPI's answer to a request its model refuses: 422 ``{"detail": [...]}``."""
    await send_body(send, 422, orjson.dumps({"detail": errors}, default=str))
