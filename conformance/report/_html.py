"""The HTML report: one self-contained page (inline CSS, inline SVG plots, no links out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup

from conformance._version import __version__
from conformance.report import _format as fmt
from conformance.report import _plots as plots
from conformance.report._bench_runs import BenchRun, bench_runs, result_load_label
from conformance.report._bench_views import BenchView, bench_view
from conformance.report._check_views import (
    SEVERITY_LABEL,
    SEVERITY_TEXT,
    ConformanceView,
    conformance_view,
)
from conformance.report._compare import (
    IMPROVED,
    NOT_JUDGED,
    REGRESSED,
    Comparison,
    MetricChange,
    compare,
    labels_for,
)
from conformance.report._load import validate_result
from conformance.report._metrics import distributions, rate
from conformance.report._run_health import BenchHealth, RunHealth, bench_health, run_health
from conformance.report._workers import WorkersView, counts_text, workers_view


@dataclass
class RunView:
    """One load level with its numbers, changes against the baseline, and plots."""

    run: BenchRun
    rows: list[dict[str, Any]]
    throughput: list[dict[str, Any]]
    calibration: str
    errors: list[tuple[str, int]]
    health: RunHealth
    left_plots: list[Markup] = field(default_factory=list)
    wide_plots: list[Markup] = field(default_factory=list)
    has_baseline: bool = False


@dataclass
class PerfView:
    """One bench result in the performance section."""

    bench: BenchView
    runs: list[RunView]
    sweep_rows: list[dict[str, Any]]
    sweep_plots: list[Markup]
    health: BenchHealth
    #: per step with a ``workers`` block: its label and its workers
    workers: list[tuple[str, WorkersView]] = field(default_factory=list)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,  # every string from a result file is untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ms=fmt.fmt_ms,
        num=fmt.fmt_num,
        pct=fmt.fmt_pct,
        ratio=fmt.fmt_ratio,
        duration=fmt.fmt_duration,
        time=fmt.fmt_time,
        signed=fmt.fmt_signed,
        change=_fmt_change,
        ci=_fmt_ci,
        value=_fmt_value,
        sentence=lambda text: str(text)[:1].upper() + str(text)[1:],
    )
    env.globals.update(
        counts_text=counts_text,
        SEVERITY_LABEL=SEVERITY_LABEL,
        SEVERITY_TEXT=SEVERITY_TEXT,
        SEVERITY_SENTENCE={
            "sdk": "Severity SDK: when this fails, the official SDK breaks.",
            "client": "Severity client: when this fails, common clients break.",
            "cosmetic": "Severity cosmetic: clients keep working.",
        },
    )
    return env


def _template_source(name: str) -> str:
    return files("conformance.report").joinpath("templates", name).read_text(encoding="utf-8")


def _fmt_value(value: float | None, unit: str) -> str:
    if unit == "ms":
        return fmt.fmt_ms(value)
    if unit == "%":
        return fmt.fmt_ratio(value)
    return f"{fmt.fmt_num(value)} {unit}" if value is not None else fmt.NA


def _fmt_change(m: MetricChange) -> str:
    if m.delta is None:
        return fmt.NA
    if m.unit == "%":
        return f"{fmt.fmt_signed(m.delta * 100)} pp"
    rel = f" ({fmt.fmt_pct(m.rel)})" if m.rel is not None else ""
    return f"{fmt.fmt_signed(m.delta, m.unit)}{rel}"


def _fmt_ci(m: MetricChange) -> str:
    iv = m.interval
    if iv is None:
        return ""
    if m.unit == "%":
        return f"{fmt.fmt_signed(iv.low * 100)} … {fmt.fmt_signed(iv.high * 100)} pp"
    return f"{fmt.fmt_signed(iv.low)} … {fmt.fmt_signed(iv.high)} {m.unit}"


def render_html(
    results: Sequence[dict[str, Any]],
    baselines: Sequence[dict[str, Any]] | None = None,
    *,
    comparison: Comparison | None = None,
    title: str | None = None,
) -> str:
    """The full HTML report for ``results`` (compared with ``baselines`` when given).

    The page is self-contained: it opens offline, prints cleanly, and escapes every
    string taken from a result file. ``comparison`` may be passed to reuse a
    :func:`compare` already computed.
    """
    results = [validate_result(r, source=f"result {i + 1}") for i, r in enumerate(results)]
    baselines = [
        validate_result(b, source=f"baseline {i + 1}") for i, b in enumerate(baselines or [])
    ]
    if comparison is None:
        comparison = compare(results, baselines)
    labels = labels_for(results)
    checks = [r for r in results if r["kind"] == "check"]
    conf = conformance_view(checks) if checks else None

    changes = {(m.target, m.run, m.metric, m.stat): m for m in comparison.metric_changes}
    base_of = {i: baselines[j] for i, j in comparison.pairs}
    perf = []
    for i, r in enumerate(results):
        if r["kind"] != "bench":
            continue
        perf.append(_perf_view(bench_view(r, labels[i]), changes, base_of.get(i)))
    across = _across_targets(perf)

    change_tables = _change_tables(comparison.metric_changes)
    if title is None:
        title = _title(results)
    template = _environment().get_template("report.html.j2")
    html = template.render(
        title=title,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        report_version=__version__,
        results=results,
        labels=labels,
        conf=conf,
        overview=_overview(conf, perf),
        perf=perf,
        across=across,
        comparison=comparison if baselines else None,
        change_tables=change_tables,
        facts=_facts(results, labels),
        style=Markup(_template_source("style.css")),
        script=Markup(_template_source("script.js")),
        REGRESSED=REGRESSED,
        IMPROVED=IMPROVED,
        NOT_JUDGED=NOT_JUDGED,
    )
    return html


def _title(results: Sequence[dict[str, Any]]) -> str:
    kinds = {r["kind"] for r in results}
    if kinds == {"check"}:
        return "Conformance report"
    if kinds == {"bench"}:
        return "Performance report"
    return "Conformance and performance report"


def _change_tables(changes: Sequence[MetricChange]) -> list[dict[str, Any]]:
    """Metric changes grouped by target and load level, one row per metric."""
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for m in changes:
        table = tables.setdefault(
            (m.target, m.run), {"target": m.target, "run": m.run, "rows": {}, "bases": []}
        )
        row = table["rows"].setdefault(
            m.metric, {"name": m.label.rsplit(" ", 1)[0] if m.stat else m.label, "cells": {}}
        )
        row["cells"][m.stat or "value"] = m
        basis = m.basis
        if basis and basis not in table["bases"]:
            table["bases"].append(basis)
    out = []
    for table in tables.values():
        # "openai · m · 8 users" needs no "at 8 users"; a sweep's step does
        table["at"] = "" if table["target"].endswith(table["run"]) else table["run"]
        rows = list(table["rows"].values())
        table["rows"] = rows
        table["regressed"] = any(m.regression for r in rows for m in r["cells"].values())
        out.append(table)
    return out


def _overview(conf: ConformanceView | None, perf: list[PerfView]) -> list[dict[str, Any]]:
    cards = []
    if conf is not None:
        for t, v in zip(conf.targets, conf.verdicts, strict=True):
            cards.append({"kind": "check", "target": t, "verdict": v})
    for p in perf:
        health = bench_health(p.bench.result)
        # the headline numbers: of the highest load level that had successful requests
        shown = [h for h in health.runs if h.succeeded or h.level == "unknown"]
        run = None
        if shown:
            run = next((rv.run for rv in p.runs if rv.run.label == shown[-1].label), None)
        m = run.metrics if run else {}
        cards.append(
            {
                "kind": "bench",
                "target": p.bench.target,
                "load": result_load_label(p.bench.result),
                "health": health,
                "steps": list(health.runs) if p.bench.sweep_axis else [],
                "ttft": (m.get("ttft_ms") or {}).get("p50"),
                "e2e": (m.get("e2e_ms") or {}).get("p50"),
                "tok": m.get("output_tokens_per_s"),
                "run": run.label if run and p.bench.sweep_axis else "",
            }
        )
    return cards


def _perf_view(
    bench: BenchView,
    changes: dict[tuple[str, str, str, str], MetricChange],
    baseline: dict[str, Any] | None,
) -> PerfView:
    label = bench.target.label
    base_runs = {}
    if baseline is not None:
        base_runs = {r.label: r for r in bench_runs(baseline)}
    runs = []
    for run in bench.runs:
        rows = []
        tpc = run.metrics.get("tokens_per_chunk")
        tpc_mean = fmt.as_float(tpc.get("mean")) if isinstance(tpc, dict) else None
        for info in distributions(run.data):
            if not info.in_table:
                continue
            metric, name = info.name, info.label
            block = run.metrics.get(metric)
            if not isinstance(block, dict):
                continue
            note = ""
            if metric == "itl_ms" and tpc_mean is not None:
                # coalescing shows here: more than one token per chunk stretches the gaps
                note = f"{fmt.fmt_num(tpc_mean)} tokens per chunk"
            rows.append(
                {
                    "metric": metric,
                    "name": name,
                    "note": note,
                    "values": {s: block.get(s) for s in ("mean", "p50", "p90", "p99")},
                    "changes": {
                        s: changes.get((label, run.label, metric, s)) for s in ("p50", "p90", "p99")
                    },
                }
            )
        health = run_health(run)
        throughput = []
        for info, value in (
            (rate(run.data, "requests_per_s"), health.ok_rps),
            (
                rate(run.data, "output_tokens_per_s"),
                fmt.as_float(run.metrics.get("output_tokens_per_s")),
            ),
        ):
            if value is not None:
                throughput.append(
                    {
                        "name": info.label,
                        "value": fmt.fmt_num(value),
                        "unit": info.unit,
                        "change": changes.get((label, run.label, info.name, "")),
                        "bad": False,
                    }
                )
        if health.requests is not None:
            share = health.failure_rate
            text = f"{fmt.fmt_num(health.failed or 0)} of {fmt.fmt_num(health.requests)}"
            if share:
                text += f" ({fmt.fmt_ratio(share)})"
            throughput.append(
                {
                    "name": "Failed requests",
                    "value": text,
                    "unit": "",
                    "change": changes.get((label, run.label, "failure_rate", "")),
                    "bad": health.bad,
                }
            )
            if health.failed and health.failed_rps is not None:
                throughput.append(
                    {
                        "name": "Failed requests/s",
                        "value": fmt.fmt_num(health.failed_rps),
                        "unit": "req/s",
                        "change": None,
                        "bad": True,
                    }
                )
        view = RunView(
            run=run,
            rows=rows,
            throughput=throughput,
            calibration=_calibration_text(bench.result.get("calibration")),
            errors=list(health.kinds),
            health=health,
        )
        if bench.sweep_axis is None:
            base_run = base_runs.get(run.label)
            panels = []
            for metric, name in (
                ("ttft_ms", "Time to first token (CDF)"),
                ("e2e_ms", "End-to-end latency (CDF)"),
            ):
                series = []
                if run.samples.get(metric):
                    series.append(("this run", run.samples[metric]))
                if series and base_run is not None and base_run.samples.get(metric):
                    series.append(("baseline", base_run.samples[metric]))
                panels.append((name, series))
            view.has_baseline = any(len(series) > 1 for _, series in panels)
            cdf = _draw(plots.cdf_plot, panels)
            if cdf:
                view.left_plots.append(Markup(cdf))
            svg = _itl_plot(run, rows, tpc_mean)
            if svg:
                view.left_plots.append(Markup(svg))
            ts = _draw(plots.timeseries_plot, run.timeseries, run.warmup_s)
            if ts:
                view.wide_plots.append(Markup(ts))
        runs.append(view)

    sweep_rows: list[dict[str, Any]] = []
    sweep_plots: list[Markup] = []
    if bench.sweep_axis is not None:
        svg = _draw(plots.sweep_plot, bench.runs, bench.sweep_axis)
        if svg:
            sweep_plots.append(Markup(svg))
        panels = []
        for metric, name in (("ttft_ms", "TTFT by load (CDF)"), ("e2e_ms", "E2E by load (CDF)")):
            panels.append((name, [(r.label, r.samples.get(metric) or []) for r in bench.runs]))
        cdf = _draw(plots.cdf_plot, panels, width_in=plots.FULL_IN)
        if cdf:
            sweep_plots.append(Markup(cdf))
        for rv in runs:
            m = rv.run.metrics
            sweep_rows.append(
                {
                    "label": rv.run.label,
                    "health": rv.health,
                    "requests": rv.health.requests,
                    "failures": rv.health.failed,
                    "rps": rv.health.ok_rps,
                    "tok": m.get("output_tokens_per_s"),
                    "ttft": m.get("ttft_ms") or {},
                    "e2e": m.get("e2e_ms") or {},
                    "itl": m.get("itl_ms") or {},
                }
            )
    return PerfView(
        bench=bench,
        runs=runs,
        sweep_rows=sweep_rows,
        sweep_plots=sweep_plots,
        health=bench_health(bench.result),
        workers=[(run.label, w) for run in bench.runs if (w := workers_view(run.data)) is not None],
    )


def _itl_plot(run: BenchRun, rows: list[dict[str, Any]], tpc_mean: float | None) -> str | None:
    """The ITL histogram, drawn from the same values as a row of the latency table.

    With every gap sampled (``samples.itl_gap_ms``) it shows the gaps the ITL row
    summarises, and its p50/p99 markers are that row's p50/p99. Older results sample
    only each request's mean gap (``samples.itl_ms``): then the histogram says so, and
    a row "ITL, mean per request" computed from those same values joins the table.
    """
    gaps = run.samples.get("itl_gap_ms")
    if gaps:
        row = next((r for r in rows if r["metric"] == "itl_ms"), None)
        marks = None
        if row is not None:
            p50, p99 = fmt.as_float(row["values"]["p50"]), fmt.as_float(row["values"]["p99"])
            if p50 is not None and p99 is not None:
                marks = (p50, p99)
        return _draw(plots.itl_histogram, gaps, tpc_mean, marks=marks)
    means = run.samples.get("itl_ms")
    if not means:
        return None
    summary = plots.sample_summary(means)
    if summary is None:
        return None
    at = next((k + 1 for k, r in enumerate(rows) if r["metric"] == "itl_ms"), len(rows))
    rows.insert(
        at,
        {
            "metric": "itl_request_mean_ms",
            "name": "ITL, mean per request",
            "note": "the values of the ITL histogram",
            "values": summary,
            "changes": dict.fromkeys(("p50", "p90", "p99")),
        },
    )
    return _draw(
        plots.itl_histogram,
        means,
        tpc_mean,
        marks=(summary["p50"], summary["p99"]),
        per_request=True,
    )


def _draw(plot: Callable[..., str | None], *args: Any, **kwargs: Any) -> str | None:
    """A plot, or a short note in its place when these numbers cannot be drawn.

    The numbers are in the tables either way; a plot that fails on unusual data must not
    cost the user the whole report.
    """
    try:
        return plot(*args, **kwargs)
    except (ValueError, TypeError, OverflowError, ArithmeticError, IndexError) as exc:
        name = plot.__name__.replace("_", " ")
        message = f"{name}: this plot could not be drawn ({type(exc).__name__}: {exc})"
        return str(Markup('<p class="callout">{}</p>').format(message))


def _across_targets(perf: list[PerfView]) -> Markup | None:
    """Overlaid distributions when several single-run bench results have samples."""
    singles = [p for p in perf if p.bench.sweep_axis is None and p.runs and p.runs[0].run.samples]
    if len(singles) < 2:
        return None
    panels = []
    for metric, name in (
        ("ttft_ms", "TTFT across targets (CDF)"),
        ("e2e_ms", "E2E across targets (CDF)"),
    ):
        panels.append(
            (
                name,
                [(p.bench.target.label, p.runs[0].run.samples.get(metric) or []) for p in singles],
            )
        )
    svg = _draw(plots.cdf_plot, panels, width_in=plots.FULL_IN)
    return Markup(svg) if svg else None


def _calibration_text(cal: Any) -> str:
    measured = isinstance(cal, dict) and any(
        isinstance(cal.get(key), dict) and cal[key].get("p50") is not None
        for key in ("ttft_error_ms", "itl_error_ms")
    )
    if not measured:
        return (
            "No self-calibration in this result: the harness measures its own timing error "
            "only on streamed runs against the embedded reference backend."
        )
    assert isinstance(cal, dict)
    parts = []
    for key, name in (("ttft_error_ms", "TTFT"), ("itl_error_ms", "ITL")):
        block = cal.get(key)
        if isinstance(block, dict):
            parts.append(
                f"{name} {fmt.fmt_signed(block.get('p50'), 'ms')} at p50, "
                f"{fmt.fmt_signed(block.get('p99'), 'ms')} at p99"
            )
    text = "Harness measurement error, against the backend's own send times: " + (
        "; ".join(parts) if parts else "not reported"
    )
    late = cal.get("server_lateness_ms")
    if isinstance(late, dict) and isinstance(late.get("ttft"), dict):
        late = late["ttft"]  # {"ttft": {...}, "itl": {...}}: the first token's lateness
    if isinstance(late, dict) and late.get("p99") is not None:
        text += (
            f". The backend's own lateness (already taken off): p99 {fmt.fmt_ms(late.get('p99'))}"
        )
    if cal.get("true_ttft_ms") is not None:
        text += f" (configured TTFT {fmt.fmt_ms(cal.get('true_ttft_ms'))}"
        if cal.get("true_itl_ms") is not None:
            text += f", ITL {fmt.fmt_ms(cal.get('true_itl_ms'))}"
        text += ")"
    return text + "."


def _check_mode(r: dict[str, Any]) -> str:
    """How a check run reached its target (live, replayed cassettes, embedded backend)."""
    target = r.get("target")
    mode = target.get("mode") if isinstance(target, dict) else None
    return f"checks ({mode})" if isinstance(mode, str) and mode else "checks"


def _duration(r: dict[str, Any]) -> str:
    measured = (r.get("load") or {}).get("duration_s")
    wall = r.get("duration_s")
    if r["kind"] == "bench" and measured is not None:
        text = f"{fmt.fmt_duration(measured)} under load"
        if wall is not None and wall > measured:
            text += f", {fmt.fmt_duration(wall)} in all"
        return text
    return fmt.fmt_duration(wall)


def _facts(results: Sequence[dict[str, Any]], labels: Sequence[Any]) -> list[dict[str, str]]:
    out = []
    for r, t in zip(results, labels, strict=True):
        out.append(
            {
                "kind": "Conformance" if r["kind"] == "check" else "Performance",
                "target": t.label,
                "provider": str(r.get("provider") or fmt.NA),
                "model": str(r.get("model") or fmt.NA),
                "base_url": str(r.get("base_url") or fmt.NA),
                "load": result_load_label(r) if r["kind"] == "bench" else _check_mode(r),
                "duration": _duration(r),
                "warmup": fmt.fmt_duration(r.get("warmup_s")) if r.get("warmup_s") else "—",
                "harness": str(r.get("harness_version") or fmt.NA),
                "started": fmt.fmt_time(r.get("started_at")),
            }
        )
    return out
