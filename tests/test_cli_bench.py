"""``conformance bench`` through its CLI: every exit code, and short real runs.

0: every step measured successful requests, failures within ``--max-failure-rate``;
1: a step without a successful request, or over the rate (the result is written);
2: bad arguments or a failed preflight (one line, nothing sent beyond the preflight).
Hostile targets come from ``tests/bench_redteam/hostile.py`` (a process of its own).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main
from tests.bench_redteam import running_hostile

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
    assert result["stream"] is True and result["partial"] is False, result["notes"]
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
    # every inter-token gap is sampled (up to 5000): the values the ITL row summarises
    gaps = sorted(result["samples"]["itl_gap_ms"])
    assert len(gaps) == min(5000, m["itl_ms"]["count"]) > len(result["samples"]["itl_ms"])
    assert gaps[len(gaps) // 2] == pytest.approx(m["itl_ms"]["p50"], rel=0.02, abs=0.01)
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


def test_a_load_without_one_success_exits_1_even_without_max_failure_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preflight's stream is cut short too (a 2xx: the load may measure it); every load
    request fails: the result is written, with the verdict, and the bench exits 1."""
    from conformance.backend import BackendConfig, serve_in_process

    out_json = tmp_path / "fail.json"
    config = BackendConfig(ttft_ms=2, itl_ms=1, min_natural_tokens=8, max_natural_tokens=8)
    with serve_in_process(config) as root:
        argv = ["bench", "--base-url", f"{root}/fault/truncated_stream/v1", "--users", "2"]
        argv += ["--duration", "2", "--warmup", "0.2", "--max-tokens", "8"]
        code, out, err = _run([*argv, "--json", str(out_json), "--max-failure-rate", "1"], capsys)
    assert code == 1, err
    result = json.loads(out_json.read_text())
    m = result["metrics"]
    assert m["failures"] == m["requests"] == m["failed_requests"] > 0
    assert m["successful_requests"] == 0 and m["failure_rate"] == 1.0
    assert m["requests_per_s"] == 0 and m["failed_requests_per_s"] > 0
    assert set(result["errors"]) == {"truncated"}
    assert result["calibration"] is None  # a target of unknown timing
    assert result["verdict"]["status"] == "failed"
    assert result["verdict"]["reason"].startswith("no successful request")
    failed = [line for line in err.splitlines() if "bench failed" in line]
    assert failed == [f"conformance: bench failed: {result['verdict']['reason']}"]
    assert "0 succeeded" in out and "0.00 successful req/s" in out


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    with running_hostile(limit_s=300) as root:
        yield root


#: the bound on the peak resident memory of any process of a bench (the CLI, Locust)
PEAK_MIB = 256
_PEAK = (
    "import resource, subprocess, sys;"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr);"
    "print(f'EXIT {p.returncode} PEAK {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')"
)


def _console_with_peak(argv: list[str]) -> tuple[int, str, str, float]:
    """Run ``conformance ARGV`` in a fresh process; (exit code, stdout, stderr, peak MiB).

    The peak is the largest resident set of any process of the run that was waited for
    (Linux: ``ru_maxrss`` of the children, in KiB).
    """
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, sys.executable, "-m", "conformance", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *lines, last = proc.stdout.strip().splitlines()
    _, code, _, peak_kib = last.split()
    per_mib = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes there, KiB on Linux
    return int(code), "\n".join(lines), proc.stderr, int(peak_kib) / per_mib


def _bench(root: str, mode: str, *extra: str) -> list[str]:
    return [
        "bench",
        "--base-url",
        f"{root}/{mode}/v1",
        "--model",
        "gpt-4o-mini",
        "--users",
        "2",
        "--duration",
        "3",
        *extra,
    ]


def test_failures_over_the_default_rate_exit_1_and_under_a_given_one_exit_0(
    hostile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every second request refused (503): 50 % is over the default 1 %, under 60 %."""
    out_json = tmp_path / "flaky.json"
    code, out, err = _run([*_bench(hostile, "flaky~1"), "--json", str(out_json)], capsys)
    assert code == 1, err
    result = json.loads(out_json.read_text())
    m, verdict = result["metrics"], result["verdict"]
    assert m["successful_requests"] > 0 and m["failed_requests"] > 0
    assert 0.4 < m["failure_rate"] < 0.6
    assert set(result["errors"]) == {"http_503"}
    assert verdict["status"] == "failed" and verdict["max_failure_rate"] == 0.01
    assert "above --max-failure-rate 1.00%" in verdict["reason"] and "http_503" in verdict["reason"]
    # throughput counts the successful requests only; the failed have their own figure
    assert m["requests_per_s"] == m["successful_requests_per_s"] > 0
    assert m["failed_requests_per_s"] > 0
    assert f"{m['requests_per_s']:.2f} successful req/s" in out

    code, _, err = _run(
        [*_bench(hostile, "flaky~2"), "--json", str(out_json), "--max-failure-rate", "0.6"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out_json.read_text())["verdict"] == {
        "status": "passed",
        "reason": None,
        "max_failure_rate": 0.6,
    }


def _console(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``conformance ARGV`` in a process of its own, as CI runs it."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _overview(html: str) -> str:
    start = html.index('id="overview"')
    return html[start : html.index("</section>", start)]


def test_a_partly_failing_bench_exits_1_and_its_report_says_failed_with_the_rate(
    hostile: str, tmp_path: Path
) -> None:
    """End to end, as a CI job would: `bench` against a target that refuses every second
    request under load exits 1, and `report` on its result shows a red overview card
    that says the bench partly failed, with the failure rate and the failure kind; the
    bench's own HTML page says the same, and so does the Markdown summary."""
    bench_json, bench_html = tmp_path / "bench.json", tmp_path / "bench.html"
    argv = [*_bench(hostile, "flaky~e2e"), "--warmup", "0", "--json", str(bench_json)]
    bench = _console([*argv, "--html", str(bench_html)])
    assert bench.returncode == 1, bench.stderr
    assert "Traceback" not in bench.stderr
    result = json.loads(bench_json.read_text())
    m = result["metrics"]
    assert result["verdict"]["status"] == "failed" and 0.4 < m["failure_rate"] < 0.6
    assert result["errors"] == {"http_503": m["failed_requests"]}

    report_html, report_md = tmp_path / "report.html", tmp_path / "summary.md"
    report = _console(
        ["report", str(bench_json), "--html", str(report_html), "--markdown", str(report_md)]
    )
    assert report.returncode == 0, report.stderr
    share = f"{m['failure_rate'] * 100:.1f}%"
    said = f"{m['failed_requests']:,} of {m['requests']:,} requests failed ({share})"
    assert f"partly failed: {said}" in report.stdout + report.stderr
    for page in (report_html, bench_html):
        card = _overview(page.read_text())
        assert 'data-health="partial"' in card and "Partly failed" in card, page
        assert said in card and f"http_503 {m['failed_requests']:,}" in card, page
        assert 'data-health="ok"' not in card, page
    summary = report_md.read_text()
    assert f"Partly failed**: {said}" in summary, summary


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("after1_hang", "read_timeout"),  # answers the preflight, then never again
        ("after1_drip", "total_timeout"),  # a byte every 0.2 s: never silent, never done
        ("after1_headers100k", "header_limit"),  # 100,000 headers under load
    ],
)
def test_a_target_that_breaks_under_load_is_measured_and_exits_1(
    hostile: str, mode: str, kind: str, tmp_path: Path
) -> None:
    """Requests were sent: the result is written with them counted as failures, exit 1,
    within a few timeouts and a bounded memory."""
    out_json = tmp_path / "broken.json"
    timeout = 2.0
    started = time.monotonic()
    argv = [*_bench(hostile, mode, "--timeout", f"{timeout:g}"), "--json", str(out_json)]
    code, _, err, peak_mib = _console_with_peak(argv)
    assert time.monotonic() - started < 3 + 5 * timeout + 30  # the run, the drain, startup
    assert code == 1, err
    assert peak_mib < PEAK_MIB, peak_mib
    result = json.loads(out_json.read_text())
    failed = result["metrics"]["failures"] + result["metrics"]["warmup_failures"]
    assert failed > 0 and result["metrics"]["successful_requests"] == 0
    kinds = {**result["errors"], **result["warmup_errors"]}
    assert set(kinds) == {kind}, kinds
    assert result["verdict"]["status"] == "failed" and kind in result["verdict"]["reason"]
    assert "Traceback" not in err and "closed" not in err


@pytest.mark.parametrize(
    ("mode", "needles"),
    [
        ("status401", ["HTTP 401", "Incorrect API key provided", "--api-key-env"]),
        ("status500", ["HTTP 500", "check the server"]),
        ("hang", ["no usable answer", "timeout"]),
        ("headers100k", ["100 KiB", "header limit"]),
    ],
)
def test_a_failed_preflight_stops_before_the_load_with_one_line(
    hostile: str, mode: str, needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "never.json"
    started = time.monotonic()
    argv = [*_bench(hostile, mode, "--timeout", "2"), "--json", str(out_json)]
    code, out, err = _run(argv, capsys)
    assert time.monotonic() - started < 5 * 2 + 10
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("conformance: preflight:"), err
    for needle in needles:
        assert needle in lines[0]
    assert out == "" and not out_json.exists()


def test_a_refusal_that_echoes_the_key_never_shows_it(
    hostile: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BENCH_TEST_KEY", SECRET)
    argv = [*_bench(hostile, "echo401"), "--api-key-env", "BENCH_TEST_KEY"]
    code, out, err = _run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "HTTP 401" in err and "Incorrect API key provided" in err
    assert SECRET not in out + err


def test_a_wrong_key_stops_before_the_load_and_never_shows_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conformance.backend import BackendConfig, serve_in_process

    monkeypatch.setenv("BENCH_TEST_KEY", SECRET)
    with serve_in_process(BackendConfig(api_keys=("sk-the-right-one",))) as root:
        argv = ["bench", "--base-url", f"{root}/v1", "--api-key-env", "BENCH_TEST_KEY"]
        code, out, err = _run(
            [*argv, "--duration", "2", "--json", str(tmp_path / "x.json")], capsys
        )
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "HTTP 401" in err and "$BENCH_TEST_KEY" in err and SECRET not in err + out
        # the /v1 prefix forgotten: a 404, and the likely fix
        code, _, err = _run(["bench", "--base-url", root, "--duration", "2"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "HTTP 404" in err and f"use --base-url {root}/v1" in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("", "is empty"),
        ("sk-line\nbreak", "line break"),
        ("sk-caf\u00e9", "non-ASCII"),
    ],
)
def test_a_named_key_variable_must_hold_a_usable_key(
    value: str, needle: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_ODD_KEY", value)
    code, out, err = _run(["bench", "--api-key-env", "BENCH_ODD_KEY", "--duration", "2"], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "$BENCH_ODD_KEY" in lines[0]
    if value:
        assert value not in err


def test_a_sweep_judges_every_step(
    hostile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "sweep.json"
    argv = [
        "bench",
        "--base-url",
        f"{hostile}/after1_status500/v1",
        "--model",
        "gpt-4o-mini",
        "--users",
        "1,2",
    ]
    code, out, err = _run([*argv, "--duration", "2", "--json", str(out_json)], capsys)
    assert code == 1, err
    result = json.loads(out_json.read_text())
    assert [s["verdict"]["status"] for s in result["steps"]] == ["failed", "failed"]
    assert result["verdict"]["status"] == "failed" and result["verdict"]["failed_steps"] == 2
    assert result["verdict"]["reason"].startswith("step 1/2 (1 users): no successful request")
    assert "step 1/2:" in out and "step 2/2:" in out


@pytest.mark.parametrize("mode", ["until_close", "sized"])
def test_a_stream_framed_without_chunks_is_measured_in_full(
    hostile: str, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A correct stream that ends at the connection's close, or at its Content-Length, is
    a success: every request complete, every content event counted, no failure."""
    out_json = tmp_path / "framed.json"
    argv = [*_bench(hostile, mode, "--stream", "--warmup", "0"), "--json", str(out_json)]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    m = json.loads(out_json.read_text())["metrics"]
    assert m["requests"] > 0 and m["failures"] == 0, m
    assert m["ttft_ms"]["count"] == m["requests"]
    assert m["output_tokens"] == 4 * m["requests"]
