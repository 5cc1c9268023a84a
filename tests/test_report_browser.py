"""The HTML report rendered in headless Chromium: it loads offline, draws, and prints.

Skipped when no Chromium is installed (Debian: ``apt-get install -y chromium``), unless
``CONFORMANCE_REQUIRE_BROWSER=1`` (then it fails); set ``CHROMIUM`` to point at another
binary. Marked ``browser`` so ``tox -e browser`` can run it alone. The screenshot is kept
in ``CONFORMANCE_SCREENSHOT_DIR`` when that is set.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report_support import all_checks, sample

from conformance.report import write_reports

pytestmark = pytest.mark.browser


def _find_chromium() -> str | None:
    """The Chromium to use: ``$CHROMIUM`` if set (a path or a name), else the usual names."""
    wanted = os.environ.get("CHROMIUM")
    names = [wanted] if wanted else ["chromium", "chromium-browser", "google-chrome"]
    return next((p for p in (shutil.which(n) for n in names) if p), None)


CHROMIUM = _find_chromium()
#: ``tox -e browser`` sets this: there, a missing Chromium is an error, not a skip.
REQUIRED = os.environ.get("CONFORMANCE_REQUIRE_BROWSER", "") not in ("", "0")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not REQUIRED,
    reason="no Chromium found (apt-get install -y chromium, or set CHROMIUM)",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    if CHROMIUM is None:
        pytest.fail("CONFORMANCE_REQUIRE_BROWSER is set but no Chromium was found")
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            # offline: any name lookup fails, so a page that needed the network would show it
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    results = [
        *all_checks(),
        sample("bench_openai_u8.json"),
        sample("bench_nebulablock_rate4.json"),
        sample("bench_openai_sweep_users.json"),
    ]
    baselines = [
        sample("baseline_check_nebulablock.json"),
        sample("baseline_bench_openai_u8_faster.json"),
    ]
    write_reports(results, baselines, out / "report.html", out / "report.md")
    return out / "report.html"


@needs_chromium
def test_screenshot_shows_a_rendered_page(report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,2400", report.as_uri())
    assert shot.exists(), proc.stderr.decode(errors="replace")[-2000:]
    with shot.open("rb") as fh:
        header = fh.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1400, 2400)
    pixels = np.asarray(imread(shot))[..., :3]
    # a rendered page: a dark header band on top, a light body, and many distinct colours
    assert pixels[20:60, :, :].mean() < 0.3
    assert pixels[600:2400, :, :].mean() > 0.8
    assert len(np.unique((pixels[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
    keep = os.environ.get("CONFORMANCE_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")


@needs_chromium
def test_page_prints_to_several_pages(report: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    proc = _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri())
    assert pdf.exists(), proc.stderr.decode(errors="replace")[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 3
    # printing opens every finding: without the page's script, fewer pages come out
    closed = tmp_path / "closed.html"
    closed.write_text(re.sub(r"<script>.*?</script>", "", report.read_text(), flags=re.S))
    pdf2 = tmp_path / "closed.pdf"
    _chromium(tmp_path, f"--print-to-pdf={pdf2}", "--no-pdf-header-footer", closed.as_uri())
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf2.read_bytes())) < pages


@needs_chromium
def test_dom_loads_offline_with_every_section(report: Path, tmp_path: Path) -> None:
    proc = _chromium(tmp_path, "--dump-dom", report.as_uri())
    dom = proc.stdout.decode("utf-8", errors="replace")
    for section in (
        'id="overview"',
        'id="changes"',
        'id="conformance"',
        'id="performance"',
        'id="facts"',
    ):
        assert section in dom
    assert dom.count("<svg") >= 6
