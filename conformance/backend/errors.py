"""Error answers of the reference backend.

OpenAI-shaped paths answer with the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}``. The Wetrocloud path answers with
``{"success": false, "error": "<message>"}`` and the same HTTP status (400 for bad
input, 401 for a missing or wrong key, 404/405/413/415 for the obvious cases); the
Wetrocloud documentation does not describe its errors, so this is the backend's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class RequestError(Exception):
    """A request the backend refuses, with everything the error envelope needs."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        return self.message

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def envelope_bytes(self) -> bytes:
        return orjson.dumps(self.envelope())

    def wetrocloud_bytes(self) -> bytes:
        """The Wetrocloud error body."""
        return orjson.dumps({"success": False, "error": self.message})


def invalid(message: str, param: str | None, code: str | None = "invalid_value") -> RequestError:
    """A 400 ``invalid_request_error``."""
    return RequestError(400, message, "invalid_request_error", param, code)


def missing_key() -> RequestError:
    return RequestError(
        401,
        "You didn't provide an API key. Send it in the Authorization header "
        "(Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        None,
        "missing_api_key",
    )


def wrong_key() -> RequestError:
    return RequestError(
        401, "Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key"
    )


def not_found(path: str) -> RequestError:
    return RequestError(
        404, f"Unknown path {path!r}.", "invalid_request_error", None, "unknown_url"
    )


def model_not_found(model: str, known: tuple[str, ...]) -> RequestError:
    """OpenAI's answer for a model that does not exist: 404 ``model_not_found``."""
    return RequestError(
        404,
        f"The model `{model}` does not exist. Known models: {', '.join(known)}.",
        "invalid_request_error",
        "model",
        "model_not_found",
    )


def method_not_allowed(method: str, path: str) -> RequestError:
    return RequestError(
        405,
        f"Method {method} is not allowed on {path!r}.",
        "invalid_request_error",
        None,
        "method_not_allowed",
    )
