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
    assert bench["verdict"]["status"] == "passed" and bench["metrics"]["failure_rate"] == 0
    assert "every bench passed" in proc.stdout
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["verdict"]["status"] == "passed" and manifest["verdict"]["exit_code"] == 0
    assert set(manifest["verdict"]["benches"]) == {"openai", "wetrocloud"}
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


def test_a_bench_that_measured_only_failures_fails_the_run(tmp_path: Path) -> None:
    """The checks pass; every load request (max_tokens 64) is over the model's limit of 60
    and refused 400, while the preflight (max_tokens 4) is accepted: the bench measured
    only failures, so the run exits 1, says why, and its files carry the verdict."""
    from conformance.backend import BackendConfig, serve_in_process

    out = tmp_path / "report"
    with serve_in_process(BackendConfig(max_output_tokens=60)) as root:
        proc = _run(
            [
                "--provider", "openai", "--base-url", root + "/v1",
                "--users", "2", "--duration", "2", "--timeout", "5", "--out", str(out),
            ]
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "all checks passed; bench openai failed: no successful request" in proc.stdout
    assert "http_400" in proc.stdout
    bench = json.loads((out / "bench-openai.json").read_text())
    assert bench["verdict"]["status"] == "failed" and bench["metrics"]["successful_requests"] == 0
    assert bench["errors"] == {"http_400": bench["metrics"]["failures"]}
    assert bench["verdict"]["max_failure_rate"] == 0.01
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["verdict"]["status"] == "failed" and manifest["verdict"]["exit_code"] == 1
    assert manifest["verdict"]["checks"] == {"openai": "passed"}
    assert manifest["verdict"]["benches"]["openai"] == {
        "status": "failed",
        "reason": bench["verdict"]["reason"],
    }
    assert (out / "index.html").exists()


def test_a_bench_whose_preflight_is_refused_stops_the_run_with_its_line(tmp_path: Path) -> None:
    """A key the target refuses is a configuration error: exit 2 and the preflight's line."""
    from conformance.backend import BackendConfig, serve_in_process

    out = tmp_path / "report"
    with serve_in_process(BackendConfig(api_keys=("sk-run-right",))) as root:
        proc = _run(
            [
                "--provider", "openai", "--base-url", root + "/v1", "--users", "1",
                "--duration", "2", "--timeout", "5", "--out", str(out),
            ]
        )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # (whichever step meets the refusal first says so: the check, or the bench's preflight)
    assert "401" in proc.stderr and "Traceback" not in proc.stderr


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
        (["--max-failure-rate", "1.5"], "--max-failure-rate"),
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


def _interrupt_when(out: Path, marker: str, after_s: float) -> tuple[int, str]:
    """Start a run, send Ctrl-C (SIGINT to its process group) ``after_s`` seconds after
    ``marker`` (a regular expression) matches its output; return (exit code, output)."""
    import os
    import re
    import signal
    import time

    log = out.with_suffix(".log")
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance", "run", "--provider", "wetrocloud",
             "--users", "1", "--duration", "60", "--out", str(out)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not re.search(marker, log.read_text()) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(after_s)
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=45)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return code, log.read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT")
def test_ctrl_c_during_the_bench_still_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    # once the progress line counts measured requests (past the warm-up)
    code, output = _interrupt_when(out, r"bench wetrocloud[\s\S]*requests [1-9]", after_s=0.5)
    assert code == 130, output
    assert "Traceback" not in output and "interrupted" in output
    bench = json.loads((out / "bench-wetrocloud.json").read_text())
    assert bench["partial"] is True and bench["metrics"]["requests"] > 0
    assert (out / "index.html").exists() and (out / "check-wetrocloud.json").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT")
def test_ctrl_c_before_any_result_leaves_no_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "report"
    # while the first check runs (it has started, and has not written its result yet)
    code, output = _interrupt_when(out, "checking the embedded reference backend", after_s=0.0)
    assert code == 130, output
    assert "Traceback" not in output
    assert not out.exists() or any(out.iterdir())  # removed, or the check won the race
