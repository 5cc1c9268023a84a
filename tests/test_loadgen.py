"""The load generator's pure parts: schedules, the SSE fast path, prompts, targets, results,
verdicts."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import ConfigError
from conformance.loadgen.options import LoadOptions, _seconds, add_arguments
from conformance.loadgen.prompts import PromptLength, load_prompts, synthetic_prompts
from conformance.loadgen.result import apply_server_lateness, build_result
from conformance.loadgen.runner import BenchSpec, _locust_args
from conformance.loadgen.schedule import arrival_offsets
from conformance.loadgen.sse_fast import EventScanner
from conformance.loadgen.target import Target, request_params
from conformance.loadgen.verdict import DEFAULT_MAX_FAILURE_RATE, failure_kinds_text, judge
from conformance.metrics import RequestTiming, RunAggregate, Window
from conformance.providers import get_provider
from conformance.wire.sse import SSEParser

# -- open-loop schedules ---------------------------------------------------------------


def test_constant_arrivals_are_evenly_spaced() -> None:
    offsets = list(itertools.islice(arrival_offsets(100.0, "constant"), 5))
    assert offsets == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])


def test_constant_streams_interleave_into_the_total_rate() -> None:
    merged = sorted(
        t
        for stream in range(4)
        for t in itertools.islice(arrival_offsets(40.0, "constant", stream=stream, streams=4), 10)
    )
    assert merged == pytest.approx([i / 40.0 for i in range(40)])


def test_poisson_arrivals_are_seeded_and_have_the_asked_rate() -> None:
    a = list(itertools.islice(arrival_offsets(50.0, "poisson", seed=7), 20000))
    b = list(itertools.islice(arrival_offsets(50.0, "poisson", seed=7), 20000))
    c = list(itertools.islice(arrival_offsets(50.0, "poisson", seed=8), 20000))
    assert a == b and a != c
    assert all(y >= x for x, y in itertools.pairwise(a))
    mean_gap = a[-1] / (len(a) - 1)
    assert mean_gap == pytest.approx(1 / 50.0, rel=0.03)
    gaps = [y - x for x, y in itertools.pairwise(a)]
    # exponential gaps: the standard deviation equals the mean
    mean = sum(gaps) / len(gaps)
    std = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
    assert std == pytest.approx(mean, rel=0.05)


def test_poisson_streams_are_independent() -> None:
    s0 = list(itertools.islice(arrival_offsets(10.0, "poisson", seed=1, stream=0, streams=2), 50))
    s1 = list(itertools.islice(arrival_offsets(10.0, "poisson", seed=1, stream=1, streams=2), 50))
    assert s0 != s1
    assert s0[-1] / 49 == pytest.approx(1 / 5.0, rel=0.5)  # each stream runs at half the rate


@pytest.mark.parametrize(
    ("rate", "kind", "stream", "streams"),
    [(0, "constant", 0, 1), (-1, "poisson", 0, 1), (1, "burst", 0, 1), (1, "constant", 2, 2)],
)
def test_bad_schedules_are_refused(rate: float, kind: str, stream: int, streams: int) -> None:
    with pytest.raises(ValueError):
        arrival_offsets(rate, kind, stream=stream, streams=streams)


# -- the SSE fast path is the reference parser on the same bytes -----------------------------


def _reference(data: bytes, cuts: list[int]) -> list[tuple[int, bytes | None, bytes | None]]:
    parser = SSEParser()
    out = []
    for t, piece in _pieces(data, cuts):
        for ev in parser.feed(piece, t):
            out.append(
                (
                    ev.t_ns,
                    None if ev.data is None else ev.data.encode(),
                    None if ev.event is None else ev.event.encode(),
                )
            )
    parser.close(999)
    return out


def _fast(
    data: bytes, cuts: list[int]
) -> tuple[list[tuple[int, bytes | None, bytes | None]], bool]:
    out: list[tuple[int, bytes | None, bytes | None]] = []
    scanner = EventScanner(lambda t, d, e: out.append((t, d, e)))
    for t, piece in _pieces(data, cuts):
        scanner.feed(piece, t)
    scanner.close(999)
    return out, scanner.uses_reference_parser


def _pieces(data: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [(i + 1, data[a:b]) for i, (a, b) in enumerate(itertools.pairwise(points)) if b > a]


_line = st.one_of(
    st.builds(
        lambda v: b"data: " + v,
        st.sampled_from([b'{"a":1}', b"[DONE]", b"x y", b"", b"caf\xc3\xa9"]),
    ),
    st.builds(lambda v: b"data:" + v, st.sampled_from([b'{"b":2}', b" two spaces"])),
    st.just(b"data"),
    st.builds(lambda v: b"event: " + v, st.sampled_from([b"error", b"message", b""])),
    st.just(b"event"),
    st.just(b": keep-alive"),
    st.just(b":"),
    st.just(b"id: 7"),
    st.just(b"retry: 100"),
    st.just(b"datum: unknown field"),
    st.just(b""),
)


@given(
    lines=st.lists(_line, max_size=14),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    tail=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_fast_scanner_matches_the_reference_parser(
    lines: list[bytes], ending: bytes, bom: bool, tail: bool, cuts: list[int]
) -> None:
    body = b"".join(line + ending for line in lines) + (ending if tail else b"")
    if bom:
        body = b"\xef\xbb\xbf" + body
    fast, used_reference = _fast(body, cuts)
    assert fast == _reference(body, cuts)
    if ending == b"\n" and not bom:
        assert not used_reference  # LF-only streams stay on the fast path


def test_fast_scanner_hands_over_mid_event_when_a_cr_appears() -> None:
    body = b"data: one\n\ndata: tw" + b"o\r\n\r\ndata: three\r\n\r\n"
    cuts = [len(b"data: one\n\ndata: tw")]
    fast, used_reference = _fast(body, cuts)
    assert used_reference
    assert fast == _reference(body, cuts)
    assert [d for _, d, _ in fast] == [b"one", b"two", b"three"]
    assert fast[1][0] == 1  # the event's first byte arrived with the first piece


# -- prompts ----------------------------------------------------------------------------


def test_synthetic_prompts_are_seeded_with_the_asked_length() -> None:
    a = synthetic_prompts(PromptLength(32, 8), 50, seed=3)
    assert a == synthetic_prompts(PromptLength(32, 8), 50, seed=3)
    assert a != synthetic_prompts(PromptLength(32, 8), 50, seed=4)
    lengths = [len(m[0]["content"].split()) for m in a]
    assert min(lengths) >= 1 and 24 <= sum(lengths) / len(lengths) <= 40
    fixed = synthetic_prompts(PromptLength(16), 5)
    assert {len(m[0]["content"].split()) for m in fixed} == {16}


@pytest.mark.parametrize("text", ["", "abc", "0", "10:-1", "1:x"])
def test_prompt_length_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        PromptLength.parse(text)


def test_prompt_length_parse() -> None:
    assert PromptLength.parse("128:32") == PromptLength(128, 32.0)
    assert PromptLength.parse("64") == PromptLength(64, 0.0)


def test_load_prompts_accepts_three_shapes(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}\n'
        '[{"role": "user", "content": "bare"}]\n\n'
        '{"prompt": "plain"}\n'
    )
    convs = load_prompts(path)
    assert [c[-1]["content"] for c in convs] == ["u", "bare", "plain"]


@pytest.mark.parametrize("text", ["not json\n", '{"x": 1}\n', "", '[{"role": "user"}]\n'])
def test_load_prompts_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_prompts(path)
    with pytest.raises(ConfigError):
        load_prompts(tmp_path / "missing.jsonl")


# -- targets are encoded by the provider profiles ------------------------------------------------


def test_openai_stream_requests_ask_for_usage() -> None:
    params = request_params(get_provider("openai"), stream=True, max_tokens=32)
    assert params == {"max_tokens": 32, "stream": True, "stream_options": {"include_usage": True}}
    assert "stream" not in request_params(get_provider("openai"), stream=False, max_tokens=8)


def test_target_prepares_what_the_profile_encodes() -> None:
    convs = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "yo"}]]
    target = Target(
        "weai",
        "http://127.0.0.1:9/weai/v1",
        model=None,
        stream=True,
        max_tokens=8,
        conversations=convs,
        api_key="sk-secret-123",
    )
    encoded = get_provider("weai", base_url="http://127.0.0.1:9/weai/v1").encode(
        convs[0],
        request_params(target.provider, stream=True, max_tokens=8),
        api_key="sk-secret-123",
    )
    first = target.next_request()
    assert first.body == encoded.content and first.path == "/weai/v1/chat/completions"
    assert first.headers["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in repr(first)
    assert target.origin == "http://127.0.0.1:9"
    assert target.next_request().body != first.body and target.next_request() is first


def test_wetrocloud_cannot_stream() -> None:
    with pytest.raises(ConfigError):
        Target(
            "wetrocloud",
            "http://127.0.0.1:9",
            model=None,
            stream=True,
            max_tokens=8,
            conversations=[[{"role": "user", "content": "hi"}]],
            api_key=None,
        )


# -- options -----------------------------------------------------------------------------------


def test_options_from_locust_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parsed = parser.parse_args(
        ["--rate", "5", "--arrival", "poisson", "--no-stream", "--prompt-tokens", "64:8"]
    )
    parsed.run_time = "1m30s"
    opts = LoadOptions.from_parsed(parsed)
    assert opts.rate == 5.0 and opts.arrival == "poisson" and not opts.stream
    assert opts.prompt_length == PromptLength(64, 8.0) and opts.run_time_s == 90.0
    assert opts.max_failure_rate == DEFAULT_MAX_FAILURE_RATE == 0.01
    parsed.max_failure_rate = 1.5
    with pytest.raises(ConfigError, match="--max-failure-rate"):
        LoadOptions.from_parsed(parsed)
    parsed.max_failure_rate = 0.2
    assert LoadOptions.from_parsed(parsed).max_failure_rate == 0.2
    parsed.max_tokens = 0
    with pytest.raises(ConfigError):
        LoadOptions.from_parsed(parsed)


# -- verdict -----------------------------------------------------------------------------------


def _judged(requests: int, failures: int, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "metrics": {"requests": requests, "failures": failures, **extra.pop("metrics", {})},
        "load": {"users": 4, "rate": None},
        **extra,
    }
    return result


@pytest.mark.parametrize(
    ("result", "status", "reason"),
    [
        (_judged(100, 0), "passed", None),
        (_judged(100, 1), "passed", None),  # 1 % is not above 1 %
        (_judged(100, 2, errors={"http_503": 2}), "failed", "failure rate 2.00% (2 of 100)"),
        (
            _judged(7, 7, errors={"read_timeout": 5, "http_401": 2}),
            "failed",
            "no successful request: all 7 failed: read_timeout x5, http_401 x2",
        ),
        (
            _judged(
                0,
                0,
                metrics={"warmup_requests": 2, "warmup_failures": 2},
                warmup_errors={"total_timeout": 2},
            ),
            "failed",
            "no request was sent after the warm-up, and all 2 sent during it failed: "
            "total_timeout x2",
        ),
        (
            _judged(0, 0, metrics={"warmup_requests": 3, "warmup_failures": 0}),
            "failed",
            "no request was sent after the warm-up (3 during it)",
        ),
    ],
)
def test_a_step_passes_only_with_successes_and_few_failures(
    result: dict[str, Any], status: str, reason: str | None
) -> None:
    verdict = judge(result, DEFAULT_MAX_FAILURE_RATE)
    assert result["verdict"] is verdict and verdict["status"] == status
    assert verdict["max_failure_rate"] == DEFAULT_MAX_FAILURE_RATE
    if reason is None:
        assert verdict["reason"] is None
    else:
        assert verdict["reason"].startswith(reason), verdict["reason"]


def test_the_rate_is_the_callers_and_a_rate_of_1_still_needs_a_success() -> None:
    assert judge(_judged(10, 9), 0.95)["status"] == "passed"
    assert judge(_judged(10, 10), 1.0)["status"] == "failed"
    assert judge(_judged(10, 1), 0.0)["status"] == "failed"


def test_a_sweep_fails_when_any_step_fails_and_names_it() -> None:
    steps = [_judged(50, 0), _judged(50, 40, errors={"http_429": 40}), _judged(50, 50)]
    steps[1]["load"] = {"users": 8, "rate": None}
    steps[2]["load"] = {"users": None, "rate": 20.0}
    top = {**steps[-1], "steps": steps}
    verdict = judge(top, 0.05)
    assert [s["verdict"]["status"] for s in steps] == ["passed", "failed", "failed"]
    assert verdict["status"] == "failed" and verdict["failed_steps"] == 2
    assert verdict["reason"].startswith("step 2/3 (8 users): failure rate 80.00% (40 of 50)")
    assert verdict["reason"].endswith("(and 1 more failed steps)")
    assert judge({**steps[0], "steps": [steps[0], steps[0]]}, 0.05)["status"] == "passed"


def test_failure_kinds_text_lists_the_commonest_first() -> None:
    kinds = {"a": 1, "b": 5, "c": 3, "d": 2, "e": 4, "zero": 0}
    assert failure_kinds_text(kinds, limit=3) == "b x5, e x4, c x3, 2 more kinds"
    assert failure_kinds_text({}) == ""


def test_in_flight_requests_get_the_timeout_to_finish() -> None:
    """The drain outlasts the request timeout: every request sent gets its verdict."""
    spec = BenchSpec(timeout_s=7.0)
    assert spec.drain_s > spec.timeout_s
    args = _locust_args(spec, "http://h/v1", 8.0, Path("r.json"), embedded=False)
    assert float(args[args.index("--stop-timeout") + 1]) == spec.drain_s
    assert float(args[args.index("--max-failure-rate") + 1]) == spec.max_failure_rate


@pytest.mark.parametrize(
    ("text", "seconds"), [(30, 30.0), ("45", 45.0), ("2m", 120.0), ("1h1s", 3601.0), (None, None)]
)
def test_run_time_spans(text: object, seconds: float | None) -> None:
    assert _seconds(text) == seconds


# -- results ---------------------------------------------------------------------------------


def _aggregate() -> RunAggregate:
    agg = RunAggregate()
    window = Window(100.0, 1.0, 5.0)
    for i in range(20):
        ms = 1_000_000
        t = RequestTiming(
            t_send_ns=0,
            ttft_ns=(51 + i % 3) * ms,
            e2e_ns=361 * ms,
            itl_ns=[10 * ms] * 31,
            output_tokens=32,
            content_events=32,
        )
        agg.record(t, 101.0 + i * 0.2, 101.5 + i * 0.2, window)
    return agg


def test_bench_result_structure_and_calibration() -> None:
    result = build_result(
        _aggregate(),
        provider="openai",
        base_url="http://127.0.0.1:1/v1",
        model="m",
        stream=True,
        users=4,
        rate=None,
        arrival=None,
        workers=1,
        duration_s=5.0,
        warmup_s=1.0,
        started_wall=100.0,
        stopped_wall=105.2,
        partial=False,
        true_ttft_ms=50.0,
        true_itl_ms=10.0,
    )
    for key in (
        "version",
        "kind",
        "provider",
        "base_url",
        "model",
        "stream",
        "load",
        "metrics",
        "partial",
        "warmup_s",
        "harness_version",
        "started_at",
        "duration_s",
        "errors",
        "usage_fallback",
        "calibration",
        "timeseries",
        "samples",
    ):
        assert key in result
    assert result["kind"] == "bench" and result["version"] == 1
    assert result["load"] == {
        "users": 4,
        "rate": None,
        "duration_s": 5.0,
        "arrival": None,
        "workers": 1,
        "model": "closed",
    }
    m = result["metrics"]
    for name in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
        assert set(m[name]) >= {"mean", "p50", "p90", "p99"}
    # completions at 101.5 + 0.2 i; 18 of them inside the window [101, 105]
    assert result["window_s"] == 4.0 and m["requests_per_s"] == pytest.approx(18 / 4)
    assert len(result["samples"]["ttft_ms"]) == 20
    cal = result["calibration"]
    assert cal["ttft_error_ms"]["p50"] == pytest.approx(2.0, abs=0.05)
    apply_server_lateness(
        result,
        {
            "ttft_lateness_ms": {"mean": 0.5, "p50": 0.5, "p90": 1, "p99": 2},
            "itl_lateness_ms": {"mean": 0.5, "p50": 0.4, "p90": 1, "p99": 3},
        },
    )
    assert cal["ttft_error_ms"]["p50"] == pytest.approx(1.5, abs=0.05)
    assert cal["itl_error_ms"]["p50"] == pytest.approx(0.0, abs=0.01)
    assert cal["server_lateness_ms"]["ttft"]["p50"] == 0.5
    json.dumps(result)  # JSON-ready


def test_open_loop_result_has_schedule_delay() -> None:
    result = build_result(
        _aggregate(),
        provider="openai",
        base_url="u",
        model="m",
        stream=True,
        users=1,
        rate=10.0,
        arrival="poisson",
        workers=1,
        duration_s=5.0,
        warmup_s=1.0,
        started_wall=100.0,
        stopped_wall=103.0,
        partial=True,
    )
    assert result["load"]["rate"] == 10.0 and result["load"]["model"] == "open"
    assert "schedule_delay_ms" in result["metrics"] and "latency_from_sched_ms" in result["metrics"]
    assert result["calibration"] is None and result["window_s"] == 2.0


# -- the bench runner's arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users": [4], "rates": [5.0]}, "not both"),
        ({"duration_s": -1.0}, "--duration"),
        ({"provider": "nope"}, "unknown provider"),
        ({"base_url": "ftp://x"}, "http"),
        ({"users": [0]}, "--users"),
        ({"rates": [0.0]}, "--rate"),
        ({"warmup_s": 30.0}, "--warmup"),
        ({"base_url": "http://127.0.0.1:1/v1", "ttft_ms": 5.0}, "embedded"),
        ({"prompt_tokens": "x"}, "--prompt-tokens"),
        ({"rates": [float("inf")]}, "finite"),
        ({"duration_s": 2.5}, "whole seconds"),
    ],
)
def test_bench_spec_errors(changes: dict, message: str) -> None:
    spec = BenchSpec(**changes)
    with pytest.raises(ConfigError, match=message):
        spec.validate()


def test_locust_arguments_never_carry_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    spec = BenchSpec(api_key_env="MY_KEY", rates=[100.0], workers=2, arrival="poisson")
    args = _locust_args(spec, "http://127.0.0.1:1/v1", 100.0, tmp_path / "r.json", embedded=True)
    assert "sk-very-secret" not in " ".join(args)
    assert args[args.index("--api-key-env") + 1] == "MY_KEY"
    assert args[-1] == "OpenLoopUser" and args[args.index("--users") + 1] == "2"
    assert "--processes" in args and "--true-ttft-ms" in args
    closed = _locust_args(
        BenchSpec(users=[8]), "http://h/v1", 8.0, tmp_path / "r.json", embedded=False
    )
    assert closed[-1] == "BenchUser" and "--true-ttft-ms" not in closed


@pytest.mark.parametrize(
    "pieces",
    [
        [b'data: {"a":1}\n\n', b'data:{"b":2}\n\ndata: [DONE]\n\n'],
        [b": ping\n", b"data: x\n\n"],
        [b"data: x\n\n", b"data: y\n", b"\n"],
        [b"data: x\n\ndata: y\ndata: z\n\n"],
        [b"data: x\n\n\n\ndata: y\n\n"],
    ],
)
def test_whole_event_fast_path_matches_the_reference(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    cuts = list(itertools.accumulate(len(p) for p in pieces))
    assert _fast(body, cuts)[0] == _reference(body, cuts)


def _snapshot_meta() -> dict[str, Any]:
    """The metadata a load process writes into its snapshots."""
    return {
        "provider": "openai",
        "base_url": "u",
        "model": "m",
        "stream": True,
        "users": 4,
        "rate": None,
        "arrival": None,
        "workers": 1,
        "duration_s": 5.0,
        "warmup_s": 1.0,
        "started_wall": 100.0,
        "stopped_wall": 104.0,
        "partial": False,
        "true_ttft_ms": None,
        "true_itl_ms": None,
        "notes": [],
    }


def test_snapshot_becomes_a_partial_result() -> None:
    from conformance.loadgen.result import result_from_snapshot

    meta = _snapshot_meta()
    snap = json.loads(
        json.dumps({"final": False, "snapshot": True, "meta": meta, "raw": _aggregate().to_wire()})
    )
    result = result_from_snapshot(snap)
    assert result["partial"] is True and result["metrics"]["requests"] == 20
    assert result["metrics"]["ttft_ms"]["p50"] is not None
    assert "workers" not in result  # a single process has no roster


def test_a_partial_result_from_a_masters_snapshot_names_its_workers() -> None:
    """The master crashed: the result rebuilt from its last snapshot still lists the
    workers it had, with what each had sent; one still measuring is ``unknown``."""
    from conformance.loadgen.result import result_from_snapshot
    from conformance.loadgen.roster import UNKNOWN_REASON, Roster
    from conformance.loadgen.verdict import judge_step

    wire = _aggregate().to_wire()
    roster = Roster(expected=3)
    roster.received("hosta_1a", wire, final=True, wall=104.0)
    roster.received("hostb_2b", wire, final=False, wall=103.0)
    snap = json.loads(
        json.dumps(
            {
                "final": False,
                "snapshot": True,
                "meta": {**_snapshot_meta(), "workers": 2},
                "raw": wire,
                "workers": roster.block(),
            }
        )
    )
    result = result_from_snapshot(snap)
    block = result["workers"]
    assert block["as_of_snapshot"] is True
    assert (block["expected"], block["connected"], block["reported"]) == (3, 2, 1)
    assert block["never_connected"] == 1
    by_id = {e["id"]: e for e in block["per_worker"]}
    assert by_id["hosta_1a"]["status"] == "reported" and by_id["hosta_1a"]["reason"] is None
    assert by_id["hostb_2b"]["status"] == "unknown"
    assert by_id["hostb_2b"]["reason"] == UNKNOWN_REASON
    assert by_id["hostb_2b"]["requests"] == 20 and by_id["hostb_2b"]["histograms"]["ttft"]
    assert by_id["hostb_2b"]["host"] == "hostb"
    # the expected worker that never came still fails the step; an unknown one is not
    # called lost (the master, not the worker, is what ended)
    verdict = judge_step(result, 0.01)
    assert verdict["status"] == "failed"
    assert verdict["reason"] == "1 of 3 expected workers never connected"


def test_result_files_get_the_mode_every_other_output_gets(tmp_path: Path) -> None:
    from conformance.loadgen.result import write_json_atomic

    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    written = tmp_path / "bench.json"
    write_json_atomic(written, {"kind": "bench"})
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert json.loads(written.read_text()) == {"kind": "bench"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_a_masters_window_is_the_one_its_workers_counted_over() -> None:
    """Two workers of 4 users each, in step against a punctual backend (one answer every
    362.5 ms: ideal 22.07 req/s), 6 s with a 2 s warm-up. Each worker counts completions
    over its own window, which opens when the master's start reaches it (250 ms late on a
    busy machine) and closes when the master's stop does (30 ms late): 220 ms shorter
    than the master's span, and the round of completions at 5.8 s falls outside it.
    Dividing by the master's span read 20.0 req/s; dividing by the windows the workers
    report gives what was counted over what it was counted for."""
    from conformance.loadgen.result import build_result, measured_window_s

    master_start, warm, run_time, answer = 1000.0, 2.0, 6.0, 0.3625
    master_stopping = master_start + run_time - 0.002
    agg = RunAggregate()
    windows = []
    for worker_start in (master_start + 0.25, master_start + 0.25):
        window = Window(worker_start, warm, run_time)
        window.end = master_stopping + 0.030  # the stop reaches the worker
        windows.append(window.end - window.measure_from)
        for user in range(4):
            done = worker_start + answer
            while done < worker_start + run_time + 1.0:  # completions while it drains too
                timing = RequestTiming(
                    t_send_ns=0, ttft_ns=50_000_000, e2e_ns=362_500_000, itl_ns=[], output_tokens=32
                )
                agg.record(timing, done - answer, done + user * 1e-4, window)
                done += answer
    # a worker's window: the end of its warm-up to the stop reaching it
    assert windows == [pytest.approx(3.778), pytest.approx(3.778)]
    span = {"duration_s": run_time, "warmup_s": warm, "stopping_wall": master_stopping}
    stopped = master_stopping + 0.04
    assert measured_window_s(master_start, stopped, **span) == pytest.approx(3.998)
    with_workers = measured_window_s(master_start, stopped, **span, worker_windows_s=windows)
    assert with_workers == pytest.approx(3.778)
    # a single process: its span, capped by the duration and the stop, less the warm-up
    assert measured_window_s(0.0, 9.0, duration_s=6.0, warmup_s=1.0) == 5.0
    assert measured_window_s(0.0, 9.0, duration_s=6.0, warmup_s=1.0, stopping_wall=4.5) == 3.5
    assert measured_window_s(0.0, 0.5, duration_s=6.0, warmup_s=1.0) == 0.0
    assert (
        measured_window_s(0.0, 9.0, duration_s=6.0, warmup_s=1.0, worker_windows_s=[4.0, 5.0])
        == 4.5
    )

    # rounds 6 .. 15 of each worker's users fell in its window: 10 rounds of 8 completions
    assert agg.counts["window_requests"] == 80
    meta: dict[str, Any] = {
        "provider": "openai",
        "base_url": "u",
        "model": "m",
        "stream": True,
        "users": 8,
        "rate": None,
        "arrival": None,
        "workers": 2,
        "duration_s": run_time,
        "warmup_s": warm,
        "started_wall": master_start,
        "stopped_wall": stopped,
        "stopping_wall": master_stopping,
        "partial": False,
    }
    before = build_result(agg, **meta)
    assert before["metrics"]["requests_per_s"] == pytest.approx(20.0, abs=0.02)
    after = build_result(agg, **meta, worker_windows_s=windows)
    assert after["window_s"] == pytest.approx(3.778, abs=1e-3)
    assert after["metrics"]["requests_per_s"] == pytest.approx(80 / 3.778, abs=1e-2)
    # what remains below the ideal is the rounding of in-step users: a window of 3.78 s
    # holds 10 or 11 rounds of 362.5 ms depending on where the rounds fall in it
    ideal = 8 / answer
    assert 80 / 3.778 < ideal < 88 / 3.778
