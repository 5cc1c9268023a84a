"""The pure parts of benchmarks/peers.py: windows, errors, ratios, the table (no timing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peers_bench", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers_bench"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_ideal_rate_is_users_over_one_answer(peers: ModuleType) -> None:
    # 50 ms to the first token, then 31 gaps of 10 ms: 0.36 s per answer
    assert peers.ideal_rate(36) == pytest.approx(100.0)


def test_cpu_between_interpolates_and_refuses_uncovered_intervals(peers: ModuleType) -> None:
    samples = [(0.0, 1.0), (1.0, 1.5), (2.0, 2.5)]
    assert peers.cpu_between(samples, 0.5, 1.5) == pytest.approx(2.0 - 1.25)
    assert peers.cpu_between(samples, 0.5, 3.0) is None  # the end is past the last sample
    assert peers.cpu_between(samples, 1.5, 1.5) is None


def test_plain_window_drops_warmup_failures_and_drain(peers: ModuleType) -> None:
    records = [
        (100.5, "TTFT", 40.0, True),  # warm-up
        (101.2, "TTFT", 51.0, True),
        (101.3, "TTFT", 53.0, True),
        (101.4, "TTFT", 99.0, False),  # failed
        (101.6, "ITL", 10.2, True),
        (101.7, "ITL", 10.4, True),
        (102.9, "ITL", 10.0, True),
        (103.5, "ITL", 11.0, True),  # after the run's end: the drain
    ]
    m = peers.plain_measured(records, started=100.0, warmup_s=1.0, duration_s=3.0)
    assert m.ttft_p50_ms == pytest.approx(52.0)
    assert m.itl_p50_ms == pytest.approx(10.2)
    assert m.req_per_s == pytest.approx(3 / 2.0)
    assert m.window == (101.0, 103.0)


def test_conformance_window_from_the_result(peers: ModuleType) -> None:
    result = {
        "warmup_s": 2.0,
        "window_s": 8.0,
        "metrics": {"ttft_ms": {"p50": 51.2}, "itl_ms": {"p50": 10.05}, "requests_per_s": 170.0},
    }
    m = peers.conformance_measured(result, started=1000.0)
    assert (m.ttft_p50_ms, m.itl_p50_ms, m.req_per_s) == (51.2, 10.05, 170.0)
    assert m.window == (1002.0, 1010.0)
    # with per-request mean gaps in the samples, those are compared (as the plain user's)
    result["samples"] = {"itl_ms": [10.2, 10.0, 10.4]}
    assert peers.conformance_measured(result, started=1000.0).itl_p50_ms == 10.2


def test_row_takes_the_backend_lateness_off_ttft_only(peers: ModuleType) -> None:
    measured = peers.Measured(52.5, 10.1, 100.0, (0.0, 10.0))
    lateness = {"ttft_lateness_ms": {"p50": 1.5}, "itl_lateness_ms": {"p50": 1.6}}
    row = peers.make_row("plain", 64, 1, 1, measured, lateness, cpu_s=1.0)
    assert row.ttft_err_ms == pytest.approx(1.0)
    assert row.itl_err_ms == pytest.approx(0.1)
    assert row.cpu_ms_per_req == pytest.approx(1.0)  # 1 s of CPU over 1000 requests
    assert row.backend_lateness_p50_ms == pytest.approx(1.5)
    assert row.of_ideal == pytest.approx(100.0 / peers.ideal_rate(64))


def test_ratio_is_none_without_both_figures(peers: ModuleType) -> None:
    assert peers.ratio(1.0, 2.0) == pytest.approx(0.5)
    assert peers.ratio(None, 2.0) is None
    assert peers.ratio(1.0, 0.0) is None


def _row(peers: ModuleType, client: str, round_: int, ttft: float, cpu: float) -> object:
    return peers.Row(client, 64, 1, round_, ttft, 0.01, 170.0, 177.78, cpu, 0.6)


def test_summary_takes_medians_over_rounds_and_compares_error_sizes(peers: ModuleType) -> None:
    rows = [
        _row(peers, "conformance", 1, -0.5, 0.6),
        _row(peers, "conformance", 2, -0.7, 0.8),
        _row(peers, "plain", 1, 1.0, 1.0),
        _row(peers, "plain", 2, 1.4, 1.2),
    ]
    (entry,) = peers.summarise(rows)
    assert list(entry["clients"]) == ["conformance", "plain"]
    assert entry["clients"]["conformance"]["ttft_err_ms"] == pytest.approx(-0.6)
    assert entry["clients"]["plain"]["rounds"] == 2
    assert entry["clients"]["plain"]["per_round"]["cpu_ms_per_req"] == [1.0, 1.2]
    # |-0.6| / |1.2|: an error below the baseline's, whatever its sign
    assert entry["ratio"]["ttft_err_ms"] == pytest.approx(0.5)
    assert entry["ratio"]["cpu_ms_per_req"] == pytest.approx(0.7 / 1.1)
    table = peers.format_table([entry])
    assert "| 64 | 1 | conformance | -0.60 |" in table
    assert "| 64 | 1 | **ours / plain** | 0.50x |" in table


def test_other_tools_are_reported_absent(peers: ModuleType) -> None:
    found = peers.other_tools(which=lambda name: "/usr/bin/aiperf" if name == "aiperf" else None)
    assert found == {"aiperf": "/usr/bin/aiperf", "guidellm": None}
