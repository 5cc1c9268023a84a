"""Which faults trip the checks of documented parameter values (conformance.checks.ranges):
a documented value that crashes the server or gets a malformed answer, and an out-of-range
value answered with a server error."""

from __future__ import annotations

TRIPS: dict[str, list[str]] = {
    "semantics.max_tokens_null": ["max_tokens_null_500"],
    "semantics.top_p": ["top_p_500"],
    "semantics.temperature_bounds": ["temperature_high_malformed"],
    "errors.temperature_range": ["invalid_500"],
    "errors.top_p_range": ["invalid_500"],
}
