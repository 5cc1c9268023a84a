"""``conformance bench`` against an independent timed server (tests/bench_redteam/server.py).

Short runs of the most telling framings; only correctness is asserted (what is counted
as the first token, how many tokens and gaps are counted, that no request is lost),
never timing tolerances: the timing figures live in benchmarks/bench_redteam.py.
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.loadgen.result import build_result
from conformance.loadgen.runner import BenchSpec, run_bench
from conformance.metrics import RequestTiming
from conformance.metrics.aggregate import RunAggregate, Window
from tests.bench_redteam import running_server

TTFT_MS = 60.0
ITL_MS = 4.0
TOKENS = 8
USERS = 3


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with running_server(TTFT_MS, ITL_MS, limit_s=120) as url:
        yield url


def _stats(root: str, reset: bool = False) -> dict[str, Any]:
    req = urllib.request.Request(root + ("/stats/reset" if reset else "/stats"))
    if reset:
        req.method = "POST"
        req.data = b""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _bench(root: str, framing: str) -> tuple[dict[str, Any], dict[str, Any]]:
    _stats(root, reset=True)
    spec = BenchSpec(
        provider="openai",
        base_url=f"{root}/{framing}/v1",
        users=[USERS],
        duration_s=3.0,
        warmup_s=0.5,
        max_tokens=TOKENS,
        timeout_s=20.0,
    )
    result = run_bench(spec)
    return result, _stats(root)


def _no_request_lost(result: dict[str, Any], stats: dict[str, Any]) -> None:
    m = result["metrics"]
    assert m["failures"] == 0, result["errors"]
    assert m["requests"] > 0
    served = sum(stats["completed"].values())
    assert served == sum(stats["started"].values())
    # plus the one preflight request a bench sends to a base URL before the load
    assert m["requests"] + m["warmup_requests"] + 1 == served


def test_role_only_first_chunk_is_not_the_first_token(root: str) -> None:
    """vLLM framing: the role chunk leaves at the headers, the first token TTFT later."""
    result, stats = _bench(root, "vllm")
    _no_request_lost(result, stats)
    m = result["metrics"]
    # the server never sends a token early, and the client's clock starts before the
    # server's: every measured TTFT is at least the true one (a role chunk taken as the
    # first token would read about 0 ms)
    assert m["ttft_ms"]["min"] >= TTFT_MS
    assert not result["usage_fallback"]
    assert m["output_tokens"] == m["requests"] * TOKENS
    assert m["itl_ms"]["count"] == m["requests"] * (TOKENS - 1)


def test_comments_and_crlf_are_not_tokens_and_fallback_counts_every_chunk(root: str) -> None:
    """``: ping`` comments between tokens; no usage chunk: tokens are counted from events."""
    result, stats = _bench(root, "ping")
    _no_request_lost(result, stats)
    m = result["metrics"]
    assert m["ttft_ms"]["min"] >= TTFT_MS
    assert m["itl_ms"]["count"] == m["requests"] * (TOKENS - 1)  # no gap to or from a ping

    result, stats = _bench(root, "no_usage")
    _no_request_lost(result, stats)
    m = result["metrics"]
    assert result["usage_fallback"]
    assert m["usage_fallback_requests"] == m["requests"]
    assert m["output_tokens"] == m["requests"] * TOKENS
    # counted tokens say nothing about coalescing: tokens per chunk is unknown, not 1.0
    assert m["tokens_per_chunk"]["count"] == 0


def test_coalesced_chunks_report_tokens_per_chunk(root: str) -> None:
    """Four tokens per chunk: ITL is the inter-chunk gap, tokens per chunk shows the 4."""
    result, stats = _bench(root, "coalesced4")
    _no_request_lost(result, stats)
    m = result["metrics"]
    chunks = math.ceil(TOKENS / 4)
    assert m["tokens_per_chunk"]["p50"] == pytest.approx(4.0, rel=1e-2)  # 3 digits kept
    assert m["output_tokens"] == m["requests"] * TOKENS  # from usage, not from chunks
    assert m["itl_ms"]["count"] == m["requests"] * (chunks - 1)
    assert m["ttft_ms"]["min"] >= TTFT_MS


def test_throughput_window_ends_when_the_load_stops() -> None:
    """Completions while the run drains are not load: the window ends at ``stopping_wall``."""
    window = Window(100.0, 1.0, 10.0)
    agg = RunAggregate()
    for i in range(10):  # one completion every 0.5 s from 101.25 s to 105.75 s
        t = RequestTiming(t_send_ns=0, ttft_ns=1, e2e_ns=2, itl_ns=[], output_tokens=1)
        agg.record(t, 100.75 + i * 0.5, 101.25 + i * 0.5, window)
    window.end = 106.0  # the run began to stop here; later completions drain
    for i in range(4):
        t = RequestTiming(t_send_ns=0, ttft_ns=1, e2e_ns=2, itl_ns=[], output_tokens=1)
        agg.record(t, 105.9, 106.1 + i * 0.1, window)
    result = build_result(
        agg,
        provider="openai",
        base_url="http://127.0.0.1:1/v1",
        model="m",
        stream=True,
        users=1,
        rate=None,
        arrival=None,
        workers=1,
        duration_s=10.0,
        warmup_s=1.0,
        started_wall=100.0,
        stopped_wall=106.5,
        stopping_wall=106.0,
        partial=False,
    )
    assert result["window_s"] == pytest.approx(5.0)
    # only the completions at 101.25 .. 105.75 fall in [101, 106]
    assert result["metrics"]["window_requests"] == 10
    assert result["metrics"]["requests_per_s"] == pytest.approx(2.0)
