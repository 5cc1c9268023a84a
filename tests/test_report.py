"""The HTML and Markdown reports: structure, self-containment, plots, escaping."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_report_support import all_checks, sample, synthetic_bench, with_evidence

from conformance.report import render_html, render_markdown, write_reports
from conformance.report._check_views import conformance_view, verdict
from conformance.report._markdown import md
from conformance.report._targets import target_labels

EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data|xlink:href|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:[a-z]+:)?//)|@import|<link\b|<iframe\b|<object\b|<embed\b""",
    re.IGNORECASE,
)


class _Collector(HTMLParser):
    """Collects tags with their attributes and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and (cls is None or cls in (a.get("class") or "").split())
        ]


def parse(html: str) -> _Collector:
    p = _Collector()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def full_html() -> str:
    """Every sample: four check results, three bench results (one a sweep), with baselines."""
    results = [*all_checks()] + [
        sample(n)
        for n in (
            "bench_openai_u8.json",
            "bench_nebulablock_rate4.json",
            "bench_openai_sweep_users.json",
            "bench_weai_u4_nosamples.json",
        )
    ]
    baselines = [
        sample("baseline_check_nebulablock.json"),
        sample("baseline_bench_openai_u8_faster.json"),
        sample("baseline_bench_weai_u4_nosamples.json"),
    ]
    return render_html(results, baselines)


# --- conformance structure ---------------------------------------------------------------


def test_verdicts_follow_the_most_serious_failure() -> None:
    neb, ref, weai, wetro = all_checks()
    assert verdict(neb).level == "sdk" and verdict(neb).label == "Incompatible"
    assert verdict(ref).level == "pass" and verdict(ref).label == "Compatible"
    assert verdict(weai).level == "client"
    assert verdict(wetro).level == "sdk"
    assert verdict(neb).failed_by_severity == {"sdk": 2, "client": 1, "cosmetic": 1}


def test_verdict_inconclusive_when_only_errors_and_cosmetic_when_only_cosmetic() -> None:
    ref = sample("check_openai_reference.json")
    errored = with_evidence(ref, {}, status="error", severity="client")
    assert verdict(errored).level == "incomplete"
    cosmetic = with_evidence(ref, {}, severity="cosmetic")
    v = verdict(cosmetic)
    assert (v.level, v.label) == ("cosmetic", "Compatible")
    assert "1 cosmetic issue" in v.text


def test_matrix_has_one_row_per_check_and_failures_first() -> None:
    results = all_checks()
    view = conformance_view(results)
    ids = {c["id"] for r in results for c in r["checks"]}
    assert [r.id for r in view.rows] != sorted(ids)  # sorted by outcome, not alphabetically
    assert {r.id for r in view.rows} == ids
    assert all(len(r.cells) == 4 for r in view.rows)
    # wetrocloud did not run the streaming checks: an empty cell, not a pass
    row = next(r for r in view.rows if r.id == "stream.done_sentinel")
    assert row.cells[3] is None and row.cells[0] is not None and row.cells[0].status == "failed"
    ranks = [
        0 if any(c and c.status in ("failed", "error") for c in r.cells) else 1 for r in view.rows
    ]
    assert ranks == sorted(ranks)
    failing = [r for r in view.rows if ranks[view.rows.index(r)] == 0]
    sev = [r.severity for r in failing]
    assert sev == sorted(sev, key=["sdk", "client", "cosmetic"].index)


def test_failures_listed_per_target_sorted_by_severity() -> None:
    view = conformance_view(all_checks())
    target, items = view.failures[0]
    assert target.provider == "nebulablock"
    assert [c.id for c in items] == [
        "errors.envelope",
        "stream.done_sentinel",
        "stream.role_once",
        "usage.totals",
        "params.n",  # the warning comes after every failure
    ]


def test_html_matrix_and_findings(full_html: str) -> None:
    doc = parse(full_html)
    tables = re.findall(r'<table class="matrix">.*?</table>', full_html, re.S)
    assert len(tables) == 2  # checks needing attention, then the ones that passed everywhere
    rows = [t.split("<tbody>", 1)[1].count("<tr>") for t in tables]
    assert sum(rows) == 18  # the union of the checks of the four targets
    view = conformance_view(all_checks())
    assert rows == [len(view.attention), len(view.quiet)]
    assert all(len(re.findall(r'<th class="target">', t)) == 4 for t in tables)
    # the quiet rows really are all passed (or skipped, or not run)
    assert not re.search(r"st-(failed|error|warned)", tables[1])
    assert re.search(
        r'<details class="more">\s*<summary>\d+ more checks passed \(or were skipped\)', full_html
    )
    findings = doc.find("details", "finding")
    expected = sum(
        1 for r in all_checks() for c in r["checks"] if c["status"] in ("failed", "error", "warned")
    )
    assert len(findings) == expected
    # every failing matrix cell links to its finding
    anchors = {a["id"] for a in findings}
    links = [a["href"] for a in doc.find("a") if (a.get("href") or "").startswith("#t")]
    assert links and all(h[1:] in anchors for h in links if h)
    assert "Incompatible" in full_html and "Partly compatible" in full_html


def test_evidence_is_shown_inside_details(full_html: str) -> None:
    block = re.search(r'<details[^>]*id="[^"]*stream-done-sentinel".*?</details>', full_html, re.S)
    assert block is not None
    text = block.group(0)
    assert "Request" in text and "Response" in text and "Offending SSE event" in text
    assert "x-request-id" in text and "chatcmpl-9a" in text
    assert "Bearer [REDACTED]" in text


# --- self-containment ------------------------------------------------------------------------


def test_no_external_links_at_all(full_html: str) -> None:
    assert not EXTERNAL.findall(full_html)
    # the target URLs appear as text, never as links
    assert "https://inference.nebulablock.com/v1" in full_html
    assert 'href="http' not in full_html
    doc = parse(full_html)
    for tag in ("img", "script", "link", "iframe"):
        for attrs in doc.find(tag):
            assert not attrs.get("src") and not attrs.get("href"), (tag, attrs)
    for attrs in doc.find("a"):
        assert (attrs.get("href") or "#").startswith("#"), attrs


def test_external_link_pattern_is_not_blind() -> None:
    for bad in (
        '<img src="https://x/y.png">',
        "<script src='//cdn/x.js'></script>",
        '<a href="http://x">',
        "<style>@import url(x.css)</style>",
        '<link rel="stylesheet" href="f.css">',
        "background: url(https://x/y.png)",
    ):
        assert EXTERNAL.search(bad), bad


def test_one_html_document_with_inline_style_and_print_css(full_html: str) -> None:
    assert full_html.startswith("<!DOCTYPE html>")
    assert full_html.count("<style>") == 1 and "@media print" in full_html
    assert full_html.count("<script") == 1  # our own inline script, nothing else


# --- plots ------------------------------------------------------------------------------------


def test_single_bench_result_has_cdf_histogram_and_timeseries() -> None:
    html = render_html([sample("bench_openai_u8.json")])
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
    assert len(svgs) >= 3
    assert "Time to first token (CDF)" in html and "Inter-token latency" in html
    assert "Throughput over time" in html
    assert "Harness measurement error" in html and "+0.48 ms at p50" in html
    assert all("<?xml" not in s and "DOCTYPE" not in s for s in svgs)


def test_sweep_has_latency_and_throughput_against_load() -> None:
    html = render_html([sample("bench_openai_sweep_users.json")])
    assert len(re.findall(r"<svg\b", html)) >= 2
    for title in ("TTFT vs load", "E2E latency vs load", "Throughput vs load", "concurrent users"):
        assert title in html
    table = re.search(r"<th>Load</th>.*?</table>", html, re.S)
    assert table is not None
    assert [m for m in re.findall(r"<td>(\d+ users?)</td>", table.group(0))] == [
        "1 user",
        "4 users",
        "16 users",
        "32 users",
    ]


def test_baseline_samples_are_drawn_dashed() -> None:
    html = render_html(
        [sample("bench_openai_u8.json")], [sample("baseline_bench_openai_u8_faster.json")]
    )
    assert "dashed grey is the baseline" in html


def test_svg_ids_are_unique_across_plots(full_html: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', full_html)
    assert len(ids) == len(set(ids))


def test_plots_stay_light(full_html: str) -> None:
    svg_bytes = sum(len(s) for s in re.findall(r"<svg\b.*?</svg>", full_html, re.S))
    assert svg_bytes < 700_000, svg_bytes  # 13 plots; a few hundred KB in all


def test_bench_without_samples_says_so() -> None:
    html = render_html([sample("bench_weai_u4_nosamples.json")])
    assert "No per-request samples in this result" in html
    assert "output tokens were counted" in html  # usage_fallback
    assert "No self-calibration in this result" in html


def test_non_streaming_partial_run_with_gaps_renders() -> None:
    r = synthetic_bench(np.linspace(100, 200, 50), stream=False)
    del r["metrics"]["ttft_ms"]
    r["metrics"]["e2e_ms"]["p99"] = float("nan")
    r["partial"] = True
    html = render_html([r])
    assert "Non-streaming run" in html and "did not finish" in html
    assert "n/a" in html


# --- escaping -------------------------------------------------------------------------------

XSS = "<script>alert('pwned')</script>"


def test_untrusted_strings_are_escaped_everywhere() -> None:
    ref = sample("check_openai_reference.json")
    evil = with_evidence(
        ref,
        {
            "request": {
                "method": "POST",
                "url": f"http://x/{XSS}",
                "headers": {"x-evil": XSS},
                "body": XSS,
            },
            "response": {"status": 500, "headers": {XSS: "v"}, "body": f'{{"error": "{XSS}"}}'},
            "event": {"index": 1, "data": XSS},
            XSS: [XSS, {"k": XSS}],
        },
        detail=f"detail {XSS}",
        title=f'title"><img src=x onerror=alert(1)>{XSS}',
        description=XSS,
    )
    evil["model"] = XSS
    evil["base_url"] = f"https://{XSS}"
    bench = synthetic_bench(np.linspace(1, 2, 30), provider="openai", model=XSS)
    bench["errors"] = {XSS: 3}
    html = render_html([evil, bench])
    assert "alert('pwned')</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html
    assert html.count("<script") == 1
    markdown = render_markdown([evil, bench])
    assert "<script>" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;" in markdown


@given(st.text())
def test_markdown_escaping_leaves_no_markup(text: str) -> None:
    out = md(text)
    assert "<" not in out and ">" not in out and "\n" not in out
    assert not re.search(r"(?<!\\)[|`*_\[\]]", out)


# --- markdown -------------------------------------------------------------------------------


def test_markdown_summary_content() -> None:
    results = [*all_checks(), sample("bench_openai_u8.json")]
    text = render_markdown(
        results,
        [sample("baseline_check_nebulablock.json"), sample("baseline_bench_openai_u8_faster.json")],
    )
    assert text.startswith("## ")
    # verdicts, one table row per target
    assert (
        "❌ **Incompatible**" in text
        and "✅ **Compatible**" in text
        and "**Partly compatible**" in text
    )
    # failed checks grouped by severity, most serious first
    sdk, client, cosmetic = (text.index(h) for h in ("**SDK**", "**Client**", "**Cosmetic**"))
    assert sdk < client < cosmetic
    assert "`stream.done_sentinel` on nebulablock" in text
    # key percentiles
    r = sample("bench_openai_u8.json")["metrics"]
    assert f"{r['ttft_ms']['p50']:.0f} ms" in text and "TTFT p99" in text
    assert "harness TTFT measurement error" in text
    # regressions first, conformance changes before metrics
    changes = text.index("### Changes since baseline")
    assert changes < text.index("### Conformance")
    assert text.index("newly failing") < text.index("🔺 regressed")
    assert "`errors.envelope`" in text
    # compact: fit for a PR comment
    assert len(text) < 8000


def test_markdown_without_baseline_has_no_changes_section() -> None:
    text = render_markdown(all_checks())
    assert "Changes since baseline" not in text and "### Performance" not in text


def test_target_labels_are_distinct() -> None:
    a, b = sample("bench_openai_u8.json"), sample("bench_openai_sweep_users.json")
    labels = [t.label for t in target_labels([a, b, a])]
    assert len(set(labels)) == 3
    assert labels[0].endswith("8 users (#1)") and labels[1].endswith("sweep")


# --- writing -------------------------------------------------------------------------------


def test_write_reports_creates_both_files(tmp_path: Path) -> None:
    out = write_reports(
        [sample("bench_openai_u8.json")],
        [sample("baseline_bench_openai_u8_noise.json")],
        tmp_path / "deep" / "r.html",
        tmp_path / "deep" / "r.md",
    )
    assert out.html_path is not None and out.html_path.read_text().startswith("<!DOCTYPE html>")
    assert out.markdown_path is not None and "No regressions" in out.markdown_path.read_text()
    assert not out.regressed
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["r.html", "r.md"]


def test_results_without_kind_are_accepted() -> None:
    r: dict[str, Any] = sample("check_weai.json")
    del r["kind"]
    assert "weai · llama3.1-8B" in render_html([r])


def test_plot_labels_are_escaped_and_never_parsed_as_math() -> None:
    """Target labels reach plot legends: the SVG text must be escaped, '$' kept literal."""
    a = synthetic_bench(np.linspace(10, 20, 40), model=XSS)
    b = synthetic_bench(np.linspace(12, 25, 40), model="$\\frac{1}{0$ broken math")
    html = render_html([a, b])
    assert "TTFT across targets" in html
    assert "alert('pwned')</script>" not in html and html.count("<script") == 1
    assert "$\\frac{1}{0$ broken math" in html


def test_markdown_stays_short_with_many_failures() -> None:
    ref = sample("check_openai_reference.json")
    ref["checks"] = [
        {
            "id": f"x.check_{i}",
            "title": "t",
            "severity": "client",
            "status": "failed",
            "detail": "d" * 300,
        }
        for i in range(200)
    ]
    text = render_markdown([ref])
    assert "… and 175 more (see the HTML report)" in text
    assert len(text) < 20_000


def test_a_plot_that_cannot_be_drawn_leaves_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.report import _plots

    def broken(*args: Any, **kwargs: Any) -> str:
        raise ValueError("<b>bad</b> data")

    monkeypatch.setattr(_plots, "itl_histogram", broken)
    html = render_html([sample("bench_openai_u8.json")])
    assert "this plot could not be drawn (ValueError: &lt;b&gt;bad&lt;/b&gt; data)" in html
    assert "Throughput over time" in html  # the other plots are still there


# --- files written by the harness itself (check --json, bench --json) --------------------


def test_real_check_result_evidence_reads_well() -> None:
    html = render_html([sample("real_check_openai_fault_role_every_delta.json")])
    block = re.search(r'<details[^>]*id="[^"]*stream-role-once".*?</details>', html, re.S)
    assert block is not None
    text = block.group(0)
    assert "HTTP 200 · " in text and "SSE events" in text
    assert re.search(r"event \d+ of \d+, counting from 0", text)
    assert "Incompatible" in html


def test_real_bench_results_render_and_compare() -> None:
    sweep = sample("real_bench_openai_sweep_users_1_4.json")
    open_loop = sample("real_bench_openai_rate5_poisson.json")
    html = render_html([sweep, open_loop])
    assert "sweep over 1, 4 users (closed loop)" in html
    assert "5 req/s (open loop, poisson arrivals)" in html
    assert "The backend&#39;s own lateness (already taken off)" in html
    assert "Schedule delay" in html and "Latency from schedule" in html
    # a run compared with itself: matched (open loop by rate), nothing regressed
    comp = compare_self(open_loop)
    assert comp.pairs == [(0, 0)] and not comp.regressed


def compare_self(result: dict[str, Any]) -> Any:
    from conformance.report import compare

    return compare([result], [json.loads(json.dumps(result))])


# --- workers of a multi-worker bench ---------------------------------------------------------


def _with_workers(result: dict[str, Any]) -> dict[str, Any]:
    """A bench result whose master had three workers: one lost, one never connected."""
    result["workers"] = {
        "expected": 3,
        "connected": 2,
        "reported": 1,
        "missing": ["hostb_9f2c"],
        "never_connected": 1,
        "per_worker": [
            {
                "id": "hosta_1a2b",
                "host": "hosta",
                "status": "reported",
                "reason": None,
                "requests": 120,
                "failures": 0,
            },
            {
                "id": "hostb_9f2c",
                "host": "hostb",
                "status": "lost",
                "reason": "it stopped answering heartbeats",
                "requests": 37,
                "failures": 2,
            },
        ],
    }
    return result


def test_markdown_names_the_lost_worker_and_the_counts() -> None:
    text = render_markdown([_with_workers(synthetic_bench(np.linspace(100, 200, 50)))])
    line = next(x for x in text.splitlines() if "workers 3 expected" in x)
    assert line.startswith("- ❌")
    assert "2 connected, 1 reported" in line
    assert r"lost hostb\_9f2c: it stopped answering heartbeats" in line  # escaped Markdown
    assert "1 of 3 expected workers never connected" in line
    assert "hosta" not in line  # a worker that reported is not named as a fault


def test_html_marks_the_lost_worker_as_a_failure() -> None:
    html = render_html([_with_workers(synthetic_bench(np.linspace(100, 200, 50)))])
    assert "3 expected, 2 connected, 1 reported" in html
    row = re.search(r"<tr class=\"is-bad\"><td class=\"mono\">hostb_9f2c</td>.*?</tr>", html)
    assert row is not None and "lost (failure)" in row.group(0) and ">37<" in row.group(0)
    good = re.search(r"<tr class=\"\"><td class=\"mono\">hosta_1a2b</td>.*?</tr>", html)
    assert good is not None and "reported" in good.group(0) and ">120<" in good.group(0)
    assert "never connected (failure)" in html


def test_html_shows_each_sweep_steps_workers() -> None:
    steps = []
    for users in (2, 4):
        step = synthetic_bench(np.linspace(100, 200, 50), users=users)
        step["workers"] = {
            "expected": 2,
            "connected": 2,
            "reported": 2,
            "missing": [],
            "never_connected": 0,
            "per_worker": [
                {
                    "id": f"w{i}",
                    "host": "h",
                    "status": "reported",
                    "reason": None,
                    "requests": 10 * users + i,
                    "failures": 0,
                }
                for i in (1, 2)
            ],
        }
        steps.append(step)
    top = dict(steps[-1])
    top["steps"] = steps
    html = render_html([top])
    assert "Workers at 2 users:" in html and "Workers at 4 users:" in html
    assert ">21<" in html and ">42<" in html
    assert "lost (failure)" not in html and "never connected (failure)" not in html
    assert "workers 2 expected" in render_markdown([top])


def test_results_without_workers_render_as_before() -> None:
    r = synthetic_bench(np.linspace(100, 200, 50))
    assert "workers" not in r
    html = render_html([r])
    assert 'class="workers' not in html and "Workers" not in html
    assert "workers" not in render_markdown([r])
