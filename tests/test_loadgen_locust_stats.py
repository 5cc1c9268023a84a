"""Locust's own table shows each request, and its TTFT, mean ITL and TPOT as entries."""

from __future__ import annotations

from typing import Any

from conformance.loadgen.locust_stats import LocustStats
from conformance.metrics import FailureKind, RequestTiming


def _fired(timing: RequestTiming) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    LocustStats(lambda **kw: calls.append(kw)).report("chat", timing, 10.0, 10.5, 123)
    return calls


def test_streamed_request_shows_its_ttft_itl_and_tpot() -> None:
    timing = RequestTiming(
        t_send_ns=0, ttft_ns=20_000_000, e2e_ns=80_000_000, itl_ns=[10_000_000, 30_000_000]
    )
    timing.output_tokens = 4
    calls = _fired(timing)
    shown = [(c["request_type"], c["response_time"], c["response_length"]) for c in calls]
    assert shown == [("POST", 80.0, 123), ("TTFT", 20.0, 0), ("ITL", 20.0, 0), ("TPOT", 20.0, 0)]
    assert all(c["name"] == "chat" and c["exception"] is None for c in calls)


def test_plain_request_shows_no_stream_entries() -> None:
    calls = _fired(RequestTiming(t_send_ns=0, e2e_ns=5_000_000, output_tokens=1))
    assert [(c["request_type"], c["response_time"]) for c in calls] == [("POST", 5.0)]


def test_failed_request_shows_its_kind_and_wall_time() -> None:
    calls = _fired(RequestTiming(t_send_ns=0, error=FailureKind.READ_TIMEOUT))
    assert len(calls) == 1
    assert calls[0]["request_type"] == "POST"
    assert calls[0]["response_time"] == 500.0
    assert str(calls[0]["exception"]) == "read_timeout"
