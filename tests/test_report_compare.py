"""Baseline comparison: a real shift is flagged, noise is not, and no samples means no verdict."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from test_report_support import sample, synthetic_bench

from conformance.report import compare
from conformance.report._compare import IMPROVED, NOT_JUDGED, REGRESSED, UNCHANGED
from conformance.report._stats import bootstrap_diff


def _latency(seed: int, n: int = 400, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * scale * rng.lognormal(0.0, 0.3, n)


def _verdicts(comp, metric: str = "ttft_ms") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.stat: m.verdict for m in comp.metric_changes if m.metric == metric}


def test_a_real_shift_is_flagged() -> None:
    base = synthetic_bench(_latency(1))
    cur = synthetic_bench(_latency(2, scale=1.25))
    comp = compare([cur], [base])
    assert _verdicts(comp)["p50"] == REGRESSED
    assert comp.regressed
    m = next(m for m in comp.metric_changes if m.metric == "ttft_ms" and m.stat == "p50")
    assert m.interval is not None and m.interval.low > 0
    assert m.rel is not None and 0.1 < m.rel < 0.4


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_noise_is_not_flagged(seed: int) -> None:
    base = synthetic_bench(_latency(seed, n=600))
    cur = synthetic_bench(_latency(seed + 100, n=600))
    comp = compare([cur], [base])
    assert not comp.regressed
    assert _verdicts(comp) == {"p50": UNCHANGED, "p90": UNCHANGED, "p99": UNCHANGED}


def test_an_improvement_is_not_a_regression() -> None:
    comp = compare([synthetic_bench(_latency(7, scale=0.7))], [synthetic_bench(_latency(8))])
    assert _verdicts(comp)["p50"] == IMPROVED
    assert not comp.regressed


def test_a_tiny_but_clear_shift_stays_below_the_threshold() -> None:
    base = _latency(9, n=4000)
    comp = compare([synthetic_bench(base * 1.02)], [synthetic_bench(base)])
    m = next(m for m in comp.metric_changes if m.metric == "ttft_ms" and m.stat == "p50")
    assert m.interval is not None and m.interval.low > 0  # statistically clear ...
    assert m.verdict == UNCHANGED  # ... but 2 % is under the 5 % threshold
    strict = compare([synthetic_bench(base * 1.02)], [synthetic_bench(base)], min_change=0.01)
    assert _verdicts(strict)["p50"] == REGRESSED


def test_without_samples_significance_is_not_judged_and_nothing_is_flagged() -> None:
    base = synthetic_bench(_latency(10), with_samples=False)
    cur = synthetic_bench(_latency(11, scale=3.0), with_samples=False)
    comp = compare([cur], [base])
    verdicts = _verdicts(comp)
    assert set(verdicts.values()) == {NOT_JUDGED}
    assert not comp.regressed
    m = next(m for m in comp.metric_changes if m.metric == "ttft_ms")
    assert "could not be judged" in m.basis and m.delta is not None and m.delta > 0


def test_sample_files_regression_and_noise() -> None:
    cur = sample("bench_openai_u8.json")
    regressed = compare([cur], [sample("baseline_bench_openai_u8_faster.json")])
    assert regressed.regressed
    assert _verdicts(regressed)["p50"] == REGRESSED
    noise = compare([cur], [sample("baseline_bench_openai_u8_noise.json")])
    assert noise.pairs == [(0, 0)]
    assert not noise.regressed
    none = compare(
        [sample("bench_weai_u4_nosamples.json")], [sample("baseline_bench_weai_u4_nosamples.json")]
    )
    assert not none.regressed
    assert _verdicts(none)["p50"] == NOT_JUDGED


def test_a_warmup_that_is_not_a_number_counts_as_none() -> None:
    """Python's json reads NaN: the throughput comparison then counts every second."""
    base = synthetic_bench(_latency(12))
    cur = synthetic_bench(_latency(13))
    for r in (base, cur):
        r["warmup_s"] = float("nan")
        r["timeseries"] = [
            {"t_s": float(t), "requests": 4, "output_tokens": 200} for t in range(30)
        ]
    comp = compare([cur], [base])
    tok = next(m for m in comp.metric_changes if m.metric == "output_tokens_per_s")
    assert "29 vs 29 one-second buckets" in tok.basis


def test_throughput_drop_is_judged_from_the_timeseries() -> None:
    base = synthetic_bench(_latency(12))
    cur = synthetic_bench(_latency(13))
    rng = np.random.default_rng(0)
    for r, level in ((base, 200.0), (cur, 120.0)):
        r["warmup_s"] = 2
        r["metrics"]["output_tokens_per_s"] = level
        r["timeseries"] = [
            {"t_s": float(t), "requests": 4, "output_tokens": int(rng.normal(level, 10))}
            for t in range(30)
        ]
    comp = compare([cur], [base])
    tok = next(m for m in comp.metric_changes if m.metric == "output_tokens_per_s")
    assert tok.verdict == REGRESSED and not tok.higher_is_worse
    assert "one-second buckets" in tok.basis


def test_failure_rate_increase_is_flagged() -> None:
    base = synthetic_bench(_latency(14))
    cur = copy.deepcopy(synthetic_bench(_latency(15)))
    cur["metrics"]["failures"] = 60  # 15 % of 400
    comp = compare([cur], [base])
    fr = next(m for m in comp.metric_changes if m.metric == "failure_rate")
    assert fr.verdict == REGRESSED and fr.current == pytest.approx(0.15)


def test_matching_uses_kind_provider_model_stream_and_load() -> None:
    base = synthetic_bench(_latency(16), users=8)
    other_load = synthetic_bench(_latency(17), users=16)
    other_stream = synthetic_bench(_latency(17), users=8, stream=False)
    other_model = synthetic_bench(_latency(17), users=8, model="other")
    comp = compare([other_load, other_stream, other_model], [base])
    assert comp.pairs == []
    assert sum("No baseline matches" in n for n in comp.notes) == 3
    assert any("matches no current result" in n for n in comp.notes)


def test_sweep_steps_are_compared_step_by_step() -> None:
    sweep = sample("bench_openai_sweep_users.json")
    slower = copy.deepcopy(sweep)
    for step in slower["steps"]:
        step["samples"]["ttft_ms"] = [v * 1.5 for v in step["samples"]["ttft_ms"]]
        for k in ("mean", "p50", "p90", "p99"):
            step["metrics"]["ttft_ms"][k] *= 1.5
    comp = compare([slower], [sweep])
    ttft = [m for m in comp.metric_changes if m.metric == "ttft_ms" and m.stat == "p50"]
    verdicts = {m.run: m.verdict for m in ttft}
    assert verdicts == {
        "1 user": NOT_JUDGED,  # 13 requests: too few to judge
        "4 users": REGRESSED,
        "16 users": REGRESSED,
        "32 users": REGRESSED,
    }
    assert "fewer than 20 samples" in ttft[0].basis


def test_conformance_changes_newly_failing_first() -> None:
    comp = compare([sample("check_nebulablock.json")], [sample("baseline_check_nebulablock.json")])
    changes = [(c.change, c.check_id) for c in comp.check_changes]
    assert changes == [
        ("newly failing", "errors.envelope"),
        ("newly passing", "usage.include_usage"),
    ]
    assert comp.regressed and comp.regressions[0].check_id == "errors.envelope"  # type: ignore[union-attr]


def test_new_and_removed_checks_are_listed_but_not_regressions() -> None:
    base = sample("check_openai_reference.json")
    cur = copy.deepcopy(base)
    removed = cur["checks"].pop(0)
    cur["checks"].append(dict(removed, id="brand.new", status="failed"))
    comp = compare([cur], [base])
    kinds = {c.change for c in comp.check_changes}
    assert kinds == {"new check", "removed"}
    assert not comp.regressed


def test_bootstrap_interval_is_deterministic_and_covers_the_truth() -> None:
    a, b = _latency(20), _latency(21, scale=1.1)
    one = bootstrap_diff(a, b, [0.5], seed=5)
    two = bootstrap_diff(a, b, [0.5], seed=5)
    assert one == two and one is not None
    assert one[0].low < one[0].point < one[0].high
    assert bootstrap_diff(a[:5], b, [0.5]) is None


def test_fast_quantile_bootstrap_matches_plain_resampling() -> None:
    """Counting draws instead of sorting resamples gives the same bootstrap distribution."""
    from conformance.report._stats import _boot_quantiles

    x = np.random.default_rng(3).normal(0.0, 1.0, 300)
    qs = np.array([0.5, 0.9, 0.99])
    fast = _boot_quantiles(x, qs, 3000, np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, len(x), size=(3000, len(x)))
    plain = np.quantile(x[idx], qs, axis=1)
    assert np.allclose(fast.mean(axis=1), plain.mean(axis=1), atol=0.02)
    assert np.allclose(fast.std(axis=1), plain.std(axis=1), rtol=0.1)
    # every bootstrap quantile is one of the data's values or between two neighbours
    assert fast.min() >= x.min() and fast.max() <= x.max()


def test_p99_needs_enough_tail_samples() -> None:
    """With 200 samples only 2 lie above p99: that percentile is shown but not judged."""
    comp = compare(
        [synthetic_bench(_latency(30, n=200, scale=1.5))], [synthetic_bench(_latency(31, n=200))]
    )
    p99 = next(m for m in comp.metric_changes if m.metric == "ttft_ms" and m.stat == "p99")
    assert p99.verdict == NOT_JUDGED and p99.interval is None
    assert "too few to judge p99 (needs 500)" in p99.basis
    assert _verdicts(comp)["p50"] == REGRESSED


def _itl_bench(means: np.ndarray, gap_p50: float) -> dict[str, object]:
    """A bench whose gap histogram (``metrics.itl_ms``) has its p50 at ``gap_p50`` while
    ``samples.itl_ms`` holds each request's mean gap, as a run writes them."""
    result = synthetic_bench(_latency(30))
    result["metrics"]["itl_ms"] = {
        "mean": gap_p50,
        "p50": gap_p50,
        "p90": gap_p50 * 2,
        "p99": gap_p50 * 4,
    }
    result["samples"]["itl_ms"] = means.tolist()
    return result


def test_itl_value_and_interval_measure_the_same_thing() -> None:
    """The ITL compared and its interval both come from the per-request mean gaps: a
    histogram of every gap that did not move must not hide a shift the interval sees
    (or report a change the interval never measured)."""
    base = _itl_bench(_latency(31) / 10, gap_p50=9.0)
    cur = _itl_bench(_latency(32, scale=1.3) / 10, gap_p50=9.0)
    comp = compare([cur], [base])
    p50 = next(m for m in comp.metric_changes if m.metric == "itl_ms" and m.stat == "p50")
    assert p50.interval is not None and p50.baseline is not None and p50.current is not None
    assert p50.interval.point == pytest.approx(p50.current - p50.baseline)
    assert p50.baseline == pytest.approx(np.quantile(base["samples"]["itl_ms"], 0.5))
    assert "per-request mean gap" in p50.label
    assert p50.verdict == REGRESSED


def test_itl_without_samples_shows_the_gap_histogram_unjudged() -> None:
    """Old results without samples still compare: the histogram's value, not judged."""
    base = _itl_bench(_latency(33) / 10, gap_p50=9.0)
    cur = _itl_bench(_latency(34) / 10, gap_p50=12.0)
    for result in (base, cur):
        del result["samples"]
    comp = compare([cur], [base])
    p50 = next(m for m in comp.metric_changes if m.metric == "itl_ms" and m.stat == "p50")
    assert (p50.baseline, p50.current, p50.verdict) == (9.0, 12.0, NOT_JUDGED)
    assert "per-request" not in p50.label
