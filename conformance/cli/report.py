"""``conformance report``: render result files as HTML and Markdown reports."""

from __future__ import annotations

import sys
from typing import Any

import click

from conformance.errors import ConfigError


@click.command("report")
@click.argument("results", nargs=-1, required=True, metavar="RESULT.json...")
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    metavar="OLD.json",
    help="A result to compare with (repeatable). Matched by kind, provider, model, stream and load.",
)
@click.option(
    "--html", "html_path", metavar="PATH", help="Write the self-contained HTML report here."
)
@click.option(
    "--markdown", "markdown_path", metavar="PATH", help="Write the Markdown summary here."
)
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 when a check newly fails or a metric got worse by more than noise.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=0.95,
    show_default=True,
    help="Confidence level of the bootstrap interval used to judge changes.",
)
@click.option(
    "--min-change",
    type=click.FloatRange(0.0, 10.0),
    default=0.05,
    show_default=True,
    help="Smallest relative change (0.05 = 5%) flagged as a regression.",
)
def command(
    results: tuple[str, ...],
    baselines: tuple[str, ...],
    html_path: str | None,
    markdown_path: str | None,
    fail_on_regression: bool,
    confidence: float,
    min_change: float,
) -> None:
    """Render RESULT.json files (from check --json and bench --json) as reports.

    Reports only read result files; nothing is run again. Exit codes: 0 written,
    1 a regression with --fail-on-regression, 2 a missing or invalid file.
    """
    from conformance.report import CheckChange, load_result, write_reports
    from conformance.report._format import fmt_pct

    if html_path is None and markdown_path is None:
        raise ConfigError("report: nothing to write; give --html PATH and/or --markdown PATH")
    loaded = [load_result(p) for p in results]
    base = [load_result(p) for p in baselines]
    outcome = write_reports(
        loaded, base, html_path, markdown_path, confidence=confidence, min_change=min_change
    )
    for path in (outcome.html_path, outcome.markdown_path):
        if path is not None:
            click.echo(f"wrote {path}")
    _say_failures(loaded)
    comp = outcome.comparison
    if base:
        regs = comp.regressions
        if regs:
            click.echo(
                f"{len(regs)} regression{'s' if len(regs) != 1 else ''} against the baseline:"
            )
            for r in regs:
                if isinstance(r, CheckChange):
                    click.echo(f"  check {r.check_id} ({r.severity}) newly {r.after} on {r.target}")
                else:
                    where = r.target if r.target.endswith(r.run) else f"{r.target} at {r.run}"
                    change = f" ({fmt_pct(r.rel)})" if r.rel is not None else ""
                    click.echo(
                        f"  {r.label} on {where}: {_value(r.baseline, r.unit)} -> "
                        f"{_value(r.current, r.unit)}{change}"
                    )
        else:
            click.echo("no regressions against the baseline")
        for note in comp.notes:
            click.echo(f"note: {note}")
    if fail_on_regression and comp.regressed:
        sys.exit(1)


def _say_failures(results: list[dict[str, Any]]) -> None:
    """One line per result that must not be read as a success (the report shows it red)."""
    from conformance.report._check_views import verdict
    from conformance.report._compare import labels_for
    from conformance.report._run_health import bench_health

    for r, t in zip(results, labels_for(results), strict=True):
        if r.get("kind") == "bench":
            h = bench_health(r)
            if h.bad:
                click.echo(f"bench {t.label}: {h.label.lower()}: {h.text}")
        elif r.get("kind") == "check":
            v = verdict(r)
            if v.level == "incomplete":
                click.echo(f"check {t.label}: {v.label.lower()}: {v.text}")


def _value(value: float | None, unit: str) -> str:
    from conformance.report._format import fmt_ms, fmt_num, fmt_ratio

    if unit == "ms":
        return fmt_ms(value)
    if unit == "%":
        return fmt_ratio(value)
    return f"{fmt_num(value)} {unit}"
