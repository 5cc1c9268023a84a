"""``conformance report`` exit codes and ``load_result`` errors: one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_report_support import DATA, failing_bench, sweep_bench

from conformance.cli import main
from conformance.errors import ConfigError
from conformance.report import load_result


def run(args: list[str]) -> int:
    """Run the CLI in-process and return its exit code."""
    try:
        main(["report", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_report_writes_both_files_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    code = run(
        [
            str(DATA / "check_weai.json"),
            str(DATA / "bench_openai_u8.json"),
            "--html",
            str(html),
            "--markdown",
            str(md),
        ]
    )
    assert code == 0
    assert html.stat().st_size > 10_000 and md.read_text().startswith("## ")
    assert f"wrote {html}" in capsys.readouterr().out


def test_regression_exits_1_only_with_fail_on_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        str(DATA / "bench_openai_u8.json"),
        "--baseline",
        str(DATA / "baseline_bench_openai_u8_faster.json"),
        "--markdown",
        str(tmp_path / "r.md"),
    ]
    assert run(args) == 0
    assert run([*args, "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "regressions against the baseline" in out and "TTFT p50" in out


def test_noise_does_not_fail(tmp_path: Path) -> None:
    args = [
        str(DATA / "bench_openai_u8.json"),
        "--baseline",
        str(DATA / "baseline_bench_openai_u8_noise.json"),
        "--markdown",
        str(tmp_path / "r.md"),
        "--fail-on-regression",
    ]
    assert run(args) == 0


def test_newly_failing_check_fails(tmp_path: Path) -> None:
    args = [
        str(DATA / "check_nebulablock.json"),
        "--baseline",
        str(DATA / "baseline_check_nebulablock.json"),
        "--html",
        str(tmp_path / "r.html"),
        "--fail-on-regression",
    ]
    assert run(args) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON (line 1"),
        ("[1, 2]", "expected a JSON object, found a list"),
        ('{"provider": "x"}', "no 'version' field"),
        (
            '{"version": 3, "kind": "check", "provider": "x", "checks": []}',
            "newer than this harness reads",
        ),
        ('{"version": 1, "provider": "x"}', "neither a check result"),
        (
            '{"version": 1, "kind": "check", "provider": "x", "checks": {}}',
            "'checks' must be a list",
        ),
        (
            '{"version": 1, "kind": "check", "provider": "x", "checks": [{"id": "a", "status": "ok", "severity": "sdk"}]}',
            "status 'ok' is not one of",
        ),
        (
            '{"version": 1, "kind": "check", "provider": "x", "checks": [{"id": "a", "status": "failed", "severity": "fatal"}]}',
            "severity 'fatal' is not one of",
        ),
        (
            '{"version": 1, "kind": "bench", "provider": "x", "load": {}, "metrics": []}',
            "'metrics' must be an object",
        ),
        (
            '{"version": 1, "kind": "bench", "provider": "x", "load": {}, "metrics": {}, "samples": {"ttft_ms": ["a"]}}',
            "samples.ttft_ms must be a list of numbers",
        ),
        (
            '{"version": 1, "kind": "bench", "provider": "x", "load": {}, "metrics": {}, "steps": [{"load": {}}]}',
            "steps[0].'metrics'",
        ),
        ('{"version": 1, "kind": "nope", "provider": "x"}', "unknown 'kind'"),
    ],
)
def test_invalid_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=None) as info:
        load_result(path)
    assert str(path) in str(info.value) and message in str(info.value)
    code = run([str(DATA / "check_weai.json"), str(path), "--markdown", str(tmp_path / "r.md")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.md").exists()  # nothing written when an input is bad


def test_bad_baseline_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "old.json"
    assert (
        run(
            [
                str(DATA / "check_weai.json"),
                "--baseline",
                str(missing),
                "--html",
                str(tmp_path / "r.html"),
            ]
        )
        == 2
    )
    assert f"{missing}: no such file" in capsys.readouterr().err


def test_directory_and_binary_files_exit_2(tmp_path: Path) -> None:
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for p in (tmp_path, binary):
        with pytest.raises(ConfigError):
            load_result(p)


def test_nothing_to_write_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(DATA / "check_weai.json")]) == 2
    assert "--html" in capsys.readouterr().err


def test_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run([str(DATA / "check_weai.json"), "--markdown", str(blocker / "r.md")]) == 2
    assert "cannot write the report" in capsys.readouterr().err


def test_real_process_exit_codes(tmp_path: Path) -> None:
    """The console script itself: exit 2 and one line on stderr for a missing file."""
    exe = Path(sys.executable).parent / "conformance"
    cmd = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from conformance.cli import main; main()"]
    )
    env = {**os.environ, "MPLBACKEND": "Agg"}
    bad = subprocess.run(
        [*cmd, "report", str(tmp_path / "missing.json"), "--markdown", str(tmp_path / "r.md")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"conformance: {tmp_path / 'missing.json'}: no such file"
    ]
    good = subprocess.run(
        [*cmd, "report", str(DATA / "check_weai.json"), "--markdown", str(tmp_path / "r.md")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert good.returncode == 0, good.stderr


def test_load_result_returns_the_dictionary() -> None:
    data = load_result(DATA / "bench_openai_sweep_users.json")
    assert data["kind"] == "bench" and len(data["steps"]) == 4
    assert data == json.loads((DATA / "bench_openai_sweep_users.json").read_text())


def test_report_says_which_benches_failed_in_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for name, result in (
        ("dead.json", failing_bench()),
        ("sweep.json", sweep_bench({1: 0, 8: 120})),
        ("fine.json", failing_bench(users=2, failures=0)),
    ):
        (tmp_path / name).write_text(json.dumps(result))
        paths.append(str(tmp_path / name))
    assert run([*paths, "--html", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("bench ")]
    assert lines == [
        "bench openai · m · 8 users: failed: no request succeeded: 120 of 120 failed (http_4xx 120)",
        "bench openai · m · sweep: partly failed: 8 users: no request succeeded: "
        "120 of 120 failed (http_4xx 120)",
    ]
