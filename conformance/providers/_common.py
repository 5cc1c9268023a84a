"""Helpers shared by the profiles: JSON bodies, headers, error envelopes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conformance._version import __version__
from conformance.providers.base import APIError, plain_params
from conformance.wire.json_bounded import parse_json_bounded

USER_AGENT = f"conformance/{__version__}"

#: how much of a non-JSON error body is kept as the error message
ERROR_TEXT_LIMIT = 500


def drop_unset(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters that are set: ``None`` means "not set" and is never sent;
    :data:`~conformance.providers.base.NULL` is sent as ``null``."""
    return plain_params({k: v for k, v in (params or {}).items() if v is not None})


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as the official SDKs send it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def load_json(body: bytes) -> Any:
    """Parse ``body`` as JSON (raises ``ValueError``)."""
    return parse_json_bounded(body)


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _as_code(value: Any) -> str | int | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _as_str(value)


def _text_excerpt(body: bytes) -> str | None:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    if len(text) > ERROR_TEXT_LIMIT:
        text = text[:ERROR_TEXT_LIMIT] + "..."
    return text


def _fastapi_detail(detail: Any) -> tuple[str | None, str | None]:
    """Message and param from a FastAPI/Starlette ``{"detail": ...}`` body."""
    if isinstance(detail, str):
        return detail, None
    if isinstance(detail, list) and detail:
        messages: list[str] = []
        param: str | None = None
        for item in detail:
            if isinstance(item, Mapping):
                msg = _as_str(item.get("msg")) or _as_str(item)
                loc = item.get("loc")
                if isinstance(loc, list | tuple) and loc:
                    where = ".".join(str(p) for p in loc if p != "body") or str(loc[-1])
                    param = param or where
                    msg = f"{where}: {msg}"
                messages.append(msg or "")
            else:
                messages.append(_as_str(item) or "")
        return "; ".join(messages), param
    return _as_str(detail), None


def decode_error_body(status: int, body: bytes) -> APIError:
    """Decode any error body into :class:`APIError`; never raises.

    Understands the OpenAI envelope ``{"error": {"message", "type", "param", "code"}}``,
    ``{"error": "text"}``, FastAPI's ``{"detail": ...}``, a bare ``{"message": ...}`` and
    plain text (kept as the message, cut at 500 characters).
    """
    try:
        data = load_json(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return APIError(status=status, message=_text_excerpt(body), raw=_text_excerpt(body))
    except Exception:  # pragma: no cover - json can raise RecursionError on hostile input
        return APIError(status=status, message=_text_excerpt(body), raw=None)
    if not isinstance(data, Mapping):
        return APIError(status=status, message=_as_str(data), raw=data)
    err = data.get("error")
    if isinstance(err, Mapping):
        return APIError(
            status=status,
            message=_as_str(err.get("message")),
            type=_as_str(err.get("type")),
            param=_as_str(err.get("param")),
            code=_as_code(err.get("code")),
            raw=data,
        )
    if err is not None and not isinstance(err, bool):
        return APIError(
            status=status,
            message=_as_str(err),
            type=_as_str(data.get("type")),
            code=_as_code(data.get("code")),
            raw=data,
        )
    if "detail" in data:
        message, param = _fastapi_detail(data["detail"])
        return APIError(status=status, message=message, param=param, raw=data)
    message = data.get("message", data.get("msg"))
    return APIError(
        status=status,
        message=_as_str(message) if message is not None else None,
        type=_as_str(data.get("type")),
        code=_as_code(data.get("code")),
        raw=data,
    )
