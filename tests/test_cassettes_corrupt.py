"""Corrupted and hostile cassettes through the command line: one line, exit 2, no traceback.

Each case copies a shipped recording, corrupts one file, and runs both
``conformance check --replay DIR`` and ``conformance verify DIR``: each must end with
exit 2 and a single line that names the corrupted file and says what is wrong. The alias
bomb and the deep nesting also run in a child process of their own, whose peak memory
and wall time are measured.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.cassettes import _load
from conformance.cli import main

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "openai" / "recorded"
TARGET = "chat.yaml"


def _text() -> str:
    return (FIXTURE / TARGET).read_text()


def _sub(pattern: str, repl: str) -> Callable[[], str | bytes]:
    def make() -> str:
        text, n = re.subn(pattern, lambda _: repl, _text(), count=1)
        assert n == 1, pattern
        return text

    return make


def _alias_bomb() -> str:
    lines = ["version: 1", "probe: chat", "exchanges:", "- request:", "    method: POST"]
    lines += ["    url: http://h/v1/chat/completions", "    body:", "      json:"]
    lines.append('        l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]')
    for level in range(1, 12):  # 9**12 nodes once expanded
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"        l{level}: &l{level} [{refs}]")
    lines.append("  response: {status: 200, body: '{}'}")
    return "\n".join(lines) + "\n"


def _nested(opening: str, closing: str) -> Callable[[], str]:
    def make() -> str:
        deep = opening * 20_000 + closing * 20_000
        return _text().replace("  meta:\n", f"  meta:\n    deep: {deep}\n", 1)

    return make


#: case -> (the corrupted file's content, what the line must say)
CASES: dict[str, tuple[Callable[[], str | bytes], str]] = {
    "inf_timing": (
        _sub(r"headers_ms: [0-9.]+", "headers_ms: .inf"),
        "timing.headers_ms: expected milliseconds between 0 and",
    ),
    "nan_timing": (_sub(r"end_ms: [0-9.]+", "end_ms: .nan"), "timing.end_ms: expected"),
    "negative_timing": (_sub(r"end_ms: [0-9.]+", "end_ms: -5"), "got -5"),
    "huge_timing": (_sub(r"end_ms: [0-9.]+", "end_ms: 1.0e+308"), "got 1e+308"),
    "text_timing": (_sub(r"end_ms: [0-9.]+", "end_ms: soon"), "as a number, got 'soon'"),
    "nested_flow_sequences": (_nested("[", "]"), "YAML nested more than 100 levels deep"),
    "nested_flow_mappings": (_nested("{a: ", "}"), "YAML nested more than 100 levels deep"),
    "nested_block": (
        lambda: "version: 1\nexchanges:\n" + "".join("  " * i + "-\n" for i in range(1, 3000)),
        "YAML nested more than 100 levels deep",
    ),
    "alias_bomb": (_alias_bomb, "YAML aliases expand to more than 10000 nodes"),
    "recursive_alias": (
        lambda: "version: 1\nprobe: chat\nexchanges: &e [*e]\n",
        "alias *e refers to itself",
    ),
    "invalid_utf8": (lambda: b"version: 1\nprobe: \xff\xfe\n", "not UTF-8 text (byte 0xff"),
    "binary": (lambda: bytes(range(256)) * 4, "not UTF-8 text"),
    "nul_bytes": (lambda: "version: 1\x00\n", "not valid YAML: unacceptable character #x0000"),
    "a_list": (lambda: "- 1\n- 2\n", "expected a mapping, got list"),
    "empty": (lambda: "", "expected a mapping, got NoneType"),
    "bad_yaml": (lambda: "version: 1\nprobe: [chat\n", "not valid YAML"),
    "bad_date": (lambda: "version: 2024-02-31\n", "not valid YAML: day is out of range"),
    "bad_status": (_sub(r"status: 200", "status: 99999"), "response.status: expected an HTTP"),
    "bad_header": (
        _sub(r"- content-type: application/json\n", "- 'content-type': \"a\\nb\"\n"),
        "holds a line break",
    ),
    "bad_url": (_sub(r"    url: http://[^\n]+", "    url: http://[::1"), "request.url: not a URL"),
    "bad_base_url": (
        _sub(r"base_url: http://[^\n]+", "base_url: http://[::1"),
        "base_url: not a URL",
    ),
    "stream_not_bool": (_sub(r"stream: false", "stream: maybe"), "stream: expected true or false"),
}


def _corrupt(tmp_path: Path, case: str) -> tuple[Path, Path]:
    directory = tmp_path / "rec"
    shutil.copytree(FIXTURE, directory)
    target = directory / TARGET
    content, _ = CASES[case]
    made = content()
    if isinstance(made, bytes):
        target.write_bytes(made)
    else:
        target.write_text(made)
    return directory, target


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = int(main(argv) or 0)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupted_cassette_is_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, target = _corrupt(tmp_path, case)
    _, says = CASES[case]
    for argv in (
        ["check", "--provider", "openai", "--replay", str(directory)],
        ["verify", str(directory)],
    ):
        code, out, err = _run(argv, capsys)
        assert code == 2, (argv, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert str(target) in lines[0]
        assert says in lines[0], lines[0]
        assert "Traceback" not in out + err
        assert len(lines[0]) < 400


def test_too_many_cassette_files_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "many"
    directory.mkdir()
    small = "version: 1\nprobe: p\nexchanges: []\n"
    for i in range(_load.MAX_FILES + 1):
        (directory / f"c{i:05d}.yaml").write_text(small)
    for argv in (
        ["check", "--provider", "openai", "--replay", str(directory)],
        ["verify", str(directory)],
    ):
        code, _, err = _run(argv, capsys)
        assert code == 2
        assert err.strip() == (
            f"{'conformance: ' if argv[0] == 'check' else ''}{directory}: refused: more than "
            f"{_load.MAX_FILES} cassette files below it (a recording writes a few dozen); "
            "point at the directory of one recording"
        )


def test_an_oversized_file_is_refused_before_it_is_parsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, target = _corrupt(tmp_path, "a_list")
    target.write_text(_text() + "# padding\n" * 200)
    monkeypatch.setattr(_load, "MAX_FILE_BYTES", 1024 * 1024)
    code, _, err = _run(["verify", str(directory)], capsys)
    assert code == 0, err  # 2 KB is fine
    target.write_text(_text() + "#" * (1024 * 1024) + "\n")
    for argv in (
        ["check", "--provider", "openai", "--replay", str(directory)],
        ["verify", str(directory)],
    ):
        code, _, err = _run(argv, capsys)
        assert code == 2
        assert err.strip().endswith(
            f"{target}: refused: larger than 1 MiB, the most a cassette file may hold"
        )


def test_a_json_body_nested_too_deep_is_drift_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A body is what the server sent: too deep to parse is drift (exit 1), not a crash."""
    directory, target = _corrupt(tmp_path, "a_list")
    target.write_text(
        re.sub(r"body: '\{.*\}'", "body: '" + "[" * 20_000 + "]" * 20_000 + "'", _text(), count=1)
    )
    code, out, err = _run(["verify", str(directory)], capsys)
    assert code == 1
    assert f"--- {target} (as recorded)" in out
    assert "! (body): not JSON (JSON nested more than" in out
    assert "Traceback" not in out + err


def test_the_shipped_fixtures_verify_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["verify", str(FIXTURE.parent.parent)], capsys)
    assert code == 0, out + err
    assert re.fullmatch(
        r"verified \d+ file\(s\), \d+ recorded bodies: 0 drift\(s\) in 0 file\(s\)\n", out
    )


def _child(argv: list[str]) -> tuple[int, str, float, int]:
    """Run ``python -m conformance ARGV``: exit code, stderr, seconds, peak RSS in KiB.

    The child is reaped with ``os.wait4``, whose resource usage is that child's alone.
    """
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    start = time.monotonic()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance", *argv],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env=env,
        )
        timer = threading.Timer(120, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    return proc.returncode, err, time.monotonic() - start, usage.ru_maxrss


@pytest.mark.parametrize("case", ["alias_bomb", "nested_flow_sequences"])
def test_hostile_yaml_in_a_child_process_is_bounded(case: str, tmp_path: Path) -> None:
    directory, target = _corrupt(tmp_path, case)
    for argv in (
        ["check", "--provider", "openai", "--replay", str(directory)],
        ["verify", str(directory)],
    ):
        code, err, elapsed, peak_kib = _child(argv)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and str(target) in err
        assert "Traceback" not in err
        assert elapsed < 60  # generous: the machine is shared; it takes about a second
        assert peak_kib < 400 * 1024  # about 45 MiB is measured; expanded, the bomb would take GBs
