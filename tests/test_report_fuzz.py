"""Reports never crash on any valid result, and never let a string out unescaped."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.report import compare, render_html, render_markdown, validate_result

STATUSES = ["passed", "failed", "warned", "skipped", "error"]
SEVERITIES = ["sdk", "client", "cosmetic"]
texts = st.text(max_size=40)
maybe_numbers = st.one_of(
    st.none(),
    st.floats(min_value=-1e6, max_value=1e6),
    st.just(math.nan),
)


@st.composite
def check_results(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(
        st.lists(st.from_regex(r"[a-z]{1,6}\.[a-z_]{1,8}", fullmatch=True), max_size=6, unique=True)
    )
    return {
        "version": 1,
        "kind": "check",
        "provider": draw(st.sampled_from(["openai", "weai"])),
        "model": draw(texts),
        "base_url": draw(texts),
        "checks": [
            {
                "id": cid,
                "title": draw(texts),
                "severity": draw(st.sampled_from(SEVERITIES)),
                "status": draw(st.sampled_from(STATUSES)),
                "detail": draw(texts),
                "evidence": draw(
                    st.dictionaries(
                        st.sampled_from(["request", "response", "event", "other", "x"]),
                        st.one_of(texts, st.dictionaries(texts, texts, max_size=3), maybe_numbers),
                        max_size=3,
                    )
                ),
            }
            for cid in ids
        ],
    }


@st.composite
def bench_results(draw: st.DrawFn) -> dict[str, Any]:
    def block() -> dict[str, Any] | None:
        return draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries({k: maybe_numbers for k in ("mean", "p50", "p90", "p99")}),
            )
        )

    samples = st.lists(st.floats(min_value=0, max_value=1e5), max_size=30)
    result: dict[str, Any] = {
        "version": 1,
        "kind": "bench",
        "provider": "openai",
        "model": draw(texts),
        "stream": draw(st.booleans()),
        "load": {
            "users": draw(st.one_of(st.none(), st.integers(1, 64))),
            "rate": draw(st.one_of(st.none(), st.floats(0.5, 100))),
            "duration_s": draw(maybe_numbers),
        },
        "metrics": {
            "requests": draw(st.integers(0, 10_000)),
            "failures": draw(st.integers(0, 100)),
            "requests_per_s": draw(maybe_numbers),
            "output_tokens_per_s": draw(maybe_numbers),
            "ttft_ms": block(),
            "itl_ms": block(),
            "e2e_ms": block(),
        },
        "warmup_s": draw(maybe_numbers),
        "partial": draw(st.booleans()),
        "errors": draw(st.dictionaries(texts, st.integers(0, 50), max_size=3)),
        "samples": draw(st.dictionaries(st.sampled_from(["ttft_ms", "e2e_ms", "itl_ms"]), samples)),
        "timeseries": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "t_s": st.integers(0, 100),
                        "requests": st.integers(0, 9),
                        "output_tokens": st.integers(0, 999),
                    }
                ),
                max_size=8,
            )
        ),
    }
    return result


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.one_of(check_results(), bench_results()), min_size=1, max_size=2), st.data())
def test_any_valid_result_renders(results: list[dict[str, Any]], data: st.DataObject) -> None:
    for r in results:
        validate_result(r)
    baselines = data.draw(st.lists(st.one_of(check_results(), bench_results()), max_size=1))
    comp = compare(results, baselines)
    html = render_html(results, baselines, comparison=comp)
    markdown = render_markdown(results, baselines, comparison=comp)
    assert html.count("<script") == 1
    assert "<script>" not in markdown
    assert isinstance(comp.regressed, bool)
