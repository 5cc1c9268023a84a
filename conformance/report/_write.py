"""Writing the reports to disk."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import ConfigError
from conformance.report._compare import Comparison, compare
from conformance.report._html import render_html
from conformance.report._load import validate_result
from conformance.report._markdown import render_markdown


@dataclass(frozen=True)
class ReportOutcome:
    """What :func:`write_reports` wrote, and the comparison behind it."""

    html_path: Path | None
    markdown_path: Path | None
    comparison: Comparison

    @property
    def regressed(self) -> bool:
        """True when something got worse than the baseline by more than noise."""
        return self.comparison.regressed


def write_reports(
    results: Sequence[dict[str, Any]],
    baselines: Sequence[dict[str, Any]] | None,
    html_path: str | Path | None,
    markdown_path: str | Path | None,
    *,
    confidence: float = 0.95,
    min_change: float = 0.05,
) -> ReportOutcome:
    """Render and write the HTML and/or Markdown report (each path may be None).

    Parent directories are created. Files are replaced atomically, so a reader never
    sees half a report. Raises ``ConfigError`` when a path cannot be written.
    """
    results = [validate_result(r, source=f"result {i + 1}") for i, r in enumerate(results)]
    baselines = [
        validate_result(b, source=f"baseline {i + 1}") for i, b in enumerate(baselines or [])
    ]
    comparison = compare(results, baselines, confidence=confidence, min_change=min_change)
    html_out = md_out = None
    if html_path is not None:
        html_out = Path(html_path)
        _write(html_out, render_html(results, baselines, comparison=comparison))
    if markdown_path is not None:
        md_out = Path(markdown_path)
        _write(md_out, render_markdown(results, baselines, comparison=comparison))
    return ReportOutcome(html_out, md_out, comparison)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is meant to be read
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
