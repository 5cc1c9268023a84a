"""Reading a result's own statements tolerantly: counts, and the verdict it gives itself.

Writers of different ages say the same thing in different ways; these readers accept
each of them and answer ``None`` when the result does not say.
"""

from __future__ import annotations

from typing import Any

from conformance.report._format import as_float

#: Words a result may use for its own verdict, read as a pass or a failure.
_PASS_WORDS = frozenset({"pass", "passed", "ok", "success", "succeeded", "green"})
_FAIL_WORDS = frozenset({"fail", "failed", "failure", "error", "red", "incomplete"})


def count_of(value: Any) -> int | None:
    """A count as a whole number; None when the value is missing, not a number or negative."""
    v = as_float(value)
    return None if v is None or v < 0 else int(v)


def own_verdict(data: dict[str, Any]) -> bool | None:
    """The verdict a result (or a sweep step) states about itself: pass, fail, or unknown.

    Read tolerantly, since writers may say it as a word (``"verdict": "failed"``), a
    boolean (``"passed": false``) or an object (``{"status": "fail", ...}``).
    """
    value = data.get("verdict")
    if isinstance(value, dict):
        for key in ("passed", "ok"):
            if isinstance(value.get(key), bool):
                return bool(value[key])
        value = value.get("status") or value.get("verdict") or value.get("level")
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _PASS_WORDS:
            return True
        if word in _FAIL_WORDS:
            return False
    passed = data.get("passed")
    return passed if isinstance(passed, bool) else None
