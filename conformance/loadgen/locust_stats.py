"""Each measured request as an entry of Locust's own statistics (web UI, CSV, console).

Beside the request itself (``POST``, its end-to-end time), the request's TTFT, mean ITL
and TPOT appear as entries of their own, so Locust's table shows them too. These are
Locust's approximate figures; the exact ones are the run's histograms
(:mod:`conformance.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.metrics import RequestTiming

__all__ = ["LocustStats"]


class _Failure(Exception):
    """A failed request as Locust's error table shows it: the error kind only."""


class LocustStats:
    """Reports requests to Locust through its ``request`` event."""

    def __init__(self, fire: Callable[..., Any]) -> None:
        self._fire = fire

    def report(
        self, name: str, timing: RequestTiming, send_wall: float, done_wall: float, size: int
    ) -> None:
        """Show one request (and its TTFT, ITL and TPOT) under ``name``."""
        fire = self._fire
        if timing.error is not None:
            elapsed = (done_wall - send_wall) * 1000.0
            fire(
                request_type="POST",
                name=name,
                response_time=elapsed,
                response_length=size,
                exception=_Failure(str(timing.error)),
                context={},
            )
            return
        e2e = timing.e2e_ns
        fire(
            request_type="POST",
            name=name,
            response_time=(e2e if e2e is not None else 0) / 1e6,
            response_length=size,
            exception=None,
            context={},
        )
        # TTFT, mean ITL and TPOT as entries of their own (none when the request has none)
        for kind, value_ns in (
            ("TTFT", timing.ttft_ns),
            ("ITL", timing.mean_itl_ns),
            ("TPOT", timing.tpot_ns),
        ):
            if value_ns is not None:
                fire(
                    request_type=kind,
                    name=name,
                    response_time=value_ns / 1e6,
                    response_length=0,
                    exception=None,
                    context={},
                )
