"""``conformance bench``: argument errors (exit 2, one line) and one short real run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

SECRET = "sk-conformance-DISTINCTIVE-7f3a9c"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--users", "4", "--rate", "10"], "not both"),
        (["--duration", "-5"], "--duration"),
        (["--provider", "nosuch"], "unknown provider"),
        (["--base-url", "127.0.0.1:8000/v1"], "http://"),
        (["--users", "four"], "--users"),
        (["--rate", "0"], "--rate"),
        (["--max-failure-rate", "2"], "--max-failure-rate"),
        (["--base-url", "http://127.0.0.1:9/v1", "--ttft-ms", "5"], "embedded"),
        (["--json", "out\x00.json"], "NUL"),
        (["--html", "x" * 300], "too long"),
        (["--model", "m\x00"], "NUL"),
        (["--api-key-env", "NOT-A-NAME"], "variable name"),
        (["--prompts", "/nonexistent/prompts.jsonl"], "--prompts"),
        (["--rate", "inf"], "finite"),
        (["--provider", "wetrocloud", "--stream", "--duration", "1"], "--no-stream"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["bench", *argv], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert out == ""


def test_unreachable_target_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    code, _, err = _run(
        ["bench", "--base-url", f"http://127.0.0.1:{port}/v1", "--duration", "2"], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "cannot reach" in err


def test_short_real_bench_against_the_embedded_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_TEST_KEY", SECRET)
    out_json = tmp_path / "bench.json"
    code, out, err = _run(
        [
            "bench",
            "--users",
            "4",
            "--duration",
            "3",
            "--warmup",
            "0.5",
            "--max-tokens",
            "16",
            "--ttft-ms",
            "20",
            "--itl-ms",
            "5",
            "--api-key-env",
            "BENCH_TEST_KEY",
            "--json",
            str(out_json),
            "--html",
            str(tmp_path / "bench.html"),
        ],
        capsys,
    )
    assert code == 0, err
    text = out_json.read_text()
    assert SECRET not in text and SECRET not in out and SECRET not in err
    assert SECRET not in (tmp_path / "bench.html").read_text()
    result = json.loads(text)
    assert result["kind"] == "bench" and result["version"] == 1 and result["provider"] == "openai"
    assert result["stream"] is True and result["partial"] is False
    assert result["load"]["users"] == 4 and result["load"]["rate"] is None
    m = result["metrics"]
    assert m["requests"] > 0 and m["failures"] == 0 and result["errors"] == {}
    assert m["requests_per_s"] > 0 and m["output_tokens_per_s"] > 0
    for name in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms", "tokens_per_chunk"):
        assert {"mean", "p50", "p90", "p99"} <= set(m[name])
        assert m[name]["p50"] is not None
    assert m["tokens_per_chunk"]["p50"] == pytest.approx(1.0)
    assert result["usage_fallback"] is False
    cal = result["calibration"]
    assert cal["true_ttft_ms"] == 20.0 and cal["true_itl_ms"] == 5.0
    assert cal["server_lateness_ms"]["ttft"]["count"] > 0
    assert {"mean", "p50", "p90", "p99"} <= set(cal["ttft_error_ms"])
    assert result["timeseries"] and {"t_s", "requests", "failures", "output_tokens"} <= set(
        result["timeseries"][0]
    )
    assert len(result["samples"]["ttft_ms"]) == m["ttft_ms"]["count"]
    assert result["client"]["cpu_s"] > 0
    assert "TTFT p50" in out


def test_short_open_loop_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "open.json"
    code, _, err = _run(
        [
            "bench",
            "--rate",
            "20",
            "--duration",
            "3",
            "--warmup",
            "0.5",
            "--max-tokens",
            "8",
            "--ttft-ms",
            "10",
            "--itl-ms",
            "2",
            "--arrival",
            "poisson",
            "--json",
            str(out_json),
        ],
        capsys,
    )
    assert code == 0, err
    result = json.loads(out_json.read_text())
    m = result["metrics"]
    assert result["load"]["rate"] == 20.0 and result["load"]["arrival"] == "poisson"
    assert m["schedule_delay_ms"]["count"] == m["requests"] - m["failures"] > 0
    assert m["latency_from_sched_ms"]["p50"] >= m["e2e_ms"]["min"]
    assert m["over_capacity"] == 0


def test_the_bench_command_never_imports_gevent() -> None:
    code = (
        "import sys, conformance.cli.bench, conformance.loadgen.runner, conformance.metrics;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_max_failure_rate_turns_failures_into_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance.backend import BackendConfig, serve_in_process

    out_json = tmp_path / "fail.json"
    config = BackendConfig(ttft_ms=2, itl_ms=1, min_natural_tokens=8, max_natural_tokens=8)
    with serve_in_process(config) as root:
        argv = ["bench", "--base-url", f"{root}/fault/truncated_stream/v1", "--users", "2"]
        argv += ["--duration", "2", "--warmup", "0.2", "--max-tokens", "8"]
        code, _, err = _run([*argv, "--json", str(out_json), "--max-failure-rate", "0.5"], capsys)
        assert code == 1 and "max-failure-rate" in err
        result = json.loads(out_json.read_text())
        assert result["metrics"]["failures"] == result["metrics"]["requests"] > 0
        assert set(result["errors"]) == {"truncated"}
        assert result["calibration"] is None  # a target of unknown timing
        code, _, _ = _run([*argv, "--json", str(out_json)], capsys)
        assert code == 0  # without the threshold, failures are counted, not fatal
