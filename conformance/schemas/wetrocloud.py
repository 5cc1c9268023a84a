"""Wetrocloud's text-generation shapes.

The response is documented: ``{"response": str, "tokens": int, "success": bool}``.
Errors are not documented at all; :class:`WetrocloudError` accepts what such services
send (``{"success": false, ...}`` with an ``error``, ``message`` or ``detail``) and only
insists that the body is a JSON object that says what went wrong.
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from conformance.schemas._base import StrictModel

__all__ = ["WetrocloudError", "WetrocloudResponse"]


class WetrocloudResponse(StrictModel):
    response: str
    tokens: int
    success: bool


class WetrocloudError(StrictModel):
    success: bool | None = None
    error: Any = None
    message: Any = None
    detail: Any = None

    @model_validator(mode="after")
    def _says_what(self) -> WetrocloudError:
        if self.error is None and self.message is None and self.detail is None:
            raise ValueError("an error body needs an error, message or detail field")
        if self.success is True:
            raise ValueError("an error body must not say success=true")
        return self
