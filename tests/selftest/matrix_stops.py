"""Which faults trip the stop-string checks (``conformance.checks.stops``).

Each check judges its own stop string plainly and streamed, so a fault that breaks only
one mode (``stop_ignored_stream``, ``stop_leak_delta``) must trip it as surely as one that
breaks both. ``stop_leak_delta`` only shows when the stop string spans tokens (the phrase
and the span; a single word is one token of the backend). A target that is not
deterministic at temperature 0 (``nondeterministic``) must only make them warn: see
``tests/test_checks_stops.py``.
"""

from __future__ import annotations

_BOTH_MODES = ["stop_left_in", "stop_ignored_stream", "stop_finish_length", "stop_finish_null"]

TRIPS: dict[str, list[str]] = {
    "semantics.stop_word": list(_BOTH_MODES),
    "semantics.stop_phrase": [*_BOTH_MODES, "stop_leak_delta"],
    "semantics.stop_span": [*_BOTH_MODES, "stop_leak_delta"],
    "semantics.stop_list": [*_BOTH_MODES, "stop_list_first_only"],
}
