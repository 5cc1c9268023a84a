"""Reports that show failure: failed requests, thin coverage, shared sweep steps, plots.

The bench results here are built as the harness writes them today (``metrics.requests``
and ``metrics.failures``, ``errors`` by kind, ``requests_per_s`` counting failed requests
too), and with the fields a newer writer adds, so the report is right with either.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report_support import bench_step, failing_bench, sample, sweep_bench

from conformance.report import _plots as plots
from conformance.report import compare, render_html, render_markdown
from conformance.report._bench_runs import bench_runs
from conformance.report._check_views import verdict
from conformance.report._compare import REGRESSED, shared_levels
from conformance.report._coverage import coverage
from conformance.report._format import fmt_num
from conformance.report._run_health import bench_health, run_health


def _svg_texts(svg: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if t.strip()]


def _card(html: str, label: str) -> str:
    """The overview card of the target ``label``."""
    overview = html[html.index('id="overview"') : html.index("</section>")]
    for card in overview.split('<div class="card ov')[1:]:
        if f'<div class="who">{label}</div>' in card:
            return card
    raise AssertionError(f"no card for {label}")


# --- health of a bench result -----------------------------------------------------------


def test_a_run_where_every_request_failed_is_failed_with_its_kinds() -> None:
    h = bench_health(failing_bench(requests=50, kinds={"http_4xx": 50}))
    assert (h.level, h.label, h.bad) == ("failed", "Failed", True)
    assert h.text == "no request succeeded: 50 of 50 failed (http_4xx 50)"
    run = h.runs[0]
    assert (run.requests, run.failed, run.succeeded, run.failure_rate) == (50, 50, 0, 1.0)
    assert run.ok_rps == 0.0


def test_a_run_with_some_failures_is_partly_failed_with_rate_and_kinds() -> None:
    result = failing_bench(failures=30, kinds={"http_5xx": 20, "read_timeout": 10})
    h = bench_health(result)
    assert (h.level, h.label) == ("partial", "Partly failed")
    assert h.text == "30 of 120 requests failed (25.0%) (http_5xx 20, read_timeout 10)"
    # throughput: today's requests_per_s counts the failed requests; the report does not
    run = h.runs[0]
    assert run.ok_rps == result["metrics"]["successful_requests_per_s"]
    assert run.ok_rps < result["metrics"]["requests_per_s"]
    assert run.failed_rps == pytest.approx(3.0)


def test_a_run_without_any_measured_request_is_failed() -> None:
    result = failing_bench(requests=0, failures=0)
    h = bench_health(result)
    assert h.level == "failed" and h.text == "no request was measured"


def test_older_results_without_a_successful_rate_take_the_failures_off() -> None:
    result = failing_bench(requests=100, failures=25)
    del result["metrics"]["successful_requests_per_s"]
    assert run_health(bench_runs(result)[0]).ok_rps == pytest.approx(
        result["metrics"]["requests_per_s"] * 0.75
    )


def test_fields_of_a_newer_writer_are_used_when_present() -> None:
    result = failing_bench(requests=100, failures=0)
    m = result["metrics"]
    m.update(
        successful_requests=90,
        failed_requests=10,
        failure_rate=0.1,
        successful_requests_per_s=9.0,
        failed_requests_per_s=1.0,
    )
    result["failure_kinds"] = {"connect": 10}
    run = run_health(bench_runs(result)[0])
    assert (run.succeeded, run.failed, run.failure_rate) == (90, 10, 0.1)
    assert (run.ok_rps, run.failed_rps) == (9.0, 1.0)
    assert run.kinds == (("connect", 10),)
    assert run.level == "partial"
    # the run's own verdict: within its allowed failure rate is amber, not red
    result["verdict"] = {"status": "pass", "max_failure_rate": 0.2}
    assert run_health(bench_runs(result)[0]).level == "degraded"
    assert bench_health(result).label == "Passed with failures"
    result["verdict"] = "failed"
    assert run_health(bench_runs(result)[0]).level == "partial"


def test_a_run_that_says_it_failed_is_not_green_even_without_failures() -> None:
    result = failing_bench(failures=0)
    assert bench_health(result).level == "ok"
    result["verdict"] = {"passed": False}
    assert bench_health(result).bad


def test_a_sweep_names_each_failed_step() -> None:
    h = bench_health(sweep_bench({1: 0, 8: 12, 32: 120}))
    assert [r.level for r in h.runs] == ["ok", "partial", "failed"]
    assert (h.level, h.label) == ("failed", "Partly failed")
    assert h.text == (
        "8 users: 12 of 120 requests failed (10.0%) (http_4xx 12); "
        "32 users: no request succeeded: 120 of 120 failed (http_4xx 120)"
    )
    assert bench_health(sweep_bench({1: 120, 8: 120})).label == "Failed"
    assert bench_health(sweep_bench({1: 0, 8: 0})).level == "ok"


# --- the page and the Markdown -------------------------------------------------------------


def test_overview_card_of_a_failed_bench_is_red_with_rate_and_kinds() -> None:
    html = render_html([failing_bench(), failing_bench(users=4, failures=0)])
    dead = _card(html, "openai · m · 8 users")
    assert 'data-health="failed"' in dead and "v-b-failed" in dead
    assert "120 of 120 failed (http_4xx 120)" in dead
    assert "n/a" not in dead  # no neutral card of blanks
    fine = _card(html, "openai · m · 4 users")
    assert 'data-health="ok"' in fine and "failed" not in fine.replace('data-health="ok"', "")


def test_overview_card_of_a_sweep_lists_its_steps() -> None:
    html = render_html([sweep_bench({1: 0, 8: 12, 32: 120})])
    card = _card(html, "openai · m")
    assert 'data-health="failed"' in card and "Partly failed" in card
    steps = re.findall(r'<tr class="step-(\w+)"><td>([^<]+)</td>', card)
    assert steps == [("ok", "1 user"), ("partial", "8 users"), ("failed", "32 users")]
    assert "10.0% failed" in card and "no request succeeded" in card and "http_4xx 120" in card
    # the headline numbers are those of the highest step that had successful requests
    assert "at 8 users" in card


def test_throughput_everywhere_counts_successful_requests_only() -> None:
    result = failing_bench(requests=100, failures=40, duration_s=12.0, warmup_s=2.0)
    ok_rps, all_rps = 6.0, 10.0
    assert result["metrics"]["successful_requests_per_s"] == ok_rps
    assert result["metrics"]["requests_per_s"] == all_rps
    html = render_html([result])
    table = html[html.index("<th>Throughput</th>") :]
    assert re.search(r"<td>Successful requests/s</td><td class=\"num\">6 ", table)
    assert "40 of 100 (40.0%)" in table and "<td>Failed requests/s</td>" in table
    md = render_markdown([result])
    row = next(line for line in md.splitlines() if line.startswith("| openai"))
    assert "| 6 |" in row and "| 10 |" not in row
    assert "40 (40.0%): http\\_4xx 40" in row
    assert "❌ **openai · m: Partly failed**: 40 of 100 requests failed (40.0%)" in md


def test_sweep_table_and_plot_use_successful_throughput() -> None:
    result = sweep_bench({1: 0, 8: 60})
    html = render_html([result])
    assert "Successful req/s" in html
    runs = bench_runs(result)
    svg = plots.sweep_plot(runs, "users")
    assert svg is not None and "successful requests/s" in svg


def test_a_step_without_successful_requests_is_marked_and_noted() -> None:
    runs = bench_runs(sweep_bench({1: 0, 8: 0, 32: 120}))
    svg = plots.sweep_plot(runs, "users")
    assert svg is not None
    texts = _svg_texts(svg)
    assert "✕ No request succeeded at 32 users: no latency there, throughput zero." in texts
    assert "no successful request" in texts  # the legend of the red cross
    healthy = plots.sweep_plot(bench_runs(sweep_bench({1: 0, 8: 0})), "users")
    assert healthy is not None and "no successful request" not in healthy
    # a single run: a note in place of the distributions
    html = render_html([failing_bench()])
    assert "No request succeeded at 8 users: there is no latency to draw" in html


# --- the plots' axes -----------------------------------------------------------------------


def test_tick_labels_get_enough_decimals_to_differ() -> None:
    fmt = plots.PlainFormatter()
    assert fmt.format_ticks([10.0, 10.5, 11.0]) == ["10.0", "10.5", "11.0"]
    assert fmt.format_ticks([0, 1000, 2000]) == ["0", "1,000", "2,000"]
    assert fmt.format_ticks([0.0, 2e-10, 4e-10]) == [
        "0.0000000000",
        "0.0000000002",
        "0.0000000004",
    ]
    assert fmt.format_ticks([-1e-12, 0.5]) == ["0.0", "0.5"]


def test_table_numbers_are_never_in_scientific_notation() -> None:
    assert [fmt_num(v) for v in (2e-9, -3.2e-7, 1e-5, 0.00123, 0.5, 1e-14)] == [
        "0.000000002",
        "-0.00000032",
        "0.00001",
        "0.00123",
        "0.5",
        "0",
    ]


def test_plots_of_degenerate_data_show_no_offset_or_scientific_notation() -> None:
    tiny = [1e-9 * (1 + i % 3) for i in range(60)]
    constant = [1000.0001] * 40
    flat = sweep_bench({1: 120, 4: 120})  # nothing succeeded anywhere: every value zero
    svgs = [
        plots.itl_histogram(tiny),
        plots.itl_histogram(constant),
        plots.cdf_plot([("tiny", [("this run", tiny)])]),
        plots.cdf_plot([("big", [("this run", [1e6 + i for i in range(50)])])]),
        plots.sweep_plot(bench_runs(flat), "users"),
        plots.timeseries_plot(failing_bench()["timeseries"], 2.0),
    ]
    for svg in svgs:
        assert svg is not None
        for text in _svg_texts(svg):
            assert not re.search(r"\d[eE][+\-\u2212]?\d|×10", text), text


def test_colliding_tick_labels_are_thinned_and_titles_fit() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with plots._figure(3.0, 2.0) as (fig, axes):
        ax = axes[0][0]
        xs = [8, 9, 10, 11, 50]
        ax.plot(xs, [1, 2, 3, 4, 5])
        ax.set_xticks(xs, labels=[str(x) for x in xs])
        ax.set_title("A title much longer than the room this small panel has for it")
        plots.tidy(fig)
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.canvas.draw()
        shown = [t for t in ax.get_xticklabels() if t.get_text()]
        boxes = sorted((b.x0, b.x1) for b in (t.get_window_extent(renderer) for t in shown))
        assert (
            len(shown) < 5 and shown[0].get_text() == "8" and "50" in [t.get_text() for t in shown]
        )
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(boxes))
        assert len(ax.get_xticks()) == 5  # every tick mark stays
        title = ax.title.get_window_extent(renderer)
        assert title.x0 >= 0 and title.x1 <= fig.bbox.x1


def test_wide_y_tick_labels_get_room_at_the_edge_and_between_panels() -> None:
    """Tens of thousands of tokens/s on the left, a twin axis in thousands of requests/s on
    its right, then a panel in ms: every y-axis label is inside the figure and clear of
    the next panel's (the fixed margins put the left label past the edge and the twin's
    into its neighbour's)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with plots._figure(plots.FULL_IN, 2.6, ncols=2, twin=True) as (fig, axes):
        left, right = axes[0]
        twin = left.twinx()
        left.plot([0, 1, 2], [16_000, 12_000, 14_500])
        left.set_ylabel("output tokens/s")
        twin.bar([0, 1, 2], [7_500, 5_000, 6_200])
        twin.set_ylabel("requests/s")
        right.plot([0, 1, 2], [0.24, 0.16, 0.2])
        right.set_ylabel("ms")
        for ax in (left, twin, right):
            ax.yaxis.set_major_formatter(plots.PlainFormatter())
        plots.tidy(fig)
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.canvas.draw()
        boxes = {
            n: a.yaxis.get_tightbbox(renderer) for n, a in (("l", left), ("t", twin), ("r", right))
        }
        assert boxes["l"].x0 >= 0 and boxes["r"].x1 <= fig.bbox.x1
        assert boxes["t"].x1 < boxes["r"].x0  # the twin's label clears the next panel's
        assert boxes["t"].x0 >= left.get_window_extent(renderer).x1 - 1


# --- ITL histogram and table agree ------------------------------------------------------


def _itl_marks(html: str) -> dict[str, str]:
    return dict(re.findall(r"<text[^>]*>(p50|p99) ([\d,.]+) ms</text>", html))


def test_itl_histogram_markers_are_the_tables_p50_and_p99() -> None:
    result = failing_bench(failures=0, gap_samples=True)
    itl = result["metrics"]["itl_ms"]
    html = render_html([result])
    marks = _itl_marks(html)
    assert marks == {"p50": fmt_num(itl["p50"]), "p99": fmt_num(itl["p99"])}
    # written as the ITL row of the table writes them
    row = re.search(r"<td>ITL.*?</tr>", html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([\d,.]+) ms', row.group(0))
    assert [cells[1], cells[3]] == [marks["p50"], marks["p99"]]
    # and they are not what the sample alone would give, so the test can tell
    sampled = np.quantile(result["samples"]["itl_gap_ms"], 0.99)
    result["metrics"]["itl_ms"]["p99"] = round(float(sampled) + 3.0, 3)
    assert _itl_marks(render_html([result]))["p99"] == fmt_num(round(float(sampled) + 3.0, 3))


def test_itl_histogram_of_request_means_has_its_own_table_row() -> None:
    result = failing_bench(failures=0)  # today: samples.itl_ms holds each request's mean gap
    html = render_html([result])
    assert "Mean inter-token gap per request" in html
    row = re.search(r"ITL, mean per request.*?</tr>", html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([\d,.]+) ms', row.group(0))
    means = np.asarray(result["samples"]["itl_ms"])
    p99 = float(np.quantile(means, 0.99))
    marks = _itl_marks(html)
    assert marks["p99"] == cells[3]  # written as the table writes it
    assert float(cells[3].replace(",", "")) == pytest.approx(p99, rel=0.01)


# --- warm-up -------------------------------------------------------------------------------


def test_a_quiet_warm_up_is_drawn_from_zero_and_labelled() -> None:
    series = bench_step(idle_warmup=True, warmup_s=3.0)["timeseries"]
    assert min(b["t_s"] for b in series) == 3  # the harness writes no row for quiet seconds
    line = plots.timeline(series)
    assert line is not None
    assert line["t"][0] == 0.0 and list(line["ok"][:3]) == [0.0, 0.0, 0.0]
    svg = plots.timeseries_plot(series, 3.0)
    assert svg is not None
    assert _svg_texts(svg).count("warm-up: nothing completed") == 2
    busy = plots.timeseries_plot(bench_step(warmup_s=3.0)["timeseries"], 3.0)
    assert busy is not None and "warm-up (not counted)" in busy


# --- comparison with a baseline ----------------------------------------------------------


def test_a_sweep_is_compared_at_the_steps_both_runs_share() -> None:
    current = sweep_bench({1: 0, 8: 0})
    baseline = sweep_bench({1: 0, 8: 0, 32: 0})
    assert shared_levels(current, baseline) == ["1 user", "8 users"]
    comp = compare([current], [baseline])
    assert comp.pairs == [(0, 0)]
    assert {m.run for m in comp.metric_changes} == {"1 user", "8 users"}
    assert any("also ran 32 users" in n for n in comp.notes)
    # and the other way round: a step the baseline lacks is said, not compared
    comp = compare([baseline], [current])
    assert comp.pairs == [(0, 0)]
    assert {m.run for m in comp.metric_changes} == {"1 user", "8 users"}
    assert any("no step at 32 users" in n for n in comp.notes)


def test_a_sweep_takes_the_baseline_sharing_most_steps() -> None:
    current = sweep_bench({1: 0, 8: 0, 32: 0})
    one = sweep_bench({32: 0, 64: 0})
    two = sweep_bench({1: 0, 8: 0})
    assert compare([current], [two, one]).pairs == [(0, 0)]
    assert compare([current], [one, two]).pairs == [(0, 1)]
    assert compare([current], [sweep_bench({64: 0})]).pairs == []


def test_a_throughput_drop_is_a_regression() -> None:
    baseline = failing_bench(requests=240, failures=0, duration_s=22.0)
    current = failing_bench(requests=240, failures=120, duration_s=22.0)
    comp = compare([current], [baseline])
    by_metric = {m.metric: m for m in comp.metric_changes if not m.stat}
    assert by_metric["requests_per_s"].label == "Successful requests/s"
    assert by_metric["requests_per_s"].verdict == REGRESSED
    assert by_metric["output_tokens_per_s"].verdict == REGRESSED
    assert by_metric["failure_rate"].verdict == REGRESSED
    assert comp.regressed
    # the same load, nothing failed: no throughput regression
    same = compare([copy.deepcopy(baseline)], [baseline])
    assert not [m for m in same.metric_changes if m.regression]


def test_a_step_that_stopped_succeeding_regressed_without_statistics() -> None:
    baseline = sweep_bench({1: 0, 8: 0})
    current = sweep_bench({1: 0, 8: 120})
    for step in (*baseline["steps"], *current["steps"]):
        step["timeseries"] = []  # no per-second buckets: significance cannot be judged
    comp = compare([current], [baseline])
    dead = [m for m in comp.metric_changes if m.run == "8 users" and m.metric == "requests_per_s"]
    assert dead and dead[0].verdict == REGRESSED and dead[0].current == 0.0
    alive = [m for m in comp.metric_changes if m.run == "1 user" and m.metric == "requests_per_s"]
    assert alive and alive[0].verdict != REGRESSED


# --- check results: coverage -----------------------------------------------------------------


def _mostly_skipped() -> dict[str, Any]:
    result = sample("check_openai_reference.json")
    for c in result["checks"][3:]:
        c["status"] = "skipped"
    return result


def test_a_mostly_skipped_check_run_is_not_green() -> None:
    full = sample("check_openai_reference.json")
    assert verdict(full).level == "pass"
    result = _mostly_skipped()
    v = verdict(result)
    assert (v.level, v.label) == ("incomplete", "Inconclusive")
    assert v.text == "judged only 3 of 18 applicable checks"
    assert coverage(result).judged == 3
    html = render_html([result])
    assert "Inconclusive" in _card(html, "openai · conformance-echo-1")
    assert "⚠️ **Inconclusive**" in render_markdown([result])


def test_coverage_written_by_check_is_read_tolerantly() -> None:
    result = sample("check_openai_reference.json")
    # as check writes it
    result["coverage"] = {
        "checks": 57,
        "applicable": 57,
        "judged": 4,
        "skipped_by_design": 0,
        "not_judged": 53,
        "ratio": 0.0702,
        "min": 0.5,
        "enough": False,
    }
    v = verdict(result)
    assert v.level == "incomplete"
    assert v.text == "judged only 4 of 57 applicable checks (the floor is 50%)"
    result["coverage"] = {"judged": 17, "applicable": 18, "min": 0.5, "enough": True}
    assert verdict(result).level == "pass"
    assert "judged 17 of 18 applicable" in verdict(result).text
    # the writer's own "enough" decides (a floor raised with --min-coverage 0.99)
    result["coverage"] = {"judged": 17, "applicable": 18, "min": 0.99, "enough": False}
    assert verdict(result).level == "incomplete"
    assert verdict(result).text == "judged only 17 of 18 applicable checks (the floor is 99%)"
    result["coverage"] = "garbage"
    assert verdict(result).level == "pass"


def test_skips_by_design_do_not_count_against_coverage() -> None:
    result = _mostly_skipped()
    for c in result["checks"][3:]:
        c["by_design"] = True  # features the profile does not document
    assert (coverage(result).judged, coverage(result).total) == (3, 3)
    assert verdict(result).level == "pass"


def test_a_check_run_that_says_it_did_not_pass_is_not_green() -> None:
    result = sample("check_openai_reference.json")
    result["verdict"] = "failed"
    v = verdict(result)
    assert v.level == "incomplete" and v.text.startswith("the run did not pass")


# --- file modes ------------------------------------------------------------------------------


def test_bench_result_files_have_the_mode_of_every_other_output(tmp_path: Path) -> None:
    from conformance.loadgen.result import write_json_atomic
    from conformance.report._write import _write

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "bench.json", {"version": 1})
        _write(tmp_path / "report.html", "<html></html>")
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"bench.json": 0o644, "report.html": 0o644, "plain.json": 0o644}


def _as_newer_writer(result: dict[str, Any], max_failure_rate: float = 0.01) -> dict[str, Any]:
    """``result`` as the bench writes it once throughput counts successes only.

    ``requests_per_s`` is then the successful rate, and each step carries
    ``successful_requests``, ``failed_requests``, ``failure_rate``,
    ``failed_requests_per_s`` and a ``verdict`` object.
    """
    for step in [result, *(result.get("steps") or [])]:
        m = step["metrics"]
        n, f = m["requests"], m["failures"]
        failed_rps = m["requests_per_s"] - m["successful_requests_per_s"]
        m.update(
            requests_per_s=m["successful_requests_per_s"],
            successful_requests=n - f,
            failed_requests=f,
            failure_rate=round(f / n, 6) if n else None,
            failed_requests_per_s=round(failed_rps, 3),
        )
        reason = None
        if not n:
            reason = "no request was sent after the warm-up (0 during it): nothing was measured"
        elif f == n:
            reason = f"no successful request: all {n} failed"
        elif f / n > max_failure_rate:
            reason = f"failure rate {f / n:.2%} is above --max-failure-rate"
        step["verdict"] = {
            "status": "failed" if reason else "passed",
            "reason": reason,
            "max_failure_rate": max_failure_rate,
        }
    return result


def test_a_newer_writers_result_reads_the_same() -> None:
    today = failing_bench(requests=200, failures=1)
    newer = _as_newer_writer(copy.deepcopy(today), max_failure_rate=0.01)
    a, b = run_health(bench_runs(today)[0]), run_health(bench_runs(newer)[0])
    assert (a.requests, a.failed, a.ok_rps) == (b.requests, b.failed, b.ok_rps)
    assert a.failed_rps == pytest.approx(b.failed_rps)
    # one failure in 200 is within the run's 1 %: amber, not red, and not green either
    assert (a.level, b.level) == ("partial", "degraded")
    html = render_html([newer])
    assert 'data-health="degraded"' in html and "Passed with failures" in html
    # a step the bench itself failed is red, with its reason when nothing was measured
    empty = _as_newer_writer(failing_bench(requests=0, failures=0))
    h = bench_health(empty)
    assert h.bad and h.text.startswith("no request was sent after the warm-up")
    sweep = _as_newer_writer(sweep_bench({1: 0, 8: 120}))
    assert [r.level for r in bench_health(sweep).runs] == ["ok", "failed"]
    assert run_health(bench_runs(sweep)[0]).ok_rps == sweep["steps"][0]["metrics"]["requests_per_s"]


def test_a_real_run_refused_with_401_is_red_everywhere() -> None:
    """Written by ``conformance bench`` against a backend that wanted a key it did not get."""
    result = sample("real_bench_openai_401_every_request_failed.json")
    assert result["metrics"]["requests_per_s"] > 1000  # today's writer: failed ones counted
    h = bench_health(result)
    assert (h.level, h.label) == ("failed", "Failed")
    assert h.runs[0].ok_rps == 0.0 and h.runs[0].kinds == (
        ("http_4xx", result["metrics"]["failures"]),
    )
    html = render_html([result])
    card = _card(html, "openai · gpt-4o-mini")
    assert 'data-health="failed"' in card and "no request succeeded" in card
    assert re.search(r"<td>Successful requests/s</td><td class=\"num\">0 ", html)
    md = render_markdown([result])
    assert "❌ no request succeeded | 0 | 0 |" in md


def test_a_real_result_with_every_gap_draws_the_itl_histogram_from_them() -> None:
    """Written by today's ``conformance bench`` (4 users against the reference backend with
    a key, ITL 5 ms): the histogram shows every gap, not each request's mean, and its
    markers read as the ITL row of the table; throughput is the successful rate."""
    result = sample("real_bench_openai_u4_every_gap.json")
    m, gaps = result["metrics"], result["samples"]["itl_gap_ms"]
    assert len(gaps) == m["itl_ms"]["count"] > len(result["samples"]["itl_ms"])
    html = render_html([result])
    assert "Inter-token latency" in html and "Mean inter-token gap per request" not in html
    assert "ITL, mean per request" not in html
    row = re.search(r"<td>ITL.*?</tr>", html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([\d,.]+) ms', row.group(0))
    assert _itl_marks(html) == {"p50": cells[1], "p99": cells[3]}
    assert cells[1] == fmt_num(m["itl_ms"]["p50"]) and cells[3] == fmt_num(m["itl_ms"]["p99"])
    ok_rps = fmt_num(m["successful_requests_per_s"])
    assert re.search(rf'<td>Successful requests/s</td><td class="num">{re.escape(ok_rps)} ', html)
    card = _card(html, "openai · gpt-4o-mini")
    assert 'data-health="ok"' in card


def test_a_result_without_request_counts_is_neither_green_nor_red() -> None:
    result = failing_bench(failures=0)
    del result["metrics"]["requests"], result["metrics"]["failures"]
    h = bench_health(result)
    assert (h.level, h.label, h.bad) == ("unknown", "Not counted", False)
    card = _card(render_html([result]), "openai · m")
    assert 'data-health="unknown"' in card and "Not counted" in card
    assert "TTFT p50" in card  # its latencies are still shown
    result["verdict"] = "failed"
    assert bench_health(result).bad
