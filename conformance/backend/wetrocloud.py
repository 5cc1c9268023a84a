"""``POST /v1/text-generation/``, the Wetrocloud dialect.

The request is a form (``multipart/form-data``, or ``application/x-www-form-urlencoded``)
with ``messages`` (a JSON *string* holding an array of ``{"role", "content"}`` objects,
roles system/user/assistant) and ``model``. Auth is ``Authorization: Token <key>``.
The answer is ``{"response": str, "tokens": int, "success": true}`` where ``tokens`` is
prompt plus completion tokens under the backend's tokenizer.

Errors (the documentation does not describe them; this is the backend's choice) are
``{"success": false, "error": "<message>"}`` with 400 for bad input, 401 for a missing
or wrong key, 413 for a body that is too large and 415 for a body that is not a form.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from conformance.backend.asgi import (
    DisconnectWatch,
    limited,
    send_body,
    send_endless,
    sleep_until,
)
from conformance.backend.chat import RequestContext, send_error
from conformance.backend.errors import RequestError, invalid
from conformance.backend.generation import (
    Sampling,
    complete,
    count_prompt_tokens,
    prompt_key,
)

ROLES = frozenset({"system", "user", "assistant"})
FORMS = (b"multipart/form-data", b"application/x-www-form-urlencoded")

# The multipart parser logs a warning for every malformed body before it raises; the
# backend answers such a body with a 400 that says why, so the line is noise, and with no
# logging configured Python would print it on stderr in the middle of a `conformance check`
# run. A handler of our own stops that; an application that configures logging still sees
# the records through propagation.
for _name in ("python_multipart", "multipart"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


def _parse_messages(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        raise invalid("The 'messages' field is required.", "messages")
    if isinstance(raw, UploadFile):
        raise invalid("The 'messages' field must be a JSON string, not a file.", "messages")
    try:
        messages = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid("The 'messages' field is not valid JSON.", "messages") from None
    if not isinstance(messages, list) or not messages:
        raise invalid("The 'messages' field must be a non-empty JSON array.", "messages")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{i}] must be an object.", "messages")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise invalid(f"messages[{i}].role must be one of system, user, assistant.", "messages")
        if not isinstance(content, str):
            raise invalid(f"messages[{i}].content must be a string.", "messages")
        turns.append((role, content))
    return tuple(turns)


async def handle_text_generation(
    scope: Scope, receive: Receive, send: Send, ctx: RequestContext
) -> None:
    """Serve one Wetrocloud text-generation request."""
    fault = ctx.fault_name
    content_type = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
    length = next((v for n, v in scope["headers"] if n == b"content-length"), b"0")
    if length.isdigit() and int(length) > ctx.config.max_body_bytes:
        await send_error(send, ctx, RequestError(413, "The request body is too large."))
        return
    if fault == "hang_before_headers":
        await DisconnectWatch(receive).wait(ctx.config.hang_s)
        return
    if fault == "wc_multipart_rejected" and content_type == b"multipart/form-data":
        await send_error(
            send, ctx, RequestError(415, 'Unsupported media type "multipart/form-data".')
        )
        return
    try:
        if content_type not in FORMS:
            raise RequestError(
                415,
                f"Unsupported media type {content_type.decode(errors='replace')!r}: send "
                "multipart/form-data (or application/x-www-form-urlencoded).",
            )
        request = Request(scope, limited(receive, ctx.config.max_body_bytes))
        try:
            form = await request.form(
                max_files=4, max_fields=64, max_part_size=ctx.config.max_body_bytes
            )
        except RequestError:
            raise
        except Exception as exc:  # malformed multipart bodies raise several types
            raise invalid(f"The form could not be parsed: {exc}", None) from None
        turns = _parse_messages(form.get("messages"))
        model = form.get("model")
        if not isinstance(model, str) or not model.strip():
            raise invalid("The 'model' field is required.", "model")
    except RequestError as error:
        if fault == "invalid_accepted" and error.status == 400:
            turns, model = (("user", ""),), "llama-3.3-70b"
        else:
            await send_error(send, ctx, error)
            return
    done = complete(
        prompt_key(turns),
        Sampling(),
        0,
        max_tokens=None,
        length_bounds=(ctx.config.min_natural_tokens, ctx.config.max_natural_tokens),
    )
    tokens = count_prompt_tokens(text for _, text in turns) + done.tokens
    ctx.stats.requests += 1
    ctx.stats.tokens += done.tokens
    body: dict[str, Any] = {
        "response": done.text,
        "tokens": str(tokens) if fault == "wc_tokens_string" else tokens,
        "success": "true" if fault == "wc_success_string" else True,
    }
    if fault == "ok_extra_fields":
        body["model"] = model
        body["x_backend"] = {"variant": "extra_fields"}
    await sleep_until(ctx.t0 + ctx.ttft + max(0, len(done.pieces) - 1) * ctx.itl)
    data = orjson.dumps(body)
    if fault == "huge_body":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send_endless(
            send, receive, b'{"response":"', b"amber " * 10923, ctx.config.huge_body_bytes
        )
        return
    await send_body(send, 200, data)
