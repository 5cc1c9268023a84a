"""The HTML report rendered in headless Chromium: it loads offline, draws, and prints.

Skipped when no Chromium is installed (Debian: ``apt-get install -y chromium``), unless
``CONFORMANCE_REQUIRE_BROWSER=1`` (then it fails); set ``CHROMIUM`` to point at another
binary. Marked ``browser`` so ``tox -e browser`` can run it alone. The screenshot is kept
in ``CONFORMANCE_SCREENSHOT_DIR`` when that is set.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report_support import all_checks, failing_bench, sample, sweep_bench

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


# --- reports that show failure, measured in the rendered page -------------------------

#: Runs in the page once it has loaded; what it returns is written into the DOM as JSON.
PROBE = r"""
function rect(el) { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
function probe() {
  const out = {cards: [], facts: null, texts: [], clipped: [], clashes: [], repeats: []};
  for (const card of document.querySelectorAll(".cards .card")) {
    const st = getComputedStyle(card);
    out.cards.push({text: card.innerText, border: st.borderLeftColor, background: st.backgroundColor,
                    health: card.dataset.health || null});
  }
  const wrap = document.querySelector("#facts .table-wrap");
  out.facts = {client: wrap.clientWidth, scroll: wrap.scrollWidth,
               page: document.documentElement.scrollWidth, window: window.innerWidth};
  for (const svg of document.querySelectorAll("figure svg")) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll("text")) {
      const s = t.textContent.trim();
      if (!s) continue;
      out.texts.push(s);
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.clipped.push(s);
    }
    for (const axis of svg.querySelectorAll("g[id*='matplotlib.axis_']")) {
      const labels = [...axis.querySelectorAll("g[id*='tick_'] text")]
        .filter(t => t.textContent.trim()).map(t => [t.textContent.trim(), rect(t)]);
      const names = labels.map(l => l[0]);
      if (new Set(names).size !== names.length) out.repeats.push(names.join(" | "));
      for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i][1], b = labels[j][1];
        if (a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5)
          out.clashes.push(labels[i][0] + " / " + labels[j][0]);
      }
    }
  }
  return out;
}
window.addEventListener("load", () => { document.body.dataset.probe = JSON.stringify(probe()); });
"""


def _measure(tmp_path: Path, page: Path, width: int = 1400) -> dict[str, object]:
    """Open ``page`` at ``width`` px in headless Chromium and return what PROBE measured."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(
        page.read_text(encoding="utf-8").replace("</body>", f"<script>{PROBE}</script></body>"),
        encoding="utf-8",
    )
    proc = _chromium(tmp_path, f"--window-size={width},900", "--dump-dom", probed.as_uri())
    found = re.search(r'data-probe="([^"]*)"', proc.stdout.decode("utf-8", errors="replace"))
    assert found, proc.stderr.decode(errors="replace")[-2000:]
    data: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return data


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shape of failure next to healthy runs, the Run facts at their longest."""
    out = tmp_path_factory.mktemp("failing")
    results = [
        sample("check_nebulablock.json"),
        sample("real_check_openai_fault_role_every_delta.json"),
        failing_bench(),  # every request refused
        failing_bench(users=4, failures=30, kinds={"http_5xx": 20, "read_timeout": 10}),
        sweep_bench({1: 0, 8: 12, 32: 120}),
        sample("bench_openai_sweep_users.json"),
        sample("bench_nebulablock_rate4.json"),
        sample("real_bench_openai_rate5_poisson.json"),
        sample("real_bench_openai_sweep_users_1_4.json"),
        failing_bench(users=2, failures=0, idle_warmup=True, gap_samples=True),
        sweep_bench({1: 120, 4: 120}),  # every step refused: nothing to scale an axis by
    ]
    write_reports(results, [sweep_bench({1: 0, 8: 0})], out / "report.html", None)
    return out / "report.html"


RED = "rgb(220, 38, 38)"


@needs_chromium
def test_failed_benches_are_red_in_the_overview(failing_report: Path, tmp_path: Path) -> None:
    data = _measure(tmp_path, failing_report)
    cards = [c for c in data["cards"] if c["text"].upper().startswith("PERFORMANCE")]  # type: ignore[union-attr]
    assert len(cards) == 9
    dead, partly, sweep = cards[0], cards[1], cards[2]
    for card in (dead, partly, sweep):
        assert card["border"] == RED and card["background"] != "rgba(0, 0, 0, 0)", card
        assert "n/a" not in card["text"], card["text"]
    assert "Failed" in dead["text"] and "120 of 120 failed" in dead["text"]
    assert "http_4xx" in dead["text"]
    assert "Partly failed" in partly["text"] and "25.0%" in partly["text"]
    assert "http_5xx" in partly["text"] and "read_timeout" in partly["text"]
    # a sweep says which step failed, and how
    assert "10.0% failed" in sweep["text"] and "no request succeeded" in sweep["text"]
    # one 503 in 160 requests: partly failed too, said with its share
    nebula = cards[4]
    assert nebula["border"] == RED and "(0.62%)" in nebula["text"] and "http_503" in nebula["text"]
    assert cards[8]["border"] == RED and "Failed" in cards[8]["text"]
    for healthy in (cards[3], *cards[5:8]):
        assert healthy["border"] != RED and "failed" not in healthy["text"].lower(), healthy


@needs_chromium
def test_run_facts_fit_a_1400_px_window(failing_report: Path, tmp_path: Path) -> None:
    facts = _measure(tmp_path, failing_report)["facts"]
    assert facts["window"] == 1400  # type: ignore[index]
    assert facts["scroll"] <= facts["client"], facts  # type: ignore[index]
    assert facts["page"] <= 1400, facts  # type: ignore[index]


@needs_chromium
def test_plots_have_no_offset_no_clipped_text_and_no_colliding_ticks(
    failing_report: Path, tmp_path: Path
) -> None:
    data = _measure(tmp_path, failing_report)
    texts = data["texts"]
    assert len(texts) > 200  # type: ignore[arg-type]
    # matplotlib's offset and scientific notation: "1e-9", "+1e−9", "×10⁻⁹"
    offsets = [t for t in texts if re.search(r"\d[eE][+\-\u2212]?\d|×10", t)]  # type: ignore[union-attr]
    assert offsets == []
    assert data["clipped"] == []
    assert data["clashes"] == []
    assert data["repeats"] == []
    # the zero-success step and the quiet warm-up are labelled in the page
    assert any("No request succeeded at 32 users" in t for t in texts)  # type: ignore[union-attr]
    assert "warm-up: nothing completed" in texts  # type: ignore[operator]
