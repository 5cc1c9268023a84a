"""The backend's measurement of its own timing error.

Every content token has a deadline: ``t_request + ttft + k * itl`` for the k-th token
of the answer (absolute deadlines, so lateness never accumulates), ``t_request`` being
when the request's first byte was parsed (:mod:`conformance.backend.intake`). The backend
records, per token, how late it actually handed the event to the network (send time
minus deadline). The first token's lateness is the TTFT lateness, the others' the ITL
lateness; the intake is how long each request waited between its arrival and the
application. ``GET /stats`` reports them; ``POST /stats/reset`` clears them.
"""

from __future__ import annotations

import math
import random
from array import array
from typing import Any

#: samples kept per series; beyond this a uniform reservoir sample is kept
MAX_SAMPLES = 1_000_000


class _Series:
    """Lateness samples in seconds, with a bounded reservoir."""

    __slots__ = ("_rng", "count", "max", "samples", "total")

    def __init__(self) -> None:
        self.samples = array("d")
        self.count = 0
        self.total = 0.0
        self.max = -math.inf
        self._rng = random.Random(0)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(value)
        else:
            slot = self._rng.randrange(self.count)
            if slot < MAX_SAMPLES:
                self.samples[slot] = value

    def summary(self) -> dict[str, Any]:
        """count, mean, p50, p90, p99 and max in milliseconds (nulls when empty)."""
        if not self.count:
            return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
        ordered = sorted(self.samples)

        def pct(q: float) -> float:
            index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
            return round(ordered[index] * 1000, 4)

        return {
            "count": self.count,
            "mean": round(self.total / self.count * 1000, 4),
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "max": round(self.max * 1000, 4),
        }


class Stats:
    """Counters and lateness series of one backend instance (one event loop, no locks)."""

    def __init__(self, ttft_ms: float, itl_ms: float) -> None:
        self.ttft_ms = ttft_ms
        self.itl_ms = itl_ms
        self.reset()

    def reset(self) -> None:
        """Forget everything measured so far."""
        self.requests = 0
        self.streams = 0
        self.errors = 0
        self.tokens = 0
        self.ttft = _Series()
        self.itl = _Series()
        #: arrival of the request to the application's entry (part of the TTFT lateness)
        self.intake = _Series()

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /stats`` returns."""
        return {
            "requests": self.requests,
            "streams": self.streams,
            "errors": self.errors,
            "completion_tokens": self.tokens,
            "configured": {"ttft_ms": self.ttft_ms, "itl_ms": self.itl_ms},
            "ttft_lateness_ms": self.ttft.summary(),
            "itl_lateness_ms": self.itl.summary(),
            "intake_ms": self.intake.summary(),
        }
