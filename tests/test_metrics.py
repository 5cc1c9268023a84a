"""The timing definitions on synthetic event timelines, histograms, reservoirs, aggregation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.metrics import (
    FailureKind,
    LatencyHistogram,
    RequestTiming,
    Reservoir,
    RunAggregate,
    Window,
    chunk_has_content,
    json_chunk_has_content,
    summarize_values,
    timeline_timing,
)

MS = 1_000_000  # nanoseconds per millisecond


def chunk(
    content: str | None = None, *, role: str | None = None, finish: str | None = None
) -> bytes:
    delta: dict[str, str] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return json.dumps(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    ).encode()


def usage_chunk(completion_tokens: int) -> bytes:
    return json.dumps(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": 5,
                "completion_tokens": completion_tokens,
                "total_tokens": 5 + completion_tokens,
            },
        }
    ).encode()


DONE = b"[DONE]"


def test_role_only_first_chunk_is_not_the_first_token() -> None:
    events = [
        (10 * MS, chunk(role="assistant")),
        (50 * MS, chunk("Hello")),
        (60 * MS, chunk(" world")),
        (70 * MS, chunk(finish="stop")),
        (71 * MS, usage_chunk(2)),
        (72 * MS, DONE),
    ]
    t = timeline_timing(0, events)
    assert t.error is None
    assert t.ttft_ns == 50 * MS
    assert t.e2e_ns == 60 * MS
    assert t.itl_ns == [10 * MS]
    assert t.output_tokens == 2 and not t.usage_fallback


def test_role_and_content_in_the_first_chunk_counts() -> None:
    events = [(20 * MS, chunk("Hi", role="assistant")), (30 * MS, chunk("!")), (31 * MS, DONE)]
    t = timeline_timing(0, events)
    assert t.ttft_ns == 20 * MS and t.content_events == 2


def test_trailing_usage_chunk_does_not_extend_e2e_and_gives_n_out() -> None:
    events = [
        (50 * MS, chunk("a")),
        (60 * MS, chunk("b")),
        (70 * MS, chunk("c")),
        (90 * MS, usage_chunk(3)),
        (91 * MS, DONE),
    ]
    t = timeline_timing(5 * MS, events)
    assert t.ttft_ns == 45 * MS
    assert t.e2e_ns == 65 * MS
    assert t.tpot_ns == pytest.approx(10 * MS)
    assert t.output_tokens == 3


def test_coalesced_chunks_show_in_tokens_per_chunk_and_tpot() -> None:
    # three chunks carrying six tokens between them (the server coalesced pairs)
    events = [
        (50 * MS, chunk("ab")),
        (70 * MS, chunk("cd")),
        (90 * MS, chunk("ef")),
        (91 * MS, usage_chunk(6)),
        (92 * MS, DONE),
    ]
    t = timeline_timing(0, events)
    assert t.itl_ns == [20 * MS, 20 * MS]
    assert t.tokens_per_chunk == pytest.approx(2.0)
    assert t.tpot_ns == pytest.approx(40 * MS / 5)


def test_usage_fallback_counts_content_events_and_says_so() -> None:
    events = [(50 * MS, chunk("a")), (60 * MS, chunk("b")), (61 * MS, DONE)]
    t = timeline_timing(0, events)
    assert t.usage_fallback
    assert t.output_tokens == 2
    assert t.tpot_ns == pytest.approx(10 * MS)


def test_usage_with_content_in_one_chunk() -> None:
    both = json.dumps(
        {"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": {"completion_tokens": 1}}
    ).encode()
    t = timeline_timing(0, [(7 * MS, both), (8 * MS, DONE)])
    assert t.ttft_ns == 7 * MS and t.output_tokens == 1 and not t.usage_fallback
    assert t.tpot_ns is None  # undefined with a single output token


@pytest.mark.parametrize(
    ("events", "complete", "kind"),
    [
        ([(1, chunk("a"))], True, FailureKind.TRUNCATED),  # no [DONE]
        ([(1, chunk("a")), (2, DONE)], False, FailureKind.TRUNCATED),  # body cut
        ([(1, chunk(role="assistant")), (2, DONE)], True, FailureKind.EMPTY),
        ([(1, b"{not json"), (2, DONE)], True, FailureKind.MALFORMED),
        ([(1, b'{"usage": {oops}}'), (2, DONE)], True, FailureKind.MALFORMED),
        (
            [(1, chunk("a")), (2, b'{"error": {"message": "boom"}}'), (3, DONE)],
            True,
            FailureKind.STREAM_ERROR,
        ),
        ([(1, chunk("a")), (2, b'{"x": 1}', b"error"), (3, DONE)], True, FailureKind.STREAM_ERROR),
    ],
)
def test_failure_kinds(events: list, complete: bool, kind: FailureKind) -> None:
    assert timeline_timing(0, events, complete=complete).error is kind


def test_events_after_done_are_ignored() -> None:
    t = timeline_timing(0, [(1 * MS, chunk("a")), (2 * MS, DONE), (3 * MS, chunk("late"))])
    assert t.e2e_ns == 1 * MS and t.error is None


def test_open_loop_fields() -> None:
    t = RequestTiming(t_send_ns=105 * MS, e2e_ns=300 * MS, t_sched_ns=100 * MS)
    assert t.schedule_delay_ns == 5 * MS
    assert t.latency_from_sched_ns == 305 * MS


_deltas = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["assistant", ""]),
        "content": st.one_of(st.none(), st.text(max_size=8)),
        "reasoning_content": st.one_of(st.none(), st.text(max_size=4)),
        "tool_calls": st.one_of(
            st.just([]), st.just([{"index": 0, "function": {"arguments": '{"content": "x"}'}}])
        ),
        "refusal": st.one_of(st.none(), st.text(max_size=4)),
    },
)
_chunks = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries({"index": st.just(0), "delta": _deltas}), max_size=2
        )
    },
    optional={
        "usage": st.one_of(st.none(), st.just({"completion_tokens": 3})),
        "logprobs": st.just({"content": [{"token": "a"}]}),
        "note": st.text(max_size=10),
    },
)


@given(obj=_chunks, spaced=st.booleans(), ascii_only=st.booleans())
def test_byte_pattern_agrees_with_parsing_the_chunk(
    obj: dict, spaced: bool, ascii_only: bool
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    data = json.dumps(obj, separators=separators, ensure_ascii=ascii_only).encode()
    assert chunk_has_content(data) == json_chunk_has_content(obj)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"choices":[{"delta":{"content":"a"}}]}', True),
        (b'{"choices":[{"delta":{"role":"assistant","content":""}}]}', False),
        # an empty "content" first, the content in a later key: not settled at the first key
        (b'{"choices":[{"delta":{"content":"","reasoning_content":"think"}}]}', True),
        (b'{"choices":[{"delta":{"content":null,"tool_calls":[{"index":0}]}}]}', True),
        (b'{"choices":[{"delta":{"function_call":{"name":"f"}}}]}', True),
        (b'{"choices":[],"usage":{"completion_tokens":3}}', False),
    ],
)
def test_byte_pattern_shortcuts_agree_with_the_full_pattern(data: bytes, expected: bool) -> None:
    obj = json.loads(data)
    assert chunk_has_content(data) is expected
    assert json_chunk_has_content(obj) is expected


def test_histogram_keeps_microseconds_and_summarises_in_ms() -> None:
    h = LatencyHistogram()
    for v in (50.123, 50.456, 51.0, 52.0, 200.0):
        h.record_ms(v)
    s = h.summary()
    assert s["count"] == 5
    assert s["p50"] == pytest.approx(51.0, abs=0.06)
    assert s["min"] == pytest.approx(50.123, abs=0.06)
    assert s["max"] == pytest.approx(200.0, abs=0.2)
    assert LatencyHistogram().summary()["p50"] is None


def test_histogram_merge_equals_recording_everything_in_one() -> None:
    values_a = [i * 0.37 for i in range(1, 500)]
    values_b = [i * 1.9 for i in range(1, 300)]
    a, b, whole = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for v in values_a:
        a.record_ms(v)
        whole.record_ms(v)
    for v in values_b:
        b.record_ms(v)
        whole.record_ms(v)
    merged = LatencyHistogram.decode(a.encode())
    merged.merge(LatencyHistogram.decode(b.encode()))
    assert merged.summary() == whole.summary()


def test_summarize_values_handles_negative_errors() -> None:
    s = summarize_values([-1.0, 0.5, 2.0, 3.0])
    assert s["p50"] == 0.5 and s["min"] == -1.0 and s["mean"] == pytest.approx(1.125)


def test_reservoir_bounds_and_merge() -> None:
    a, b = Reservoir(100, seed=1), Reservoir(100, seed=2)
    for i in range(3000):
        a.add(float(i))
    for _ in range(1000):
        b.add(-1.0)
    assert len(a.values) == 100 and a.seen == 3000
    assert len(set(a.values)) == 100 and all(0 <= v < 3000 for v in a.values)
    a.merge(Reservoir.from_wire(b.to_wire()))
    assert a.seen == 4000 and len(a.values) == 100


def test_a_merged_sample_has_each_sides_share_as_a_uniform_sample_would() -> None:
    """Merging 3000 values with 1000 into 100: the count from the smaller side is
    hypergeometric (mean 25, variance 100 * 1/4 * 3/4 * 3900/3999 = 18.3), not fixed."""
    counts = []
    for seed in range(400):
        a, b = Reservoir(100, seed=seed), Reservoir(100, seed=10_000 + seed)
        a.add_many([float(i) for i in range(3000)])
        b.add_many([-1.0] * 1000)
        a.merge(Reservoir.from_wire(b.to_wire(), 100, seed))
        assert len(a.values) == 100
        counts.append(sum(1 for v in a.values if v < 0))
    mean = sum(counts) / len(counts)
    var = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1)
    assert 24.0 < mean < 26.0, mean
    assert 13.0 < var < 25.0, var


def _deciles(values: list[float], n: int) -> list[int]:
    out = [0] * 10
    for v in values:
        out[int(v) * 10 // n] += 1
    return out


def test_a_master_merging_small_deltas_keeps_a_uniform_sample() -> None:
    """A Locust master folds in a delta from a worker every few seconds: 400 deltas of 50
    values into a sample of 500. Every tenth of the stream keeps its tenth of the sample
    (a merge that rounds each side's share leaves the small late deltas out)."""
    n, cap, runs = 20_000, 500, 40
    total = [0] * 10
    for seed in range(runs):
        master = Reservoir(cap, seed=seed)
        for start in range(0, n, 50):
            delta = Reservoir(cap, seed=100_000 + start)
            delta.add_many([float(v) for v in range(start, start + 50)])
            master.merge(Reservoir.from_wire(delta.to_wire(), cap))
        assert master.seen == n and len(master.values) == cap == len(set(master.values))
        total = [t + d for t, d in zip(total, _deciles(master.values, n), strict=True)]
    expected = runs * cap / 10  # 2000 per tenth; a binomial sd of 42
    assert all(abs(t - expected) < 200 for t in total), total


def test_offering_a_batch_is_offering_each_value() -> None:
    one, many = Reservoir(50, seed=3), Reservoir(50, seed=3)
    values = [float(v) for v in range(5000)]
    for v in values:
        one.add(v * 0.5)
    for start in range(0, 5000, 37):
        many.add_many(values[start : start + 37], 0.5)
    assert one.seen == many.seen == 5000
    assert one.values == many.values


def test_batches_and_merges_keep_every_part_of_the_stream_equally() -> None:
    """Batches of every size, then a merge, then more values: each tenth keeps a tenth."""
    n, cap, runs = 10_000, 200, 100
    total = [0] * 10
    for seed in range(runs):
        first, second = Reservoir(cap, seed=seed), Reservoir(cap, seed=seed + 500)
        first.add_many([float(v) for v in range(n // 2)])
        second.add_many([float(v) for v in range(n // 2, 3 * n // 4)])
        first.merge(second)
        for start in range(3 * n // 4, n, 7):
            first.add_many([float(v) for v in range(start, min(n, start + 7))])
        assert first.seen == n and len(set(first.values)) == cap
        total = [t + d for t, d in zip(total, _deciles(first.values, n), strict=True)]
    expected = runs * cap / 10  # 2000 per tenth
    assert all(abs(t - expected) < 200 for t in total), total


def test_the_aggregate_samples_every_gap_as_the_itl_histogram_counts_them() -> None:
    window = Window(start=0.0, warmup_s=1.0, duration_s=None)
    agg = RunAggregate(sample_capacity=300)
    agg.record(_timing(0, 50, 350, tokens=4), 0.5, 0.9, window)  # warm-up: left out
    for i in range(100):  # 100 requests, gaps of (i + 1) ms, 3 each
        agg.record(_timing(0, 50, 50 + 3 * (i + 1), tokens=4), 1.0 + i, 1.5 + i, window)
    failed = RequestTiming(t_send_ns=0, error=FailureKind.TRUNCATED, itl_ns=[7 * MS])
    agg.record(failed, 2.0, 2.1, window)  # a failed request's gaps are not counted
    samples = agg.sample_values()
    assert sorted(samples["itl_gap_ms"]) == sorted(
        float(i + 1) for i in range(100) for _ in range(3)
    )
    assert len(samples["itl_ms"]) == 100  # each request's mean gap, as before
    m = agg.metrics_block(10.0, open_loop=False)
    assert m["itl_ms"]["count"] == len(samples["itl_gap_ms"]) == 300
    # past the capacity the sample is bounded, and still follows the histogram
    for i in range(2000):
        agg.record(_timing(0, 50, 50 + 3 * (i % 100 + 1), tokens=4), 200.0, 200.5, window)
    gaps = agg.sample_values()["itl_gap_ms"]
    assert len(gaps) == 300 and set(gaps) <= {float(i + 1) for i in range(100)}
    hist = agg.metrics_block(10.0, open_loop=False)["itl_ms"]
    assert hist["count"] == 6300
    assert summarize_values(gaps)["p50"] == pytest.approx(hist["p50"], abs=8)


def test_every_gap_sample_survives_the_trip_from_workers_to_the_master() -> None:
    window = Window(start=0.0, warmup_s=0.0, duration_s=None)
    workers = [RunAggregate(sample_capacity=400, seed=s) for s in (1, 2)]
    for i in range(120):
        workers[i % 2].record(_timing(0, 40, 40 + 3 * (1 + i % 2), tokens=4), 1.0, 1.2, window)
    master = RunAggregate(sample_capacity=400)
    for w in workers:
        master.merge_wire(json.loads(json.dumps(w.to_wire())))
    gaps = master.sample_values()["itl_gap_ms"]
    # 360 gaps fit: all of them, 180 of 1 ms (the first worker) and 180 of 2 ms
    assert sorted(gaps) == [1.0] * 180 + [2.0] * 180


def _timing(t_send_ms: float, ttft_ms: float, e2e_ms: float, tokens: int = 4) -> RequestTiming:
    gap = (e2e_ms - ttft_ms) / (tokens - 1)
    return RequestTiming(
        t_send_ns=int(t_send_ms * MS),
        ttft_ns=int(ttft_ms * MS),
        e2e_ns=int(e2e_ms * MS),
        itl_ns=[int(gap * MS)] * (tokens - 1),
        output_tokens=tokens,
        content_events=tokens,
    )


def test_aggregate_excludes_warmup_and_counts_throughput_by_completion() -> None:
    window = Window(start=1000.0, warmup_s=2.0, duration_s=10.0)
    agg = RunAggregate()
    agg.record(_timing(0, 500, 800), 1000.5, 1001.3, window)  # warm-up
    agg.record(_timing(0, 500, 800), 1001.5, 1002.3, window)  # sent in warm-up, done in window
    agg.record(_timing(0, 50, 80), 1003.0, 1003.1, window)
    failed = RequestTiming(t_send_ns=0, error=FailureKind.HTTP_5XX, http_status=503)
    agg.record(failed, 1004.0, 1004.1, window)
    agg.record(_timing(0, 60, 90), 1009.9, 1010.5, window)  # done after the end: drained
    timeout = RequestTiming(t_send_ns=0, error=FailureKind.READ_TIMEOUT)
    agg.record(timeout, 1001.0, 1001.9, window)  # a warm-up failure, counted apart
    m = agg.metrics_block(8.0, open_loop=False)
    assert m["requests"] == 3 and m["failures"] == 1 and m["warmup_requests"] == 3
    assert m["successful_requests"] == 2 and m["failed_requests"] == 1
    assert m["failure_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert m["warmup_failures"] == 1
    assert m["window_requests"] == 3  # completions inside [1002, 1010]
    # throughput counts the successful completions only; the failed one has its own figure
    assert m["requests_per_s"] == m["successful_requests_per_s"] == pytest.approx(2 / 8)
    assert m["failed_requests_per_s"] == pytest.approx(1 / 8)
    assert m["output_tokens_per_s"] == pytest.approx(8 / 8)
    assert m["ttft_ms"]["count"] == 2 and m["ttft_ms"]["max"] == pytest.approx(60, abs=0.1)
    # a non-2xx answer is counted by its status, anything else by its kind
    assert agg.errors == {"http_503": 1}
    assert agg.warmup_errors == {"read_timeout": 1}
    rows = {row["t_s"]: row for row in agg.timeseries(1000.0)}
    assert rows[4] == {**rows[4], "requests": 1, "successful": 0, "failures": 1}
    assert rows[3] == {**rows[3], "requests": 1, "successful": 1, "failures": 0}
    assert "schedule_delay_ms" not in m


def test_no_request_means_no_failure_rate() -> None:
    m = RunAggregate().metrics_block(5.0, open_loop=False)
    assert m["requests"] == 0 and m["failure_rate"] is None and m["requests_per_s"] == 0


def test_aggregate_merge_across_processes_is_lossless() -> None:
    window = Window(start=0.0, warmup_s=0.0, duration_s=None)
    one, w1, w2 = RunAggregate(), RunAggregate(), RunAggregate()
    for i in range(200):
        t = _timing(0, 40 + i * 0.1, 100 + i * 0.3)
        t.t_sched_ns = -2 * MS
        (w1 if i % 2 else w2).record(t, 1.0 + i * 0.01, 2.0 + i * 0.01, window)
        one.record(t, 1.0 + i * 0.01, 2.0 + i * 0.01, window)
    master = RunAggregate()
    master.merge_wire(json.loads(json.dumps(w1.to_wire())))
    master.merge_wire(json.loads(json.dumps(w2.to_wire())))
    a = master.metrics_block(5.0, open_loop=True)
    b = one.metrics_block(5.0, open_loop=True)
    assert a == b
    assert a["schedule_delay_ms"]["p50"] == pytest.approx(2.0, abs=0.01)
    assert master.timeseries(0.0) == one.timeseries(0.0)


@given(
    values=st.lists(
        st.floats(min_value=0.0005, max_value=3_000_000.0, allow_nan=False),
        min_size=1,
        max_size=300,
    )
)
def test_fast_summary_is_hdrhistograms_own(values: list[float]) -> None:
    h = LatencyHistogram()
    for v in values:
        h.record_ms(v)
    assert h.summary() == h.reference_summary()
    for p in (0.1, 25.0, 99.9, 100.0):
        assert h.percentile_ms(p) == h._h.get_value_at_percentile(p) / 1000.0


def test_wire_form_is_stable_while_rows_are_cached() -> None:
    window = Window(start=0.0, warmup_s=0.0, duration_s=None)
    agg = RunAggregate()
    agg.record(_timing(0, 40, 100), 1.0, 2.5, window)
    first = agg.to_wire()
    agg.record(_timing(0, 60, 120), 1.0, 2.7, window)  # the same second changes
    agg.record(_timing(0, 50, 110), 1.0, 3.2, window)  # a new second
    second = agg.to_wire(pause=lambda: None)
    assert first["series"]["2"] != second["series"]["2"] and "3" in second["series"]
    fresh = RunAggregate()
    fresh.merge_wire(second)
    assert fresh.timeseries(0.0) == agg.timeseries(0.0)


@given(values=st.lists(st.integers(min_value=-5, max_value=5_000_000_000_000), max_size=200))
def test_buffered_recording_is_hdrhistograms_record_value(values: list[int]) -> None:
    from hdrh.histogram import HdrHistogram

    ours = LatencyHistogram()
    ours.record_many_ns(values[: len(values) // 2])
    for v in values[len(values) // 2 :]:
        ours.record_ns(v)
    reference = HdrHistogram(1, 3_600_000_000, 3)
    for v in values:
        reference.record_value(min(max((v + 500) // 1000, 1), 3_600_000_000))
    assert ours.count == len(values)
    ours._flush()
    assert list(ours._h.counts) == list(reference.counts)
    assert ours._h.get_total_count() == reference.get_total_count()
    assert ours._h.get_min_value() == reference.get_min_value()
    assert ours._h.get_max_value() == reference.get_max_value()


def test_buffer_flushes_when_full() -> None:
    h = LatencyHistogram()
    h.record_many_ns([1_000_000] * (LatencyHistogram.FLUSH_AT + 5))
    assert h.count == LatencyHistogram.FLUSH_AT + 5
    assert len(h._pending) == 0
    assert h.summary()["p50"] == pytest.approx(1.0)
