"""The OpenAI Chat Completions dialect, for any OpenAI-compatible base URL.

Requests are JSON bodies with the parameters that are set (``null`` only for a parameter
given as :data:`~conformance.providers.base.NULL`); streamed
responses are ``chat.completion.chunk`` objects in server-sent events ending with
``data: [DONE]``. The NebulaBlock and WeAI profiles are this dialect with other
defaults and capabilities.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from conformance.providers._common import USER_AGENT, decode_error_body, drop_unset, dumps
from conformance.providers.base import (
    NULL,
    Adaptation,
    APIError,
    Capabilities,
    Choice,
    DecodeError,
    Dialect,
    Generation,
    Message,
    Params,
    Provider,
    Usage,
)
from conformance.wire.exchange import SSEEvent
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["OpenAIProvider"]

#: top-level keys of chat.completion / chat.completion.chunk that Generation models itself
_KNOWN_TOP = frozenset({"id", "object", "created", "model", "choices", "usage"})
#: message / delta keys that Choice models itself
_KNOWN_MESSAGE = frozenset({"role", "content", "tool_calls"})


def _excerpt(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    return Usage(
        prompt_tokens=_int_or_none(value.get("prompt_tokens")),
        completion_tokens=_int_or_none(value.get("completion_tokens")),
        total_tokens=_int_or_none(value.get("total_tokens")),
    )


def _content_text(content: Any) -> str:
    """Message content as text: a string, ``None`` or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    raise DecodeError(f"message content is neither a string nor null: {content!r:.100}")


def _choice_index(choice: Mapping[str, Any], fallback: int) -> int:
    index = choice.get("index", fallback)
    if not isinstance(index, int) or isinstance(index, bool):
        raise DecodeError(f"choice index is not an integer: {index!r:.50}")
    return index


@dataclass
class _StreamChoice:
    """What one choice index accumulated over a stream."""

    role: str | None = None
    parts: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def add_tool_call_deltas(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            raise DecodeError(f"delta.tool_calls is not a list: {deltas!r:.100}")
        for pos, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                raise DecodeError(f"a tool call delta is not an object: {delta!r:.100}")
            idx = delta.get("index", pos)
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise DecodeError(f"tool call index is not an integer: {idx!r:.50}")
            call = self.tool_calls.setdefault(
                idx, {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
            )
            if delta.get("id"):
                call["id"] = delta["id"]
            if delta.get("type"):
                call["type"] = delta["type"]
            fn = delta.get("function")
            if isinstance(fn, Mapping):
                if fn.get("name"):
                    call["function"]["name"] = fn["name"]
                if isinstance(fn.get("arguments"), str):
                    call["function"]["arguments"] += fn["arguments"]


class OpenAIProvider(Provider):
    """Any server that speaks the OpenAI Chat Completions API."""

    name = "openai"
    title = "OpenAI Chat Completions (any OpenAI-compatible base URL)"
    dialect = Dialect.OPENAI
    default_base_url = "https://api.openai.com/v1"
    endpoint = "/chat/completions"
    auth_header = "Authorization"
    auth_scheme = "Bearer"
    api_key_env = "OPENAI_API_KEY"
    models: ClassVar[tuple[str, ...]] = ("gpt-4o-mini",)
    capabilities = Capabilities()
    docs = "https://platform.openai.com/docs/api-reference/chat"
    embedded_prefix = "/v1"
    #: its document is the OpenAI API reference: every fact is documented
    document_is_openai_spec = True

    # -- requests --------------------------------------------------------------------

    def encode(
        self,
        messages: Sequence[Message],
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
    ) -> httpx.Request:
        """A JSON POST to the endpoint.

        ``params`` use the Chat Completions names and go into the body as given, except
        that ``None`` values are left out. ``params["model"]`` overrides the profile's
        model. Streaming requests (``stream: true``) ask for ``text/event-stream``.
        ``max_tokens`` is sent as :attr:`length_param` (``max_completion_tokens`` for a
        target that refuses the older name).
        """
        sent = drop_unset(params)
        if self.length_param != "max_tokens" and "max_tokens" in sent:
            sent.setdefault(self.length_param, sent.pop("max_tokens"))
        model = sent.pop("model", self.model)
        body: dict[str, Any] = {"model": model, "messages": list(messages), **sent}
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if sent.get("stream") is True else "application/json",
            "User-Agent": USER_AGENT,
            **self.auth_headers(api_key),
        }
        return httpx.Request("POST", self.url, headers=headers, content=dumps(body))

    def adapt_to_refusal(self, status: int, body: bytes) -> Adaptation | None:
        """A target that refuses ``max_tokens`` and names ``max_completion_tokens`` instead
        (OpenAI's reasoning models: 400 ``unsupported_parameter``) gets the cap under the
        newer name from then on."""
        if status != 400 or self.length_param != "max_tokens":
            return None
        if not self.capabilities.max_completion_tokens:
            return None
        err = self.decode_error(status, body)
        said = " ".join(str(x) for x in (err.message, err.param, err.code) if x is not None)
        if "max_completion_tokens" not in said:
            return None
        if err.param != "max_tokens" and "max_tokens" not in said.replace(
            "max_completion_tokens", ""
        ):
            return None
        self.length_param = "max_completion_tokens"
        return Adaptation(
            capability="max_tokens",
            reason=(
                f"the target refuses max_tokens (HTTP 400: {_excerpt(err.message or '', 160)}); "
                "every request sent the length cap as max_completion_tokens instead"
            ),
        )

    def decode_request(self, request: httpx.Request) -> tuple[list[Message], Params]:
        """Recover (messages, params) from a request made by :meth:`encode`.

        ``model`` appears in params only when it differs from the profile's model; a
        parameter sent as ``null`` comes back as :data:`~conformance.providers.base.NULL`.
        """
        try:
            body = json.loads(request.content)
        except (ValueError, UnicodeDecodeError, httpx.RequestNotRead) as exc:
            raise DecodeError(f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise DecodeError("request body is not an object with a messages array")
        messages = body.pop("messages")
        model = body.pop("model", None)
        if model != self.model:
            body["model"] = model
        return messages, {k: (NULL if v is None else v) for k, v in body.items()}

    # -- responses -------------------------------------------------------------------

    def decode(self, body: bytes) -> Generation:
        """Decode a ``chat.completion`` body into a :class:`Generation`."""
        try:
            data = parse_json_bounded(body)
        except ValueError as exc:
            raise DecodeError(f"response body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DecodeError(f"response body is not a JSON object: {type(data).__name__}")
        if data.get("error") and "choices" not in data:
            err = decode_error_body(200, body)
            raise DecodeError(f"response carries an error envelope: {err.message}")
        raw_choices = data.get("choices")
        if not isinstance(raw_choices, list):
            raise DecodeError("response has no choices array")
        choices: list[Choice] = []
        message_extras: dict[int, dict[str, Any]] = {}
        for pos, raw in enumerate(raw_choices):
            if not isinstance(raw, Mapping):
                raise DecodeError(f"choice {pos} is not an object")
            index = _choice_index(raw, pos)
            message = raw.get("message")
            if not isinstance(message, Mapping):
                raise DecodeError(f"choice {index} has no message object")
            tool_calls = message.get("tool_calls")
            choices.append(
                Choice(
                    index=index,
                    text=_content_text(message.get("content")),
                    finish_reason=raw.get("finish_reason"),
                    role=message.get("role"),
                    tool_calls=list(tool_calls) if isinstance(tool_calls, list) else None,
                )
            )
            extra = {k: v for k, v in message.items() if k not in _KNOWN_MESSAGE}
            if extra:
                message_extras[index] = extra
        choices.sort(key=lambda c: c.index)
        extras = {k: v for k, v in data.items() if k not in _KNOWN_TOP}
        if message_extras:
            extras["message_extras"] = message_extras
        return Generation(
            choices=choices,
            usage=_usage(data.get("usage")),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            id=data.get("id") if isinstance(data.get("id"), str) else None,
            raw=data,
            extras=extras,
        )

    def decode_stream(self, events: Iterable[SSEEvent]) -> Generation:
        """Accumulate ``chat.completion.chunk`` events into a :class:`Generation`.

        Per choice index: the first role, the concatenated content, the last non-null
        finish_reason and merged tool-call deltas. Usage comes from the last chunk that
        carries one (the ``include_usage`` chunk). Events without data are skipped
        (checks judge those); ``[DONE]`` ends the stream and later events are ignored.
        Raises :class:`DecodeError` for data that is not a JSON object and for an error
        sent inside the stream.
        """
        acc: dict[int, _StreamChoice] = {}
        usage: Usage | None = None
        gen_id: str | None = None
        model: str | None = None
        extras: dict[str, Any] = {}
        chunks: list[Any] = []
        for ev in events:
            if ev.data is None:
                continue
            if ev.data.strip() == "[DONE]":
                break
            if ev.event == "error":
                err = decode_error_body(200, ev.data.encode("utf-8"))
                raise DecodeError(f"the stream carried an error event: {err.message}")
            try:
                chunk = parse_json_bounded(ev.data)
            except ValueError as exc:
                raise DecodeError(f"event data is not JSON: {_excerpt(ev.data)!r}") from exc
            if not isinstance(chunk, dict):
                raise DecodeError(f"event data is not a JSON object: {_excerpt(ev.data)!r}")
            if chunk.get("error") and "choices" not in chunk:
                err = decode_error_body(200, ev.data.encode("utf-8"))
                raise DecodeError(f"the stream carried an error: {err.message}")
            chunks.append(chunk)
            if gen_id is None and isinstance(chunk.get("id"), str):
                gen_id = chunk["id"]
            if model is None and isinstance(chunk.get("model"), str):
                model = chunk["model"]
            for k, v in chunk.items():
                if k not in _KNOWN_TOP and v is not None:
                    extras.setdefault(k, v)
            if chunk.get("usage") is not None:
                usage = _usage(chunk["usage"])
            raw_choices = chunk.get("choices")
            if raw_choices is None:
                continue
            if not isinstance(raw_choices, list):
                raise DecodeError("chunk choices is not an array")
            for pos, raw in enumerate(raw_choices):
                if not isinstance(raw, Mapping):
                    raise DecodeError(f"chunk choice {pos} is not an object")
                state = acc.setdefault(_choice_index(raw, pos), _StreamChoice())
                delta = raw.get("delta")
                if delta is None:
                    delta = {}
                if not isinstance(delta, Mapping):
                    raise DecodeError(f"chunk delta is not an object: {delta!r:.100}")
                role = delta.get("role")
                if role and state.role is None:
                    state.role = role
                content = delta.get("content")
                if content is not None:
                    state.parts.append(_content_text(content))
                reasoning = delta.get("reasoning_content", delta.get("reasoning"))
                if isinstance(reasoning, str):
                    state.reasoning.append(reasoning)
                if delta.get("tool_calls") is not None:
                    state.add_tool_call_deltas(delta["tool_calls"])
                for k, v in delta.items():
                    if k not in _KNOWN_MESSAGE and v is not None:
                        state.extras.setdefault(k, v)
                if raw.get("finish_reason") is not None:
                    state.finish_reason = raw["finish_reason"]
        if not chunks:
            raise DecodeError("the stream carried no chunks")
        choices = [
            Choice(
                index=index,
                text="".join(state.parts),
                finish_reason=state.finish_reason,
                role=state.role,
                tool_calls=[state.tool_calls[i] for i in sorted(state.tool_calls)] or None,
            )
            for index, state in sorted(acc.items())
        ]
        reasoning = {i: "".join(s.reasoning) for i, s in acc.items() if s.reasoning}
        if reasoning:
            extras["reasoning"] = reasoning
        message_extras = {i: s.extras for i, s in acc.items() if s.extras}
        if message_extras:
            extras["message_extras"] = message_extras
        return Generation(
            choices=choices, usage=usage, model=model, id=gen_id, raw=chunks, extras=extras
        )

    def decode_error(self, status: int, body: bytes) -> APIError:
        """Decode an error body (OpenAI envelope, ``{"detail": ...}`` or text); never raises."""
        return decode_error_body(status, body)
