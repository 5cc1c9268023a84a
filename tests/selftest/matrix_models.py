"""Which faults trip the model-surface checks (``models.*``).

Backend faults cover a missing list, a bare array, Ollama's native list, an unlisted
model, a broken retrieve, an unknown model answered 500 and answers naming another model.
The ``mock:*`` faults rewrite the correct backend's answer the way real servers differ:

- a catch-all web page (``200 text/html``) at ``/v1/models``, as a UI served in front of
  the API answers every unknown path;
- one model object instead of a list (a server that describes the one model it serves);
- model entries without ``created`` or with ``created`` as a string;
- a 404 for an unknown model with a plain-text body instead of the error envelope.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from selftest import MockFault

_OAI = "openai"
Reply = tuple[int, list[tuple[str, str]], bytes]


def _is_list(request: httpx.Request) -> bool:
    return request.method == "GET" and request.url.path.rstrip("/").endswith("/models")


def _rewrite_list(fn: Any) -> Any:
    """Rewrite the 2xx model list with ``fn(document) -> (content type, body)``."""

    def rewrite(
        request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> Reply:
        if not _is_list(request) or not 200 <= status < 300:
            return status, headers, body
        content_type, data = fn(json.loads(body))
        return status, [("content-type", content_type)], data

    return rewrite


def _html(document: dict[str, Any]) -> tuple[str, bytes]:
    return "text/html; charset=utf-8", b"<!doctype html><html><body>App</body></html>"


def _single_object(document: dict[str, Any]) -> tuple[str, bytes]:
    return "application/json", json.dumps(document["data"][0]).encode()


def _without_created(document: dict[str, Any]) -> tuple[str, bytes]:
    for entry in document["data"]:
        entry.pop("created")
    return "application/json", json.dumps(document).encode()


def _created_string(document: dict[str, Any]) -> tuple[str, bytes]:
    for entry in document["data"]:
        entry["created"] = str(entry["created"])
    return "application/json", json.dumps(document).encode()


def _unknown_model_plain_404(
    request: httpx.Request, status: int, headers: list[tuple[str, str]], body: bytes
) -> Reply:
    if request.method == "POST" and status == 404:
        return 404, [("content-type", "text/plain")], b"404 page not found"
    return status, headers, body


MOCKS: dict[str, MockFault] = {
    "mock:models_html": MockFault(
        "mock:models_html", _OAI, "GET /v1/models answers a web page", _rewrite_list(_html)
    ),
    "mock:models_single_object": MockFault(
        "mock:models_single_object",
        _OAI,
        "GET /v1/models answers one model object, not a list",
        _rewrite_list(_single_object),
    ),
    "mock:models_created_missing": MockFault(
        "mock:models_created_missing",
        _OAI,
        "model entries have no `created`",
        _rewrite_list(_without_created),
    ),
    "mock:models_created_string": MockFault(
        "mock:models_created_string",
        _OAI,
        "model entries give `created` as a string",
        _rewrite_list(_created_string),
    ),
    "mock:unknown_model_plain_404": MockFault(
        "mock:unknown_model_plain_404",
        _OAI,
        "an unknown model is refused 404 with a plain-text body",
        _unknown_model_plain_404,
    ),
}

TRIPS: dict[str, list[str]] = {
    "models.list_served": ["models_missing", "mock:models_html"],
    "models.list_sdk": ["models_bare_array", "models_ollama_shape", "mock:models_single_object"],
    "models.list_schema": ["mock:models_created_missing", "mock:models_created_string"],
    "models.listed": ["models_unlisted"],
    "models.retrieve": ["models_retrieve_broken"],
    "models.unknown_refused": ["unknown_model_500", "mock:unknown_model_plain_404"],
    "models.answer_model": ["model_renamed"],
}
