"""Faults of the documented sampling parameters: ``max_tokens: null``, ``top_p`` and the
ends of the temperature range.

Each breaks one thing a document promises: a value inside the documented range (or the
documented ``null``) crashes the server or gets a malformed answer, or a value outside
it is silently clamped instead of refused.
"""

from __future__ import annotations

from typing import Any

import orjson

from conformance.backend.errors import RequestError

__all__ = ["MALFORMED_ANSWER", "bend_sampling", "malformed_answer"]

#: a 200 body that is not a chat.completion (``choices`` is not an array)
MALFORMED_ANSWER: bytes = orjson.dumps(
    {"id": "chatcmpl-malformed", "object": "chat.completion", "choices": "0.0 0.0 0.0"}
)

#: the ranges ``sampling_range_clamped`` clamps into (those the backend validates)
_RANGES: dict[str, tuple[float, float]] = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


def _server_error(what: str) -> RequestError:
    return RequestError(
        500, f"The server had an error while processing {what}.", "server_error", None, None
    )


def bend_sampling(body: Any, fault: str) -> Any:
    """``body`` as the fault reads it, before validation; raises the 500 of a crashing
    fault. Bodies that are not JSON objects, and other faults, pass unchanged."""
    if not isinstance(body, dict):
        return body
    if fault == "max_tokens_null_500" and "max_tokens" in body and body["max_tokens"] is None:
        raise _server_error("max_tokens: null")
    if fault == "top_p_500" and body.get("top_p") is not None:
        raise _server_error("top_p")
    if fault == "sampling_range_clamped":
        bent = dict(body)
        for name, (low, high) in _RANGES.items():
            value = bent.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                bent[name] = min(max(float(value), low), high)
        return bent
    return body


def malformed_answer(body: Any, fault: str) -> bytes | None:
    """The malformed 200 body ``temperature_high_malformed`` gives a request whose
    temperature is above 1 (plain or streamed alike), else ``None``."""
    if fault != "temperature_high_malformed" or not isinstance(body, dict):
        return None
    value = body.get("temperature")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1.0:
        return MALFORMED_ANSWER
    return None
