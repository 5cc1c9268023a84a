"""The command line's promise about bad input, across every subcommand.

Bad input to ``conformance`` (an unknown provider, a malformed or unreachable URL, a
missing, unreadable or wrong file, a number out of range, options that exclude each
other, an unknown fault, an unwritable output path, bytes that are not UTF-8) gets one
line on stderr that says what to fix, and exit code 2: never a traceback. Ctrl-C during
``check`` and ``bench`` ends cleanly (``bench`` still writes what it measured). A
profile's default key variable (``OPENAI_API_KEY``) that is unset is not an error where a
run can go on without a key (the run says that it does); a variable named on purpose with
``--api-key-env`` that is unset or empty is exit 2, before anything is sent.

Most cases run ``conformance.cli.main`` in this process; the ones about signals, real
argv bytes and logging run the console script in a process of its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from conformance.backend import BackendConfig, serve_in_thread
from conformance.cli import main
from conformance.results import EXIT_THIN

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "openai" / "recorded"
#: how a byte of argv that is not UTF-8 reaches Python (surrogateescape)
NOT_UTF8 = "\udcff"
UNSET = "CONFORMANCE_TEST_SURELY_UNSET_VAR"
#: a console-script run that hangs is a failure, not a stuck suite
PROCESS_TIMEOUT_S = 60


@dataclass(frozen=True)
class Outcome:
    """What one command line did: exit code and everything it printed."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def invoke(argv: list[str]) -> Outcome:
    """Run ``conformance ARGV`` in this process, as the console script would."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            returned = main(argv)
        except SystemExit as exc:
            returned = exc.code
    if returned is None:
        code = 0
    elif isinstance(returned, int):
        code = returned
    else:  # sys.exit("text") prints the text and exits 1
        code = 1
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_clean_usage_error(outcome: Outcome, needle: str, *, max_lines: int = 2) -> None:
    """Exit 2, no traceback, a short stderr whose error line names ``needle``."""
    text = outcome.out + outcome.err
    assert "Traceback" not in text, text
    assert outcome.code == 2, (outcome.code, text)
    lines = outcome.err_lines
    assert 1 <= len(lines) <= max_lines, lines
    assert any(needle.lower() in line.lower() for line in lines), (needle, lines)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class Workspace:
    """Files and directories the bad-input cases point at."""

    root: Path
    file: Path  # a regular file (also the parent of paths that cannot exist)
    empty_dir: Path
    full_dir: Path  # a directory that already holds a file
    replay: Path  # a copy of the shipped openai cassettes
    check_json: Path  # a real check result
    results: dict[str, Path]  # name -> a bad result file
    closed_url: str
    busy_port: int


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("cli-robustness")
    a_file = root / "a-file.txt"
    a_file.write_text("x\n")
    empty = root / "empty"
    empty.mkdir()
    full = root / "full"
    full.mkdir()
    (full / "something.txt").write_text("x\n")
    replay = root / "replay"
    shutil.copytree(FIXTURE, replay)
    check_json = root / "check.json"
    outcome = invoke(
        ["check", "--provider", "openai", "--replay", str(replay), "-q", "--json", str(check_json)]
    )
    assert outcome.code == 0, outcome
    bad: dict[str, bytes] = {
        "invalid": b"{not json",
        "zero-bytes": b"",
        "list": b"[1, 2]",
        "noversion": b'{"kind": "check"}',
        "newer": b'{"version": 99, "kind": "check", "checks": []}',
        "neither": b'{"version": 1}',
        "unknown-kind": b'{"version": 1, "kind": "nope", "provider": "x"}',
        "run-manifest": b'{"version": 1, "kind": "run", "results": ["check-openai.json"]}',
        "wrong-shape": b'{"version": 1, "kind": "check", "provider": "x", "checks": "many"}',
        "not-utf8": b"\xff\xfe{}",
    }
    results = {}
    for name, data in bad.items():
        path = root / f"{name}.json"
        path.write_bytes(data)
        results[name] = path
    results["cassette"] = replay / "chat.yaml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield Workspace(
            root=root,
            file=a_file,
            empty_dir=empty,
            full_dir=full,
            replay=replay,
            check_json=check_json,
            results=results,
            closed_url=f"http://127.0.0.1:{_closed_port()}/v1",
            busy_port=busy.getsockname()[1],
        )


def _expand(argv: list[str], ws: Workspace, tmp_path: Path) -> list[str]:
    """Fill the placeholders of a case with paths of the workspace."""
    values = {
        "{file}": str(ws.file),
        "{under-file}": str(ws.file / "sub" / "out.json"),
        "{empty}": str(ws.empty_dir),
        "{full}": str(ws.full_dir),
        "{replay}": str(ws.replay),
        "{check}": str(ws.check_json),
        "{closed}": ws.closed_url,
        "{busy}": str(ws.busy_port),
        "{new}": str(tmp_path / "new" / "out"),
        "{missing}": str(tmp_path / "does-not-exist.json"),
        **{f"{{{name}}}": str(path) for name, path in ws.results.items()},
    }
    return [values.get(arg, arg) for arg in argv]


URLS = {
    "ftp": "ftp://example.com/v1",
    "no-scheme": "localhost:8000",
    "no-host": "http://",
    "spaces": "http://exa mple.com/v1",
    "port-only": "http://:8000/v1",
}
RO = "/proc/conformance-no-such/out.json"  # a read-only file system, even for root

#: (id, argv, what the one error line must mention)
CASES: list[tuple[str, list[str], str]] = [
    # serve
    ("serve-port-high", ["serve", "--port", "70000"], "--port"),
    ("serve-port-negative", ["serve", "--port", "-1"], "--port"),
    ("serve-ttft-negative", ["serve", "--ttft-ms", "-5"], "--ttft-ms"),
    ("serve-unknown-fault", ["serve", "--fault", "no_such_fault"], "unknown fault"),
    ("serve-key-env-unset", ["serve", "--api-key-env", UNSET], UNSET),
    ("serve-host-not-utf8", ["serve", "--host", NOT_UTF8], "--host"),
    ("serve-key-not-utf8", ["serve", "--api-key", f"sk-{NOT_UTF8}"], "--api-key"),
    ("serve-port-busy", ["serve", "--port", "{busy}"], "cannot listen"),
    # check
    ("check-unknown-provider", ["check", "--provider", "nope"], "unknown provider"),
    ("check-missing-provider", ["check"], "--provider"),
    ("check-unreachable", ["check", "--provider", "openai", "--base-url", "{closed}"], "reach"),
    ("check-timeout-zero", ["check", "--provider", "openai", "--timeout", "0"], "--timeout"),
    ("check-requests-zero", ["check", "--provider", "openai", "--max-requests", "0"], "requests"),
    ("check-replay-missing", ["check", "--provider", "openai", "--replay", "{missing}"], "replay"),
    ("check-replay-file", ["check", "--provider", "openai", "--replay", "{file}"], "replay"),
    ("check-replay-empty", ["check", "--provider", "openai", "--replay", "{empty}"], "cassette"),
    (
        "check-replay-other-provider",
        ["check", "--provider", "weai", "--replay", "{replay}"],
        "--provider openai",
    ),
    (
        "check-only-nothing",
        ["check", "--provider", "openai", "--replay", "{replay}", "--only", "zz*"],
        "--only",
    ),
    ("check-json-dir", ["check", "--provider", "openai", "--json", "{empty}"], "--json"),
    (
        "check-junit-under-file",
        ["check", "--provider", "openai", "--junit", "{under-file}"],
        "--junit",
    ),
    ("check-html-read-only", ["check", "--provider", "openai", "--html", RO], "--html"),
    ("check-model-not-utf8", ["check", "--provider", "openai", "--model", NOT_UTF8], "--model"),
    ("check-key-env-bad", ["check", "--provider", "openai", "--api-key-env", "a b"], "api-key-env"),
    # record
    (
        "record-unknown-provider",
        ["record", "--provider", "nope", "--out", "{new}"],
        "unknown provider",
    ),
    (
        "record-unreachable",
        ["record", "--provider", "openai", "--base-url", "{closed}", "--out", "{new}"],
        "reach",
    ),
    ("record-out-file", ["record", "--provider", "openai", "--out", "{file}"], "--out"),
    ("record-out-under-file", ["record", "--provider", "openai", "--out", "{under-file}"], "--out"),
    ("record-out-read-only", ["record", "--provider", "openai", "--out", RO], "--out"),
    (
        "record-out-holds-cassettes",
        ["record", "--provider", "openai", "--out", "{replay}"],
        "--force",
    ),
    (
        "record-timeout-zero",
        ["record", "--provider", "openai", "--out", "{new}", "--timeout", "0"],
        "--timeout",
    ),
    (
        "record-only-nothing",
        ["record", "--provider", "openai", "--out", "{new}", "--only", "zz*"],
        "--only",
    ),
    (
        "record-model-not-utf8",
        ["record", "--provider", "openai", "--out", "{new}", "--model", NOT_UTF8],
        "--model",
    ),
    # verify
    ("verify-missing", ["verify", "{missing}"], "no such"),
    ("verify-empty-dir", ["verify", "{empty}"], "no cassette"),
    ("verify-unknown-provider", ["verify", "{replay}", "--provider", "nope"], "unknown provider"),
    ("verify-no-paths", ["verify"], "PATHS"),
    # bench
    ("bench-unknown-provider", ["bench", "--provider", "nope"], "unknown provider"),
    ("bench-unreachable", ["bench", "--base-url", "{closed}", "--duration", "2"], "reach"),
    ("bench-timeout-zero", ["bench", "--timeout", "0"], "--timeout"),
    ("bench-duration-negative", ["bench", "--duration", "-1"], "--duration"),
    ("bench-duration-zero", ["bench", "--duration", "0"], "--duration"),
    ("bench-duration-fraction", ["bench", "--duration", "1.5"], "--duration"),
    ("bench-duration-inf", ["bench", "--duration", "inf"], "--duration"),
    ("bench-users-zero", ["bench", "--users", "0"], "--users"),
    ("bench-users-junk", ["bench", "--users", "many"], "--users"),
    ("bench-rate-negative", ["bench", "--rate", "-5"], "--rate"),
    ("bench-rate-inf", ["bench", "--rate", "inf"], "--rate"),
    ("bench-rate-nan", ["bench", "--rate", "nan"], "--rate"),
    ("bench-users-and-rate", ["bench", "--users", "2", "--rate", "5"], "not both"),
    ("bench-warmup-nan", ["bench", "--warmup", "nan"], "--warmup"),
    ("bench-max-tokens-zero", ["bench", "--max-tokens", "0"], "--max-tokens"),
    ("bench-workers-zero", ["bench", "--workers", "0"], "--workers"),
    ("bench-failure-rate", ["bench", "--max-failure-rate", "2"], "--max-failure-rate"),
    ("bench-prompts-missing", ["bench", "--prompts", "{missing}"], "--prompts"),
    ("bench-prompts-dir", ["bench", "--prompts", "{empty}"], "--prompts"),
    ("bench-json-dir", ["bench", "--json", "{empty}"], "--json"),
    ("bench-json-under-file", ["bench", "--json", "{under-file}"], "--json"),
    ("bench-html-read-only", ["bench", "--html", RO], "--html"),
    ("bench-model-not-utf8", ["bench", "--model", NOT_UTF8], "--model"),
    ("bench-stream-wetrocloud", ["bench", "--provider", "wetrocloud", "--stream"], "stream"),
    (
        "bench-key-env-bad",
        ["bench", "--base-url", "{closed}", "--api-key-env", "a b"],
        "api-key-env",
    ),
    # report
    ("report-missing", ["report", "{missing}", "--html", "{new}"], "no such file"),
    ("report-dir", ["report", "{empty}", "--html", "{new}"], "directory"),
    ("report-under-file", ["report", "{under-file}", "--html", "{new}"], "cannot read"),
    ("report-invalid-json", ["report", "{invalid}", "--html", "{new}"], "not valid JSON"),
    ("report-zero-bytes", ["report", "{zero-bytes}", "--markdown", "{new}"], "not valid JSON"),
    ("report-list", ["report", "{list}", "--html", "{new}"], "JSON object"),
    ("report-no-version", ["report", "{noversion}", "--html", "{new}"], "version"),
    ("report-newer", ["report", "{newer}", "--html", "{new}"], "upgrade"),
    ("report-neither", ["report", "{neither}", "--html", "{new}"], "neither"),
    ("report-unknown-kind", ["report", "{unknown-kind}", "--html", "{new}"], "kind"),
    ("report-run-manifest", ["report", "{run-manifest}", "--html", "{new}"], "manifest"),
    ("report-wrong-shape", ["report", "{wrong-shape}", "--html", "{new}"], "wrong-shape.json"),
    ("report-not-utf8-file", ["report", "{not-utf8}", "--html", "{new}"], "UTF-8"),
    ("report-cassette", ["report", "{cassette}", "--html", "{new}"], "not valid JSON"),
    (
        "report-bad-baseline",
        ["report", "{check}", "--baseline", "{invalid}", "--html", "{new}"],
        "invalid.json",
    ),
    ("report-nothing-to-write", ["report", "{check}"], "--html"),
    ("report-no-results", ["report", "--html", "{new}"], "RESULT"),
    ("report-html-dir", ["report", "{check}", "--html", "{empty}"], "cannot write"),
    ("report-html-under-file", ["report", "{check}", "--html", "{under-file}"], "cannot write"),
    ("report-markdown-read-only", ["report", "{check}", "--markdown", RO], "cannot write"),
    (
        "report-confidence",
        ["report", "{check}", "--html", "{new}", "--confidence", "2"],
        "--confidence",
    ),
    ("report-not-utf8-name", ["report", f"{NOT_UTF8}.json", "--html", "{new}"], "no such file"),
    # run
    ("run-unknown-provider", ["run", "--provider", "nope", "--out", "{new}"], "unknown provider"),
    (
        "run-url-without-provider",
        ["run", "--base-url", "http://127.0.0.1:1/v1", "--out", "{new}"],
        "--provider",
    ),
    (
        "run-unreachable",
        ["run", "--provider", "openai", "--base-url", "{closed}", "--out", "{new}"],
        "reach",
    ),
    ("run-duration-zero", ["run", "--duration", "0", "--out", "{new}"], "--duration"),
    ("run-duration-negative", ["run", "--duration", "-1", "--out", "{new}"], "--duration"),
    ("run-users-zero", ["run", "--users", "0", "--out", "{new}"], "--users"),
    ("run-rate-negative", ["run", "--rate", "-5", "--out", "{new}"], "--rate"),
    ("run-users-and-rate", ["run", "--users", "2", "--rate", "5", "--out", "{new}"], "not both"),
    ("run-timeout-zero", ["run", "--timeout", "0", "--out", "{new}"], "--timeout"),
    ("run-out-file", ["run", "--out", "{file}"], "--out"),
    ("run-out-under-file", ["run", "--out", "{under-file}"], "--out"),
    ("run-out-read-only", ["run", "--out", RO], "--out"),
    ("run-out-not-empty", ["run", "--out", "{full}"], "--out"),
    ("run-baseline-missing", ["run", "--baseline", "{missing}", "--out", "{new}"], "no such file"),
    (
        "run-baseline-invalid",
        ["run", "--baseline", "{invalid}", "--out", "{new}"],
        "not valid JSON",
    ),
    ("run-model-not-utf8", ["run", "--model", NOT_UTF8, "--out", "{new}"], "--model"),
    ("run-key-env-bad", ["run", "--api-key-env", "a b", "--out", "{new}"], "api-key-env"),
    # an empty value (an unset shell variable) would mean the current directory
    ("verify-empty-arg", ["verify", ""], "empty"),
    ("record-out-empty", ["record", "--provider", "openai", "--out", "", "--force"], "empty"),
    ("check-replay-empty-arg", ["check", "--provider", "openai", "--replay", ""], "empty"),
    ("report-html-equals-empty", ["report", "{check}", "--html="], "--html"),
    # names the system refuses
    ("verify-name-too-long", ["verify", "x" * 300], "too long"),
    (
        "check-replay-name-too-long",
        ["check", "--provider", "openai", "--replay", "x" * 300],
        "too long",
    ),
    (
        "record-out-name-too-long",
        ["record", "--provider", "openai", "--out", "x" * 300],
        "too long",
    ),
    ("run-out-name-too-long", ["run", "--out", "x" * 300], "too long"),
    ("report-name-too-long", ["report", "x" * 300, "--html", "{new}"], "too long"),
    ("check-nul-byte", ["check", "--provider", "open\x00ai"], "NUL"),
    # the group itself
    ("unknown-subcommand", ["nope"], "No such command"),
    ("unknown-option", ["check", "--provider", "openai", "--frobnicate"], "--frobnicate"),
]
CASES += [
    (f"{sub}-url-{name}", [sub, *pre, "--base-url", url, *post], "--base-url")
    for name, url in URLS.items()
    for sub, pre, post in (
        ("check", ["--provider", "openai"], []),
        ("record", ["--provider", "openai"], ["--out", "{new}"]),
        ("bench", [], []),
        ("run", ["--provider", "openai"], ["--out", "{new}"]),
    )
]


@pytest.mark.parametrize(("argv", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_2(
    argv: list[str], needle: str, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    outcome = invoke(_expand(argv, ws, tmp_path))
    # verify reports per path plus a summary line; everything else says one thing
    assert_clean_usage_error(outcome, needle, max_lines=3 if argv[0] == "verify" else 2)
    if argv[0] != "verify":
        assert outcome.err_lines[-1].startswith("conformance: "), outcome.err_lines


def test_no_output_directory_is_left_behind_by_a_refused_run(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "never"
    for argv in (
        ["run", "--users", "2", "--rate", "5", "--out", str(out)],
        ["run", "--provider", "openai", "--base-url", ws.closed_url, "--out", str(out)],
    ):
        assert invoke(argv).code == 2
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_result_file_is_a_usage_error(ws: Workspace, tmp_path: Path) -> None:
    locked = tmp_path / "locked.json"
    shutil.copy(ws.check_json, locked)
    locked.chmod(0)
    outcome = invoke(["report", str(locked), "--html", str(tmp_path / "r.html")])
    assert_clean_usage_error(outcome, "cannot read")


def test_a_read_only_output_directory_is_a_usage_error(ws: Workspace, tmp_path: Path) -> None:
    """Where the mode bits cannot stop us (root), a file system that refuses writes does."""
    target = Path(RO)
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "r.html"
    outcome = invoke(["report", str(ws.check_json), "--html", str(target)])
    assert_clean_usage_error(outcome, "cannot write")


# --- an unset key variable: the default one lets the run go on without a key, and say
# so; one named with --api-key-env is a configuration error before anything is sent -----

DEFAULT_VAR = "OPENAI_API_KEY"


@pytest.fixture(scope="module")
def keyless_root() -> Iterator[str]:
    """A backend that accepts any key, and none."""
    with serve_in_thread(BackendConfig()) as root:
        yield root


def test_check_without_a_key_runs_and_says_so(
    keyless_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DEFAULT_VAR, raising=False)
    argv = ["check", "--provider", "openai", "--base-url", keyless_root + "/v1"]
    argv += ["--only", "schema", "-q", "--json", str(tmp_path / "c.json")]
    outcome = invoke(argv)
    assert outcome.code in (0, 1), outcome
    assert f"no key in ${DEFAULT_VAR}" in outcome.err
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["summary"]["passed"] > 0
    assert doc["target"].get("api_key_set") is False


def test_record_without_a_key_runs_and_says_so(
    keyless_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DEFAULT_VAR, raising=False)
    out = tmp_path / "cassettes"
    argv = ["record", "--provider", "openai", "--base-url", keyless_root + "/v1"]
    argv += ["--only", "schema", "--out", str(out)]
    outcome = invoke(argv)
    assert outcome.code == 0, outcome
    assert "(no key)" in outcome.err
    assert list(out.glob("*.yaml"))


def test_bench_without_a_key_runs_and_says_so(keyless_root: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != DEFAULT_VAR}
    argv = ["bench", "--base-url", keyless_root + "/v1"]
    # no warm-up: the first request counts, so a machine too busy to send more than one
    # in the run still measures something (the verdict needs a successful request)
    argv += [
        "--duration",
        "2",
        "--warmup",
        "0",
        "--users",
        "1",
        "--max-tokens",
        "8",
        "--json",
        str(tmp_path / "b.json"),
    ]
    proc = _console(argv, env=env)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert f"no key in ${DEFAULT_VAR}" in proc.stderr
    assert json.loads((tmp_path / "b.json").read_text())["metrics"]["requests"] > 0


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--provider", "openai"],
        ["record", "--provider", "openai", "--out", "{new}"],
        ["bench", "--duration", "1"],
    ],
    ids=["check", "record", "bench"],
)
def test_a_named_key_variable_that_is_unset_is_exit_2(
    argv: list[str], keyless_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    argv = [a.replace("{new}", str(tmp_path / "new")) for a in argv]
    outcome = invoke([*argv, "--base-url", keyless_root + "/v1", "--api-key-env", UNSET])
    assert_clean_usage_error(outcome, f"${UNSET} is not set")
    assert not (tmp_path / "new").exists()


# --- real processes: argv bytes, Ctrl-C ---------------------------------------------


def _default_sigint() -> None:
    """A child started from a shell job may inherit SIGINT ignored: give it the default
    back, so the interpreter installs its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _console(
    argv: list[str] | list[bytes], *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command: list[Any] = [sys.executable, "-m", "conformance", *argv]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=PROCESS_TIMEOUT_S,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        [b"check", b"--provider", b"openai", b"--model", b"gpt\xff\xfe"],
        [b"bench", b"--model", b"\xff", b"--duration", b"1"],
        [b"serve", b"--host", b"\xff", b"--port", b"0"],
        [b"check", b"--provider", b"\xffopenai"],
    ],
    ids=["check-model", "bench-model", "serve-host", "check-provider"],
)
def test_argv_bytes_that_are_not_utf8(argv: list[bytes]) -> None:
    proc = _console(argv)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr


class _Child:
    """A console-script process whose stderr is read as it comes."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conformance", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=_default_sigint,
        )
        self.err_lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err_lines.append(line)

    def wait_for(self, predicate: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(predicate(line) for line in list(self.err_lines)):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def interrupt(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            out = self.proc.stdout.read() if self.proc.stdout else ""
            code = self.proc.wait(timeout=PROCESS_TIMEOUT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return code, out, "".join(self.err_lines)


@pytest.fixture
def slow_root() -> Iterator[str]:
    """A backend slow enough (800 ms to the first token) that a run is still going."""
    with serve_in_thread(BackendConfig(ttft_ms=800.0, itl_ms=20.0)) as root:
        yield root


def test_ctrl_c_during_check_ends_cleanly(slow_root: str, tmp_path: Path) -> None:
    child = _Child(
        [
            "check",
            "--provider",
            "openai",
            "--base-url",
            slow_root + "/v1",
            "--json",
            str(tmp_path / "c.json"),
        ]
    )
    assert child.wait_for(lambda line: "no key in" in line, 20), child.err_lines
    time.sleep(1.0)  # requests are in flight
    code, out, err = child.interrupt()
    assert "Traceback" not in out + err, err
    assert code == 130, (code, err)
    assert err.strip().splitlines()[-1] in ("conformance: aborted", "conformance: interrupted")


def test_ctrl_c_during_bench_ends_cleanly_with_partial_results(
    slow_root: str, tmp_path: Path
) -> None:
    json_path, html_path = tmp_path / "b.json", tmp_path / "b.html"
    child = _Child(
        [
            "bench",
            "--base-url",
            slow_root + "/v1",
            "--users",
            "2",
            "--duration",
            "30",
            "--max-tokens",
            "16",
            "--json",
            str(json_path),
            "--html",
            str(html_path),
        ]
    )

    def measured(line: str) -> bool:
        # a progress line such as "[1/1 2 users]   5.0s/30s  requests 6 (failed 0) ..."
        return re.search(r"\]\s.*\brequests [1-9]", line) is not None

    assert child.wait_for(measured, 30), child.err_lines
    code, out, err = child.interrupt()
    assert "Traceback" not in out + err, err
    assert code == 130, (code, err)
    result = json.loads(json_path.read_text())
    assert result["partial"] is True
    assert result["metrics"]["requests"] > 0
    assert html_path.stat().st_size > 0
    assert "partial:" in out


# --- random command lines ------------------------------------------------------------


class _Started(Exception):
    """Raised in place of anything that would run for long (a server, a load run)."""


@contextlib.contextmanager
def _nothing_long_runs() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for target in (
            "conformance.backend.server.run_server",
            "conformance.loadgen.runner.run_bench",
            "conformance.engine.target.embedded_target",
            "conformance.cli.run._sub",
        ):
            stack.enter_context(mock.patch(target, side_effect=_Started(target)))
        yield


JUNK = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1",
        "2",
        "1.5",
        "-5",
        "nan",
        "inf",
        "-inf",
        "1e309",
        "70000",
        "abc",
        "1,8,32",
        "1,,2",
        "--",
        "-",
        NOT_UTF8,
        "x" * 300,
        "\x00",
        "é",
        "openai",
        "nope",
        "http://",
        "ftp://x",
        "localhost:8000",
        "http://a b",
        "http://127.0.0.1:1/v1",
        "sse.*",
        "stream",
        "a b",
        "constant",
        "poisson",
    ]
)


def _grammar(ws: Workspace) -> dict[str, Any]:
    """Per subcommand: fixed leading options, positional words, and for each real option
    a strategy that gives a sensible value two times in three and junk otherwise."""
    paths = st.sampled_from(
        [
            str(ws.file),
            str(ws.empty_dir),
            str(ws.full_dir),
            str(ws.replay),
            str(ws.check_json),
            str(ws.file / "x.json"),
            RO,
            str(ws.root / "missing.json"),
            *(str(p) for p in ws.results.values()),
        ]
    )
    bad = st.one_of(JUNK, paths)

    def opt(*good: str) -> st.SearchStrategy[str]:
        sensible = st.sampled_from(good)
        return st.one_of(sensible, sensible, bad)

    def out(name: str) -> st.SearchStrategy[str]:
        fine = st.just(str(ws.root / "out" / name))
        return st.one_of(fine, fine, st.sampled_from([str(ws.file), str(ws.empty_dir), RO]))

    provider = opt("openai", "openai", "nebulablock", "weai", "wetrocloud")
    return {
        # report and verify read files only
        "report": (
            [],
            st.lists(opt(str(ws.check_json)), max_size=3),
            {
                "--baseline": opt(str(ws.check_json)),
                "--html": out("r.html"),
                "--markdown": out("r.md"),
                "--confidence": opt("0.9", "0.99"),
                "--min-change": opt("0.1", "0"),
                "--fail-on-regression": None,
            },
        ),
        "verify": (
            [],
            st.lists(opt(str(ws.replay), str(ws.replay / "chat.yaml")), max_size=3),
            {"--provider": provider, "--coverage": None},
        ),
        # check runs offline against the shipped cassettes only
        "check": (
            ["--provider", "openai", "--replay", str(ws.replay)],
            st.just([]),
            {
                "--provider": provider,
                "--base-url": opt("http://127.0.0.1:1/v1"),
                "--model": opt("gpt-4o-mini"),
                "--api-key-env": opt("OPENAI_API_KEY", UNSET),
                "--timeout": opt("5", "0.5"),
                "--max-requests": opt("60", "3"),
                "--only": opt("schema", "stream", "sse.*"),
                "--json": out("c.json"),
                "--junit": out("c.xml"),
                "--markdown": out("c.md"),
                "--html": out("c.html"),
                "--replay": opt(str(ws.replay)),
                "-q": None,
                "--list": None,
                "--fail-on": opt("sdk", "client", "cosmetic"),
            },
        ),
        # the others: option parsing and validation; what would start is replaced
        "serve": (
            [],
            st.just([]),
            {
                "--host": opt("127.0.0.1"),
                "--port": opt("0", "8000"),
                "--ttft-ms": opt("10", "0"),
                "--itl-ms": opt("5"),
                "--fault": opt("no_done"),
                "--api-key": opt("sk-test"),
                "--api-key-env": opt("HOME", UNSET),
            },
        ),
        "bench": (
            [],
            st.just([]),
            {
                "--provider": provider,
                "--base-url": opt("http://127.0.0.1:1/v1"),
                "--model": opt("m"),
                "--api-key-env": opt("OPENAI_API_KEY", UNSET),
                "--users": opt("2", "1,2"),
                "--rate": opt("5", "1,2"),
                "--arrival": opt("constant", "poisson"),
                "--duration": opt("2", "10"),
                "--warmup": opt("0", "1"),
                "--stream": None,
                "--no-stream": None,
                "--max-tokens": opt("16"),
                "--prompt-tokens": opt("64", "64:8"),
                "--prompts": paths,
                "--seed": opt("1"),
                "--workers": opt("1", "2"),
                "--max-in-flight": opt("10"),
                "--timeout": opt("5"),
                "--json": out("b.json"),
                "--html": out("b.html"),
                "--max-failure-rate": opt("0.1"),
                "--ttft-ms": opt("10"),
                "--itl-ms": opt("5"),
            },
        ),
        "record": (
            ["--provider", "openai", "--out", str(ws.root / "rec")],
            st.just([]),
            {
                "--provider": provider,
                "--base-url": opt("http://127.0.0.1:1/v1"),
                "--model": opt("m"),
                "--api-key-env": opt("OPENAI_API_KEY", UNSET),
                "--out": out("rec2"),
                "--force": None,
                "--timeout": opt("5"),
                "--max-requests": opt("10"),
                "--only": opt("schema"),
            },
        ),
        "run": (
            ["--out", str(ws.root / "run")],
            st.just([]),
            {
                "--provider": provider,
                "--base-url": opt("http://127.0.0.1:1/v1"),
                "--model": opt("m"),
                "--api-key-env": opt("OPENAI_API_KEY", UNSET),
                "--timeout": opt("5"),
                "--users": opt("2", "1,2"),
                "--rate": opt("5"),
                "--duration": opt("2"),
                "--bench": None,
                "--no-bench": None,
                "--baseline": opt(str(ws.check_json)),
                "--out": st.one_of(out("run2"), st.just(str(ws.full_dir))),
                "--fail-on": opt("sdk", "client"),
            },
        ),
    }


@st.composite
def command_lines(draw: st.DrawFn, ws: Workspace) -> list[str]:
    """A subcommand, its real options with junk or awkward values, and stray words."""
    grammar = _grammar(ws)
    sub = draw(st.sampled_from(sorted(grammar)))
    fixed, positionals, options = grammar[sub]
    argv = [sub, *fixed]
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=4)):
        values = options[name]
        argv.append(name)
        if values is not None:
            argv.append(draw(values))
    argv += draw(positionals)
    if draw(st.integers(0, 3)) == 0:
        # words that are not options at all, or an option given twice
        argv.insert(draw(st.integers(1, len(argv))), draw(st.one_of(JUNK, st.just("--nope"))))
    return argv


@given(data=st.data())
def test_random_command_lines_exit_with_a_documented_code_and_no_traceback(
    ws: Workspace, data: st.DataObject
) -> None:
    argv = data.draw(command_lines(ws), label="argv")
    with _nothing_long_runs():
        try:
            outcome = invoke(argv)
        except _Started as started:
            event(f"{argv[0]}: would start {started}")
            return  # validation passed and the long part would have started
    event(f"{argv[0]}: exit {outcome.code}")
    text = outcome.out + outcome.err
    assert "Traceback" not in text, (argv, text)
    # 3 is check's documented "judged too little to pass" (thin replay evidence, say)
    allowed = (0, 1, 2, EXIT_THIN) if argv[0] in ("check", "run") else (0, 1, 2)
    assert outcome.code in allowed, (argv, outcome)
    if outcome.code == 2 and argv[0] == "verify" and outcome.err_lines[-1].startswith("verified "):
        # verify's report on the files it was given (with any drift as a diff), summed up
        # on the last line: a report, not an error message
        return
    if outcome.code == 2:
        assert 1 <= len(outcome.err_lines) <= 2, (argv, outcome.err_lines)
