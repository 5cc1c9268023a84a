"""Number, time and text formatting shared by the HTML and Markdown reports."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

NA = "n/a"


def as_float(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is missing, not a number or not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def fmt_num(value: Any, digits: int | None = None) -> str:
    """A plain number with sensible precision (3 significant figures, at least integers)."""
    f = as_float(value)
    if f is None:
        return NA
    if digits is not None:
        return f"{f:,.{digits}f}"
    a = abs(f)
    if a >= 100 or f == int(f):
        return f"{f:,.0f}"
    if a >= 10:
        return f"{f:,.1f}"
    if a >= 1:
        return f"{f:,.2f}"
    text = f"{f:.3g}"
    if "e" in text:
        # never scientific notation (2e-09): three significant digits, written out
        decimals = min(12, 2 - math.floor(math.log10(a)))
        text = f"{f:.{decimals}f}".rstrip("0").rstrip(".")
        if text in ("0", "-0", "-", ""):
            text = "0"
    return text


def fmt_ms(value: Any) -> str:
    """A duration in milliseconds, e.g. ``"12.4 ms"``; seconds above 10 000 ms."""
    f = as_float(value)
    if f is None:
        return NA
    if abs(f) >= 10_000:
        return f"{f / 1000:,.1f} s"
    return f"{fmt_num(f)} ms"


def fmt_signed(value: Any, unit: str = "") -> str:
    """A change with its sign, e.g. ``"+3.2 ms"`` or ``"-0.5 req/s"``."""
    f = as_float(value)
    if f is None:
        return NA
    sign = "+" if f > 0 else ("−" if f < 0 else "±")
    body = fmt_num(abs(f))
    return f"{sign}{body}{(' ' + unit) if unit else ''}"


def fmt_pct(value: Any) -> str:
    """A relative change (0.123 -> ``"+12.3%"``)."""
    f = as_float(value)
    if f is None:
        return NA
    sign = "+" if f > 0 else ("−" if f < 0 else "±")
    return f"{sign}{abs(f) * 100:.1f}%"


def fmt_ratio(value: Any) -> str:
    """A fraction as a percentage (0.0123 -> ``"1.23%"``)."""
    f = as_float(value)
    if f is None:
        return NA
    return f"{f * 100:.2f}%" if f < 0.1 else f"{f * 100:.1f}%"


def fmt_duration(value: Any) -> str:
    """Seconds as ``"45 s"``, ``"2 min 5 s"`` or ``"1 h 3 min"``."""
    f = as_float(value)
    if f is None:
        return NA
    if f < 60:
        return f"{fmt_num(f)} s"
    minutes, seconds = divmod(round(f), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def fmt_time(value: Any) -> str:
    """An ISO 8601 timestamp as ``"2026-11-21 22:10 UTC"``; other strings as given."""
    if not isinstance(value, str) or not value:
        return NA
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
        return dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit:,} more characters not shown)"
