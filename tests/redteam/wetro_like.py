"""A Wetrocloud text-generation fake, written from the provider's documentation.

``POST /v1/text-generation/`` with ``multipart/form-data`` fields ``messages`` (a JSON
string) and ``model``, ``Authorization: Token <key>``; the answer is
``{"response": str, "tokens": int, "success": bool}``. The document says nothing about
errors: the correct flavour answers them with a 4xx and a JSON body that says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any

from tests.redteam.server import Reply, Request

__all__ = ["WKEY", "WetroFlavor", "handle_wetro"]

WKEY = "wc-redteam-correct-key"
ANSWER = "A large language model is a program trained on a great deal of text."


@dataclass
class WetroFlavor:
    """One Wetrocloud-like server."""

    name: str
    #: schemes accepted in front of the key
    schemes: tuple[str, ...] = ("Token",)
    accept_multipart: bool = True
    accept_json: bool = False
    model_required: bool = True
    #: (status, message) -> (status, body)
    error_body: Callable[[int, str], tuple[int, Any]] | None = None
    #: rewrite the success document
    answer_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    accept_any_key: bool = False
    #: a messages field that is not JSON crashes the view (HTTP 500, Django's HTML page)
    messages_json_500: bool = False
    #: the path without its trailing slash answers this redirect status (Django's
    #: APPEND_SLASH: 301) to the documented path
    redirect_no_slash: int | None = None
    #: the status of a refused wrong key (a missing key is always 401)
    wrong_key_status: int = 401
    #: the status of an answer (Django REST Framework's CreateAPIView: 201 Created)
    success_status: int = 200


def _form(request: Request) -> dict[str, str] | None:
    ctype = request.header("content-type") or ""
    if not ctype.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    if not msg.is_multipart() or msg.defects:
        return None
    fields: dict[str, str] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes) or part.defects:
            return None
        fields[name] = payload.decode("utf-8", "replace")
    if not request.body.rstrip().endswith(b"--"):
        return None  # no closing boundary: the body was cut
    return fields


def _reply(status: int, body: Any) -> Reply:
    return Reply(status, [("Content-Type", "application/json")], [json.dumps(body).encode()])


def handle_wetro(flavor: WetroFlavor, request: Request, path: str) -> Reply:
    """Answer one request to ``path`` (below the flavour's prefix)."""

    def error(status: int, message: str) -> Reply:
        if flavor.error_body is not None:
            return _reply(*flavor.error_body(status, message))
        return _reply(status, {"detail": message, "success": False})

    if flavor.redirect_no_slash is not None and path == "/v1/text-generation":
        return Reply(
            flavor.redirect_no_slash,
            [("Location", request.path + "/"), ("Content-Type", "text/html; charset=utf-8")],
            [b""],
        )
    if path.rstrip("/") != "/v1/text-generation" or request.method != "POST":
        return error(404, "Not found.")
    auth = request.header("authorization") or ""
    scheme, _, key = auth.partition(" ")
    if not auth:
        return error(401, "Authentication credentials were not provided.")
    if scheme not in flavor.schemes or (key != WKEY and not flavor.accept_any_key):
        return error(flavor.wrong_key_status, "Invalid token.")
    fields: dict[str, Any] | None
    ctype = (request.header("content-type") or "").lower()
    if ctype.startswith("multipart/form-data"):
        if not flavor.accept_multipart:
            return error(415, 'Unsupported media type "multipart/form-data" in request.')
        fields = _form(request)
        if fields is None:
            return error(400, "Multipart form parse error.")
    elif ctype.startswith("application/json") and flavor.accept_json:
        try:
            fields = json.loads(request.body)
        except ValueError:
            return error(400, "JSON parse error.")
    else:
        return error(415, f'Unsupported media type "{ctype}" in request.')
    if "messages" not in fields:
        return error(400, "messages: This field is required.")
    if flavor.model_required and "model" not in fields:
        return error(400, "model: This field is required.")
    raw = fields["messages"]
    try:
        messages = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        if flavor.messages_json_500:
            page = b"<!doctype html><html><title>Server Error (500)</title></html>"
            return Reply(500, [("Content-Type", "text/html")], [page])
        return error(400, "messages: must be a JSON array of messages.")
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
    ):
        return error(400, "messages: must be a JSON array of messages.")
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    asked = [str(m["content"]) for m in messages if m.get("role") == "user"][-1:]
    answer = f"About {' '.join(asked)[:60]!r}: {ANSWER}"
    doc: dict[str, Any] = {
        "response": answer,
        "tokens": prompt + len(answer.split()),
        "success": True,
    }
    if flavor.answer_hook is not None:
        doc = flavor.answer_hook(doc)
    return _reply(flavor.success_status, doc)
