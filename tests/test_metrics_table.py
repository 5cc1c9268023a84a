"""The metrics table is the one place a metric is declared.

A metric added to :mod:`conformance.metrics.definitions` alone must reach the bench
result file, the Markdown summary, the HTML report and the baseline comparison; a
result written before the table was stored in it must render as it always did.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.loadgen.result import build_result
from conformance.metrics import RunAggregate, Window, definitions
from conformance.metrics.definitions import Distribution
from conformance.metrics.timing import RequestTiming
from conformance.report import compare, render_html, render_markdown
from conformance.report._format import fmt_ms

DATA = Path(__file__).parent / "data" / "results"

#: a toy metric: half of each request's TTFT, as if part of it were spent in a queue
TOY = Distribution(
    "queue_wait",
    "queue_wait_ms",
    "Queue wait",
    "ms",
    "half of the time to first token (a metric made up for this test)",
    lambda t: () if t.ttft_ns is None else (t.ttft_ns // 2,),
    headline=("p50",),
    headline_rank=5,
)


def _bench_result(ttft_ms: Sequence[float]) -> dict[str, Any]:
    """A closed-loop bench result of one request per TTFT value, all successful."""
    agg = RunAggregate(seed=1)
    window = Window(100.0, 0.0, 30.0)
    for i, ttft in enumerate(ttft_ms):
        send = 100.0 + i * 0.05
        t = RequestTiming(t_send_ns=int(send * 1e9))
        t.ttft_ns = int(ttft * 1e6)
        t.itl_ns = [5_000_000] * 4
        t.e2e_ns = t.ttft_ns + sum(t.itl_ns)
        t.output_tokens = 5
        t.content_events = 5
        agg.record(t, send, send + t.e2e_ns / 1e9, window)
    return build_result(
        agg,
        provider="openai",
        base_url="http://127.0.0.1:9/v1",
        model="m",
        stream=True,
        users=4,
        rate=None,
        arrival=None,
        workers=1,
        duration_s=30.0,
        warmup_s=0.0,
        started_wall=100.0,
        stopped_wall=130.0,
        partial=False,
    )


@pytest.fixture
def toy_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table with the toy metric added after the harness's own."""
    monkeypatch.setattr(definitions, "DISTRIBUTIONS", (*definitions.DISTRIBUTIONS, TOY))


@pytest.mark.usefixtures("toy_metric")
def test_a_metric_added_to_the_table_reaches_the_result_and_both_reports() -> None:
    result = json.loads(json.dumps(_bench_result([40.0 + i for i in range(50)])))

    block = result["metrics"]["queue_wait_ms"]
    assert block["count"] == 50
    assert block["p50"] == pytest.approx(32.0, abs=0.1)  # half of the median TTFT, 64 ms
    declared = {d["name"]: d for d in result["metric_definitions"]}
    assert declared["queue_wait_ms"]["label"] == "Queue wait"
    assert declared["queue_wait_ms"]["lower_is_better"] is True

    markdown = render_markdown([result])
    header = next(line for line in markdown.splitlines() if line.startswith("| Target | Load"))
    assert "| ITL p50 | Queue wait p50 | Failed |" in header
    row = next(line for line in markdown.splitlines() if line.startswith("| openai"))
    assert row.endswith(f"| {fmt_ms(block['p50'])} | 0 |")

    html = render_html([result])
    cell = re.search(r"<td>Queue wait</td>\s*<td class=\"num\">([^<]*)</td>", html)
    assert cell is not None, "the toy metric has no row in the HTML latency table"
    assert cell.group(1) == fmt_ms(block["mean"])


@pytest.mark.usefixtures("toy_metric")
def test_a_metric_added_to_the_table_is_compared_with_a_baseline() -> None:
    baseline = _bench_result([40.0 + i for i in range(50)])
    current = _bench_result([80.0 + i for i in range(50)])
    comp = compare([current], [baseline])
    toy = {m.stat: m for m in comp.metric_changes if m.metric == "queue_wait_ms"}
    assert set(toy) == {"p50", "p90", "p99"}
    assert toy["p50"].label == "Queue wait p50"
    assert toy["p50"].delta == pytest.approx(20.0, abs=0.1)
    # no per-request samples of a toy metric are kept: shown, never judged
    assert toy["p50"].verdict == "not judged"
    assert "Queue wait p50" in render_markdown([current], [baseline], comparison=comp)


def test_the_result_declares_every_distribution_it_writes() -> None:
    result = _bench_result([50.0] * 10)
    declared = [d["name"] for d in result["metric_definitions"] if d["kind"] == "distribution"]
    written = [k for k in result["metrics"] if isinstance(result["metrics"][k], dict)]
    # closed loop: every distribution but the open-loop ones, in the table's order
    expected = [d.result_key for d in definitions.DISTRIBUTIONS if not d.open_loop_only]
    assert written == expected
    assert set(expected) <= set(declared)


@pytest.mark.parametrize(
    "name",
    ["bench_openai_u8.json", "bench_nebulablock_rate4.json", "bench_openai_sweep_users.json"],
)
def test_a_result_without_definitions_renders_as_one_with_the_harness_table(name: str) -> None:
    old = json.loads((DATA / name).read_text())
    assert "metric_definitions" not in old
    new = copy.deepcopy(old)
    new["metric_definitions"] = definitions.result_block()
    for step in new.get("steps") or []:
        step["metric_definitions"] = definitions.result_block()
    # the time of rendering and the plots' ids (numbered per process) differ: the plots
    # are compared by their count only
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC|<svg.*?</svg>", re.DOTALL)
    assert render_markdown([old]) == render_markdown([new])
    old_html, new_html = render_html([old]), render_html([new])
    assert old_html.count("<svg") == new_html.count("<svg")
    assert stamp.sub("", old_html) == stamp.sub("", new_html)


def test_a_result_may_declare_its_own_labels() -> None:
    """The report takes labels from the result file, not from the harness it runs in."""
    result = _bench_result([50.0 + i for i in range(30)])
    for entry in result["metric_definitions"]:
        if entry["name"] == "ttft_ms":
            entry["label"] = "First token"
    markdown = render_markdown([result])
    assert "| First token p50 | First token p99 |" in markdown
    assert "<td>First token</td>" in render_html([result])


@pytest.mark.parametrize(
    "label", ["<script>alert(1)</script>", "TTFT | p50", "\x1b[31mred", "**bold**", "x" * 61]
)
def test_a_label_that_is_not_plain_words_is_ignored(label: str) -> None:
    """Labels come from a file: markup or control characters make the report use its own."""
    result = _bench_result([50.0 + i for i in range(30)])
    for entry in result["metric_definitions"]:
        if entry["name"] == "ttft_ms":
            entry["label"] = label
    markdown = render_markdown([result])
    assert "| TTFT p50 | TTFT p99 |" in markdown
    html = render_html([result])
    assert "<td>TTFT</td>" in html
    for text in (markdown, html):
        assert "alert(1)" not in text and "\x1b" not in text and "**bold**" not in text
