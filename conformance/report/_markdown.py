"""The Markdown summary: compact enough for a pull-request comment or a CI job summary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from conformance.report import _format as fmt
from conformance.report._bench_runs import bench_runs, load_label
from conformance.report._check_views import SEVERITY_LABEL, SEVERITY_TEXT, verdict
from conformance.report._compare import (
    IMPROVED,
    NOT_JUDGED,
    REGRESSED,
    Comparison,
    MetricChange,
    compare,
    labels_for,
)
from conformance.report._load import SEVERITIES, validate_result
from conformance.report._metrics import MetricInfo, headline
from conformance.report._run_health import bench_health
from conformance.report._workers import workers_line, workers_view

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~@#])")
_SAFE_ID = re.compile(r"^[\w.\-:/]+$")
#: At most this many failed checks per severity are listed (a PR comment must stay short).
MAX_LISTED = 25
VERDICT_MARK = {"pass": "✅", "cosmetic": "✅", "incomplete": "⚠️", "client": "❌", "sdk": "❌"}
#: The mark of the document verdict (the provider's own document, and HTTP).
DOCUMENT_MARK = {"pass": "✅", "fail": "❌", "none": "⚠️"}
HEALTH_MARK = {"ok": "✅", "unknown": "❔", "degraded": "⚠️", "partial": "❌", "failed": "❌"}


def md(text: Any, limit: int = 200) -> str:
    """Untrusted text made inert in Markdown: one line, HTML and Markdown syntax escaped."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def code(text: Any) -> str:
    """A check id as inline code when it is a plain identifier, escaped text otherwise."""
    s = str(text)
    return f"`{s}`" if _SAFE_ID.match(s) and len(s) <= 120 else md(s)


def render_markdown(
    results: Sequence[dict[str, Any]],
    baselines: Sequence[dict[str, Any]] | None = None,
    *,
    comparison: Comparison | None = None,
    title: str | None = None,
) -> str:
    """A Markdown summary: verdicts, failed checks by severity, key percentiles, regressions."""
    results = [validate_result(r, source=f"result {i + 1}") for i, r in enumerate(results)]
    baselines = [
        validate_result(b, source=f"baseline {i + 1}") for i, b in enumerate(baselines or [])
    ]
    if comparison is None:
        comparison = compare(results, baselines)
    labels = labels_for(results)
    if title is None:
        kinds = {r["kind"] for r in results}
        title = {
            frozenset({"check"}): "Conformance report",
            frozenset({"bench"}): "Performance report",
        }.get(frozenset(kinds), "Conformance and performance report")
    out: list[str] = [f"## {md(title)}", ""]

    checks = [(labels[i], r) for i, r in enumerate(results) if r["kind"] == "check"]
    benches = [(labels[i], r) for i, r in enumerate(results) if r["kind"] == "bench"]

    if baselines:
        out += _changes(comparison)

    if checks:
        out += [
            "### Conformance",
            "",
            "| Target | Provider's document | OpenAI-client compatibility | Failed (SDK / client / cosmetic) | Beyond the document | Errors | Warned | Passed | Skipped |",
            "|---|---|---|---|---|---:|---:|---:|---:|",
        ]
        for t, r in checks:
            v = verdict(r)
            f = v.failed_by_severity
            b = v.beyond_document
            d = v.document
            own = f"{DOCUMENT_MARK[d.level]} **{d.label}**: {md(d.text)}" if d else ""
            out.append(
                f"| {md(t.label)} | {own} | {VERDICT_MARK[v.level]} **{v.label}**: {md(v.text)} | "
                f"{f['sdk']} / {f['client']} / {f['cosmetic']} | "
                f"{b.get('sdk', 0)} / {b.get('client', 0)} / {b.get('cosmetic', 0)} | "
                f"{v.counts['error']} | {v.counts['warned']} | "
                f"{v.counts['passed']} | {v.counts['skipped']} |"
            )
        out.append("")
        out.append(
            "*Provider's document*: the checks of rules the provider's own document states "
            "(and of HTTP). *Beyond the document*: failures of OpenAI rules the document does "
            "not state, reported as compatibility findings; they fail `check` only when they "
            "break the official SDK in a feature the document offers, or with `--strict-openai`."
        )
        out.append("")
        failing = [
            (t, c)
            for t, r in checks
            for c in r.get("checks", [])
            if c["status"] in ("failed", "error")
        ]
        if failing:
            out += ["#### Failed checks", ""]
            for sev in SEVERITIES:
                items = [(t, c) for t, c in failing if c["severity"] == sev]
                if not items:
                    continue
                what = SEVERITY_TEXT[sev] if sev != "cosmetic" else "clients keep working"
                out.append(f"**{SEVERITY_LABEL[sev]}** ({what})")
                out.append("")
                items = sorted(items, key=lambda tc: (tc[1]["id"], tc[0].label))
                if len(items) > MAX_LISTED:
                    hidden = len(items) - MAX_LISTED
                    items = items[:MAX_LISTED]
                else:
                    hidden = 0
                for t, c in items:
                    status = "" if c["status"] == "failed" else " *(could not complete)*"
                    if c["status"] == "failed" and c.get("basis") == "openai":
                        status = " *(compatibility finding, beyond the document)*"
                    detail = f": {md(c.get('detail'))}" if c.get("detail") else ""
                    out.append(
                        f"- {code(c['id'])} on {md(t.label)}{status} — {md(c.get('title') or c['id'], 120)}{detail}"
                    )
                if hidden:
                    out.append(f"- … and {hidden} more (see the HTML report)")
                out.append("")

    if benches:
        alarms = []
        for t, r in benches:
            health = bench_health(r)
            if health.level != "ok":
                alarms.append(
                    f"- {HEALTH_MARK[health.level]} **{md(t.label)}: {health.label}**: "
                    f"{md(health.text, 600)}."
                )
        out += ["### Performance", ""]
        if alarms:
            out += [*alarms, ""]
        columns = headline(r for _, r in benches)
        named = "".join(f" {md(m.label, 60)} {s} |" for m, s in columns)
        out += [
            f"| Target | Load | Status | Successful req/s | Tokens/s |{named} Failed |",
            "|---|---|---|---:|---:|" + "---:|" * len(columns) + "---:|",
        ]
        notes: list[str] = []
        for t, r in benches:
            health = bench_health(r)
            for run, h in zip(bench_runs(r), health.runs, strict=True):
                m = run.metrics
                load = run.label if len(r.get("steps") or []) > 1 else load_label(run.load)
                failed = fmt.fmt_num(h.failed) if h.requests else fmt.NA
                if h.requests and h.failed:
                    failed += f" ({fmt.fmt_ratio(h.failure_rate)})"
                    if h.kinds:
                        failed += f": {md(h.kinds_text, 120)}"
                status = {
                    "ok": "ok",
                    "unknown": "not counted",
                    "degraded": "within the allowed failures",
                    "partial": "partly failed",
                    "failed": "no request succeeded" if h.requests else "nothing measured",
                }[h.level]
                values = "".join(f" {_headline_value(m, info, s)} |" for info, s in columns)
                out.append(
                    f"| {md(t.label)} | {md(load)} | {HEALTH_MARK[h.level]} {status} | {fmt.fmt_num(h.ok_rps)} | "
                    f"{fmt.fmt_num(m.get('output_tokens_per_s'))} |{values} {failed} |"
                )
                workers = workers_view(run.data)
                if workers is not None:
                    mark = f"{HEALTH_MARK['failed']} " if workers.bad else ""
                    notes.append(
                        f"{mark}{md(t.label)} ({md(load)}): {md(workers_line(workers), 600)}."
                    )
            cal = r.get("calibration")
            if (
                isinstance(cal, dict)
                and isinstance(cal.get("ttft_error_ms"), dict)
                and cal["ttft_error_ms"].get("p50") is not None
            ):
                e = cal["ttft_error_ms"]
                notes.append(
                    f"{md(t.label)}: harness TTFT measurement error {fmt.fmt_signed(e.get('p50'), 'ms')} p50, "
                    f"{fmt.fmt_signed(e.get('p99'), 'ms')} p99 (self-calibration)."
                )
            if r.get("partial"):
                notes.append(f"{md(t.label)}: partial result (the run did not finish).")
            if r.get("usage_fallback"):
                what = (
                    "Wetrocloud reports only the tokens used in all"
                    if r.get("provider") == "wetrocloud"
                    else "the server reported no completion token count"
                )
                notes.append(f"{md(t.label)}: {what}; output tokens were counted by the harness.")
        out.append("")
        if notes:
            out += [f"- {n}" for n in notes] + [""]
        out += [
            "Warm-up excluded. Throughput counts successful requests only; failed requests are "
            "counted apart. TTFT and E2E are measured from the request's send time.",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def _headline_value(metrics: dict[str, Any], info: MetricInfo, stat: str) -> str:
    """One statistic of a distribution for the summary table (n/a when missing)."""
    block = metrics.get(info.name)
    value = block.get(stat) if isinstance(block, dict) else None
    return fmt.fmt_ms(value) if info.unit == "ms" else fmt.fmt_num(value)


def _changes(comp: Comparison) -> list[str]:
    out = ["### Changes since baseline", ""]
    regs = comp.regressions
    out.append(
        f"**{len(regs)} regression{'s' if len(regs) != 1 else ''}**"
        if regs
        else "**No regressions.**"
    )
    out.append("")
    marks = {"newly failing": "❌ newly failing", "newly passing": "✅ newly passing"}
    for c in comp.check_changes:
        what = marks.get(c.change, c.change)
        trans = f"{c.before or 'not run'} → {c.after or 'not run'}"
        out.append(f"- {what}: {code(c.check_id)} ({c.severity}) on {md(c.target)}, {trans}")
    if comp.check_changes:
        out.append("")
    shown = [m for m in comp.metric_changes if m.verdict in (REGRESSED, IMPROVED)]
    if shown:
        groups: dict[tuple[str, str, str], list[MetricChange]] = {}
        for m in shown:
            groups.setdefault((m.target, m.run, m.metric), []).append(m)
        out += [
            "| | Target | Metric | Change (baseline → now, CI of the change) |",
            "|---|---|---|---|",
        ]
        for (target, run, _), items in groups.items():
            regressed = any(m.verdict == REGRESSED for m in items)
            mark = "🔺 regressed" if regressed else "🟢 improved"
            name = items[0].label.rsplit(" ", 1)[0] if items[0].stat else items[0].label
            place = md(target) if target.endswith(run) else f"{md(target)} at {md(run)}"
            cells = "; ".join(
                f"{m.stat + ' ' if m.stat else ''}{_value(m, m.baseline)} → {_value(m, m.current)}: "
                f"{fmt.fmt_pct(m.rel) if m.rel is not None else _change(m)} (CI {_ci(m)})"
                for m in items
            )
            out.append(f"| {mark} | {place} | {name} | {cells} |")
        out += [
            "",
            f"_Flagged only when the {comp.confidence:.0%} bootstrap interval excludes zero and the change is at least {comp.min_change:.0%}._",
            "",
        ]

    def where(m: MetricChange) -> str:
        return md(m.target) if m.target.endswith(m.run) else f"{md(m.target)} at {md(m.run)}"

    no_samples = sorted(
        {
            where(m)
            for m in comp.metric_changes
            if m.verdict == NOT_JUDGED and "no per-request" in m.basis
        }
    )
    if no_samples:
        out.append(
            "Significance could not be judged (no per-request samples) for "
            + ", ".join(no_samples)
            + "; changes there are shown in the HTML report but never flagged."
        )
        out.append("")
    too_few = sorted(
        {
            f"{m.label} on {where(m)}"
            for m in comp.metric_changes
            if m.verdict == NOT_JUDGED and ("too few" in m.basis or "fewer than" in m.basis)
        }
    )
    if too_few:
        shown_few = too_few[:8] + ([f"{len(too_few) - 8} more"] if len(too_few) > 8 else [])
        out.append(
            "Too few samples to judge (p99 needs 500, p90 50): " + "; ".join(shown_few) + "."
        )
        out.append("")
    judged = [m for m in comp.metric_changes if m.interval is not None]
    if judged and not shown:
        out.append(f"All {len(judged)} compared metrics are within noise.")
        out.append("")
    for n in comp.notes:
        out.append(f"- {md(n, 300)}")
    if comp.notes:
        out.append("")
    return out


def _value(m: MetricChange, v: float | None) -> str:
    if m.unit == "ms":
        return fmt.fmt_ms(v)
    if m.unit == "%":
        return fmt.fmt_ratio(v)
    return f"{fmt.fmt_num(v)} {m.unit}"


def _change(m: MetricChange) -> str:
    if m.delta is None:
        return fmt.NA
    if m.unit == "%":
        return f"{fmt.fmt_signed(m.delta * 100)} pp"
    return (
        f"{fmt.fmt_signed(m.delta, m.unit)} ({fmt.fmt_pct(m.rel)})"
        if m.rel is not None
        else fmt.fmt_signed(m.delta, m.unit)
    )


def _ci(m: MetricChange) -> str:
    iv = m.interval
    if iv is None:
        return "n/a"
    scale, unit = (100.0, "pp") if m.unit == "%" else (1.0, m.unit)
    return f"{fmt.fmt_signed(iv.low * scale)} … {fmt.fmt_signed(iv.high * scale)} {unit}"
