"""The timing definitions on synthetic event timelines, histograms, reservoirs, aggregation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.metrics import (
    ErrorKind,
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
        ([(1, chunk("a"))], True, ErrorKind.TRUNCATED),  # no [DONE]
        ([(1, chunk("a")), (2, DONE)], False, ErrorKind.TRUNCATED),  # body cut
        ([(1, chunk(role="assistant")), (2, DONE)], True, ErrorKind.EMPTY),
        ([(1, b"{not json"), (2, DONE)], True, ErrorKind.MALFORMED),
        ([(1, b'{"usage": {oops}}'), (2, DONE)], True, ErrorKind.MALFORMED),
        (
            [(1, chunk("a")), (2, b'{"error": {"message": "boom"}}'), (3, DONE)],
            True,
            ErrorKind.STREAM_ERROR,
        ),
        ([(1, chunk("a")), (2, b'{"x": 1}', b"error"), (3, DONE)], True, ErrorKind.STREAM_ERROR),
    ],
)
def test_error_kinds(events: list, complete: bool, kind: ErrorKind) -> None:
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
    a.merge(Reservoir.from_wire(b.to_wire()))
    assert a.seen == 4000 and len(a.values) == 100
    assert sum(1 for v in a.values if v < 0) == 25  # in proportion to what each side saw


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
    failed = RequestTiming(t_send_ns=0, error=ErrorKind.HTTP_5XX, http_status=503)
    agg.record(failed, 1004.0, 1004.1, window)
    agg.record(_timing(0, 60, 90), 1009.9, 1010.5, window)  # done after the end: drained
    timeout = RequestTiming(t_send_ns=0, error=ErrorKind.READ_TIMEOUT)
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
