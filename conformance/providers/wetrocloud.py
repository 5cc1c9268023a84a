"""Wetrocloud's text-generation endpoint.

Documented as ``POST https://api.wetrocloud.com/v1/text-generation/`` with
``Authorization: Token <api-key>`` and a ``multipart/form-data`` body of exactly two
fields: ``messages``, the conversation as a JSON **string**, and ``model`` (for example
``llama-3.3-70b``). The answer is ``{"response": str, "tokens": int, "success": bool}``.

What the document does not cover, and what this profile does about it:

- It documents no generation parameters and no streaming. :meth:`WetrocloudProvider.encode`
  sends only ``messages`` and ``model``; ``max_tokens``, ``temperature``, ``stream`` and
  every other parameter are *not sent* (see :meth:`Provider.dropped_params`), and
  :attr:`WetrocloudProvider.capabilities` marks them all unsupported so no check expects
  them to work.
- ``tokens`` is "the number of tokens used for processing": it is reported as
  ``Usage.total_tokens``; prompt and completion counts are unknown.
- No finish reason and no model name come back, so those are ``None``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from email import policy
from email.parser import BytesParser
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from conformance.providers._common import USER_AGENT, decode_error_body, drop_unset
from conformance.providers.base import (
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
from conformance.providers.facts import Cited
from conformance.wire.json_bounded import parse_json_bounded

__all__ = ["WetrocloudProvider", "encode_form", "parse_form"]


def encode_form(fields: Sequence[tuple[str, str]], boundary: str) -> bytes:
    """A ``multipart/form-data`` body of plain text fields (no file parts), as curl's
    ``--form name=value`` sends them: a Content-Disposition line per part, no
    per-part Content-Type, CRLF line ends."""
    out: list[bytes] = []
    for name, value in fields:
        if '"' in name or "\r" in name or "\n" in name:
            raise ValueError(f"form field name not allowed: {name!r}")
        out.append(f"--{boundary}\r\n".encode("ascii"))
        out.append(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.append(value.encode("utf-8"))
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` or urlencoded body.

    Raises :class:`DecodeError` when the body is neither or a field repeats.
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        return _unique(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if ctype != "multipart/form-data":
        raise DecodeError(f"request is not a form: Content-Type {content_type!r}")
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n"
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise DecodeError("multipart body could not be parsed (boundary missing or wrong)")
    pairs: list[tuple[str, str]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise DecodeError("a multipart part has no name")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise DecodeError(f"multipart field {name!r} is not a plain part")
        pairs.append((name, payload.decode("utf-8", "replace")))
    return _unique(pairs)


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise DecodeError(f"form field {name!r} appears more than once")
        fields[name] = value
    return fields


class WetrocloudProvider(Provider):
    """Wetrocloud: multipart form in, ``{response, tokens, success}`` out, no streaming."""

    name = "wetrocloud"
    title = "Wetrocloud text generation (multipart form, Token auth, no streaming)"
    dialect = Dialect.WETROCLOUD
    default_base_url = "https://api.wetrocloud.com"
    endpoint = "/v1/text-generation/"
    auth_header = "Authorization"
    auth_scheme = "Token"
    api_key_env = "WETROCLOUD_API_KEY"
    models = ("llama-3.3-70b",)
    capabilities = Capabilities(
        streaming=False,
        stream_usage=False,
        n=False,
        stop=False,
        max_tokens=False,
        max_completion_tokens=False,
        temperature=False,
        top_p=False,
        seed=False,
        tools=False,
        logprobs=False,
        response_format=False,
        system_role=True,
        multi_turn=True,
        temperature_range=None,
        top_p_range=None,
        max_tokens_null=False,
        max_tokens_min=None,
    )
    # The facts the Text Generation page states; every other check is a compatibility finding.
    documented: ClassVar[Mapping[str, Cited]] = {
        "endpoint": Cited("Endpoint", "POST /v1/text-generation/"),
        "auth": Cited("Request Example", "--header 'Authorization: Token <api-key>'"),
        "request.multipart": Cited(
            "Request Format",
            "The request should be sent as multipart/form-data with the following parameters",
        ),
        "messages": Cited(
            "Request Format",
            "messages string (JSON): Array of message objects representing the conversation",
        ),
        "messages.roles": Cited("Message Object Format", "system, user and assistant messages"),
        "response.wetrocloud": Cited(
            "Response Example",
            "response: Conversational response to the query. tokens: Number of tokens used "
            "for processing. success: Indicates whether the query was successful.",
        ),
    }
    docs = "https://docs.wetrocloud.com (Text Generation)"
    embedded_prefix = ""
    #: the Text Generation page documents no model list
    models_endpoint = None
    sent_params = frozenset({"model"})

    def encode(
        self,
        messages: Sequence[Message],
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
    ) -> httpx.Request:
        """A multipart POST with the fields ``messages`` (JSON text) and ``model``.

        Only ``params["model"]`` is used (it overrides the profile's model); every other
        parameter is dropped, because the provider documents none.
        """
        sent = drop_unset(params)
        model = str(sent.get("model", self.model))
        boundary = secrets.token_hex(16)
        body = encode_form([("messages", json.dumps(list(messages))), ("model", model)], boundary)
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self.auth_headers(api_key),
        }
        return httpx.Request("POST", self.url, headers=headers, content=body)

    def decode_request(self, request: httpx.Request) -> tuple[list[Message], Params]:
        """Recover (messages, params) from the form; ``model`` is in params only when it
        differs from the profile's model."""
        try:
            fields = parse_form(request.headers.get("content-type", ""), request.content)
        except httpx.RequestNotRead as exc:
            raise DecodeError("request body was not read") from exc
        if "messages" not in fields:
            raise DecodeError("form has no messages field")
        try:
            messages = json.loads(fields["messages"])
        except ValueError as exc:
            raise DecodeError(f"messages field is not JSON: {exc}") from exc
        if not isinstance(messages, list):
            raise DecodeError("messages field is not a JSON array")
        params: Params = {k: v for k, v in fields.items() if k not in ("messages", "model")}
        if fields.get("model") != self.model:
            params["model"] = fields.get("model")
        return messages, params

    def decode(self, body: bytes) -> Generation:
        """Decode ``{"response", "tokens", "success"}`` into a one-choice :class:`Generation`.

        Raises :class:`DecodeError` when the body is not that shape or says
        ``"success": false``.
        """
        try:
            data = parse_json_bounded(body)
        except ValueError as exc:
            raise DecodeError(f"response body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DecodeError(f"response body is not a JSON object: {type(data).__name__}")
        if data.get("success") is False:
            err = decode_error_body(200, body)
            raise DecodeError(f"response says success=false: {err.message or data!r:.200}")
        text = data.get("response")
        if not isinstance(text, str):
            raise DecodeError(f"response field is not a string: {text!r:.100}")
        tokens = data.get("tokens")
        usage = Usage(
            total_tokens=tokens
            if isinstance(tokens, int) and not isinstance(tokens, bool)
            else None
        )
        extras = {k: v for k, v in data.items() if k not in ("response", "tokens")}
        return Generation(
            choices=[Choice(index=0, text=text, finish_reason=None, role="assistant")],
            usage=usage,
            model=None,
            id=None,
            raw=data,
            extras=extras,
        )

    def decode_error(self, status: int, body: bytes) -> APIError:
        """Decode an error body (``{"detail": ...}``, ``{"error": ...}``, text); never raises."""
        return decode_error_body(status, body)
