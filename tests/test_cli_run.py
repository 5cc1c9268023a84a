"""`conformance run`, the main job: check, bench and report into one directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main


def _run(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_run_checks_benches_and_reports_into_one_directory(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = _run(
        [
            "--provider", "openai", "--provider", "wetrocloud",
            "--users", "2", "--duration", "2", "--out", str(out),
        ]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {
        "check-openai.json",
        "check-wetrocloud.json",
        "junit-openai.xml",
        "bench-openai.json",
        "bench-wetrocloud.json",
        "index.html",
        "summary.md",
        "run.json",
    } <= names
    bench = json.loads((out / "bench-openai.json").read_text())
    assert bench["kind"] == "bench" and bench["stream"] is True
    assert bench["metrics"]["requests"] > 0
    check = json.loads((out / "check-openai.json").read_text())
    assert check["summary"]["failed"] == 0 and check["summary"]["passed"] > 10
    html = (out / "index.html").read_text()
    assert "<svg" in html and "wetrocloud" in html
    assert "report:" in proc.stdout and str(out / "index.html") in proc.stdout
    manifest = json.loads((out / "run.json").read_text())
    assert set(manifest["results"]) == {
        "check-openai.json",
        "check-wetrocloud.json",
        "bench-openai.json",
        "bench-wetrocloud.json",
    }


def test_run_reports_a_failing_target_and_exits_1(tmp_path: Path) -> None:
    """A target that breaks the stream still gets its report; the run exits 1."""
    from conformance.backend import BackendConfig, serve_in_thread

    out = tmp_path / "report"
    with serve_in_thread(BackendConfig()) as root:
        proc = _run(
            [
                "--provider", "openai", "--base-url", root + "/fault/no_done/v1",
                "--no-bench", "--timeout", "5", "--out", str(out),
            ]
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "checks failed" in proc.stdout
    summary = (out / "summary.md").read_text()
    assert "stream.done" in summary or "DONE" in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "nope"], "nope"),
        (
            ["--provider", "openai", "--provider", "weai", "--base-url", "http://127.0.0.1:9/v1"],
            "exactly one --provider",
        ),
        (["--duration", "0"], "--duration"),
        (["--fail-on", "everything"], "--fail-on"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_refuses_a_directory_that_already_holds_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "old.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        main(["run", "--no-bench", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "already holds files" in capsys.readouterr().err
