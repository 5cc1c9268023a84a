"""Reports from result files: a self-contained HTML page, a Markdown summary, and the
comparison with a baseline.

Reports only consume result dictionaries (``check --json`` and ``bench --json``); they
never make a request.

>>> from conformance.report import load_result, write_reports
>>> results = [load_result("check.json"), load_result("bench.json")]      # doctest: +SKIP
>>> outcome = write_reports(results, None, "report.html", "summary.md")    # doctest: +SKIP
"""

from __future__ import annotations

from conformance.report._compare import CheckChange, Comparison, MetricChange, compare
from conformance.report._html import render_html
from conformance.report._load import load_result, validate_result
from conformance.report._markdown import render_markdown
from conformance.report._write import ReportOutcome, write_reports

__all__ = [
    "CheckChange",
    "Comparison",
    "MetricChange",
    "ReportOutcome",
    "compare",
    "load_result",
    "render_html",
    "render_markdown",
    "validate_result",
    "write_reports",
]
