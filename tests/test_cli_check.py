"""``conformance check``: exit codes, result files, and keys that never leak."""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.cli import main

KEY = "sk-distinctive-9c41e7d2b8a6f053"


def _check(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(["check", *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture(scope="module")
def keyed_root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,), hang_s=10)) as root:
        yield root


def test_embedded_backend_passes_and_writes_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {k: tmp_path / f"out.{k}" for k in ("json", "junit", "markdown", "html")}
    args = ["--provider", "openai", "-q"]
    for kind, path in paths.items():
        args += [f"--{kind}", str(path)]
    code, out, err = _check(args, capsys)
    assert code == 0, out + err
    assert "PASSED" in out and "Checks by severity" in out

    doc = json.loads(paths["json"].read_text())
    for key in ("version", "provider", "base_url", "model", "checks", "summary"):
        assert key in doc
    assert doc["kind"] == "check" and doc["version"] == 2
    assert doc["started_at"].endswith("Z") and doc["duration_s"] >= 0
    assert set(doc["summary"]) == {"passed", "failed", "warned", "skipped", "error"}
    assert doc["summary"]["failed"] == 0 and doc["summary"]["error"] == 0
    first = doc["checks"][0]
    for key in ("id", "title", "severity", "status", "detail", "evidence", "category", "source"):
        assert key in first
    assert sum(doc["summary"].values()) == len(doc["checks"])

    suite = ET.parse(paths["junit"]).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "0")) == len(doc["checks"])
    cases = suite.findall("testcase")
    assert {c.get("classname", "").split(".")[1] for c in cases} >= {"sse", "stream", "schema"}
    assert paths["markdown"].read_text().strip()
    assert "<html" in paths["html"].read_text().lower()


def test_failing_target_exits_1_and_never_leaks_the_key(
    keyed_root: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFORMANCE_TEST_KEY", KEY)
    files = [tmp_path / n for n in ("r.json", "r.xml", "r.md", "r.html")]
    code, out, err = _check(
        [
            "--provider", "openai",
            "--base-url", keyed_root + "/fault/role_every_delta/v1",
            "--api-key-env", "CONFORMANCE_TEST_KEY",
            "--json", str(files[0]), "--junit", str(files[1]),
            "--markdown", str(files[2]), "--html", str(files[3]),
        ],
        capsys,
    )  # fmt: skip
    assert code == 1, out + err
    assert "stream.role_once" in out and "FAILED" in out
    doc = json.loads(files[0].read_text())
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["stream.role_once"]["status"] == "failed"
    assert by_id["stream.role_once"]["evidence"]["request"]["url"].endswith("/chat/completions")
    # the key authenticated the requests (auth checks pass) but appears nowhere
    assert by_id["robustness.valid_request_succeeds"]["status"] == "passed"
    for text in (out, err, *(f.read_text() for f in files)):
        assert KEY not in text
        assert KEY[6:] not in text


def test_hanging_target_ends_after_about_one_timeout(
    keyed_root: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFORMANCE_TEST_KEY", KEY)
    started = time.monotonic()
    code, _out, _err = _check(
        [
            "--provider", "openai", "--timeout", "1", "-q",
            "--base-url", keyed_root + "/fault/hang_before_headers/v1",
            "--api-key-env", "CONFORMANCE_TEST_KEY", "--json", str(tmp_path / "h.json"),
        ],
        capsys,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert code == 1
    doc = json.loads((tmp_path / "h.json").read_text())
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["robustness.no_hang"]["status"] == "failed"
    assert doc["target"]["hung_on_probe"] == "chat"
    assert doc["target"]["requests_sent"] == 1
    skipped = [c for c in doc["checks"] if c["status"] == "skipped"]
    assert skipped and all("hung" in c["detail"] or "not judged" in c["detail"] for c in skipped)
    assert elapsed < 30  # diagnosed once, not once per probe (60 probes x 1 s)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "nosuch"], "unknown provider"),
        (["--provider", "openai", "--base-url", "ftp://x"], "http"),
        (["--provider", "openai", "--base-url", "http://"], "host"),
        (["--provider", "openai", "--replay", "/nonexistent/cassettes"], "--replay"),
        (["--provider", "openai", "--only", "nothing.matches"], "selects no check"),
        (["--provider", "openai", "--timeout", "0"], "timeout"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _check(args, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and message in lines[-1]
    assert "Traceback" not in err + out


def test_unreachable_target_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code, _out, err = _check(["--provider", "openai", "--base-url", url], capsys)
    assert code == 2
    assert "cannot reach" in err and "Traceback" not in err


def test_only_limits_checks_and_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, _err = _check(
        ["--provider", "weai", "--only", "sse.no_bom", "--json", str(tmp_path / "o.json")], capsys
    )
    assert code == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    assert [c["id"] for c in doc["checks"]] == ["sse.no_bom"]
    assert doc["target"]["requests_sent"] <= 2


def test_budget_skips_probes_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, _err = _check(
        ["--provider", "openai", "--max-requests", "1", "--json", str(tmp_path / "b.json")], capsys
    )
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["target"]["requests_sent"] == 1
    reasons = [c["detail"] for c in doc["checks"] if c["status"] == "skipped"]
    assert any("--max-requests budget of 1" in r for r in reasons)
    # nothing failed, but a budget of one request leaves most checks unjudged: that is
    # thin evidence (exit 3), not a pass, unless the floor is lowered on purpose
    assert code == 3
    coverage = doc["coverage"]
    assert coverage["enough"] is False
    assert coverage["judged"] < coverage["min"] * coverage["applicable"]
    code, _out, _err = _check(
        ["--provider", "openai", "--max-requests", "1", "--min-coverage", "0", "-q"], capsys
    )
    assert code == 0


def test_replay_of_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["record", "--provider", "openai", "--out", str(tmp_path / "cas")])
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None)
    capsys.readouterr()
    code, _out, _err = _check(
        [
            "--provider",
            "openai",
            "--replay",
            str(tmp_path / "cas"),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capsys,
    )
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["target"]["mode"] == "replay"
    assert doc["summary"]["passed"] > 0
    assert code in (0, 1)


def test_list_shows_the_checks_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _check(["--provider", "wetrocloud", "--list", "--only", "wetrocloud"], capsys)
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "wetrocloud.tokens_integer" in ids and all(i.startswith("wetrocloud.") for i in ids)


def test_fail_on_lets_ci_tolerate_milder_failures(
    keyed_root: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure of severity sdk (role repeated in every delta) exits 1 under every
    --fail-on level; the same run passes with --fail-on only when no check at or above
    that level failed."""
    monkeypatch.setenv("CONFORMANCE_TEST_KEY", KEY)
    base = [
        "--provider", "openai",
        "--base-url", keyed_root + "/fault/role_every_delta/v1",
        "--api-key-env", "CONFORMANCE_TEST_KEY", "-q", "--only", "stream.role_once",
    ]  # fmt: skip
    for level in ("sdk", "client", "cosmetic"):
        code, out, err = _check([*base, "--fail-on", level], capsys)
        assert code == 1, (level, out + err)
    code, out, err = _check([*base, "--fail-on", "nonsense"], capsys)
    assert code == 2


def test_exit_code_for_ranks_severities() -> None:
    from conformance.checks import Severity
    from conformance.results import CheckResult, CheckRun, Status

    def run(severity: Severity, status: Status) -> CheckRun:
        result = CheckResult(
            id="x.y", title="t", severity=severity, status=status, detail="d", evidence={}
        )
        return CheckRun(provider="openai", base_url="http://t", model="m", checks=[result])

    cosmetic = run(Severity.COSMETIC, Status.FAILED)
    assert cosmetic.exit_code_for("cosmetic") == 1
    assert cosmetic.exit_code_for("client") == 0
    assert cosmetic.exit_code_for("sdk") == 0
    client = run(Severity.CLIENT, Status.FAILED)
    assert (client.exit_code_for("client"), client.exit_code_for("sdk")) == (1, 0)
    errored = run(Severity.COSMETIC, Status.ERROR)
    assert errored.exit_code_for("sdk") == 1


def _plain_failed(status: int, *, base_url: str, key_set: bool) -> dict[str, object]:
    evidence = {"request": {"url": base_url + "/chat/completions"}, "response": {"status": status}}
    return {
        "base_url": base_url,
        "target": {"dialect": "openai", "api_key_env": "MY_KEY", "api_key_set": key_set},
        "checks": [
            {"id": "robustness.valid_request_succeeds", "status": "failed", "evidence": evidence}
        ],
    }


def test_configuration_hints_say_where_to_look_first() -> None:
    from conformance.cli._check_output import configuration_hints

    (hint,) = configuration_hints(_plain_failed(404, base_url="http://h:8000", key_set=True))
    assert "check --base-url" in hint and "try http://h:8000/v1" in hint
    (hint,) = configuration_hints(
        _plain_failed(404, base_url="http://h/v1?api-version=1", key_set=True)
    )
    assert "check --base-url" in hint and "try" not in hint
    (hint,) = configuration_hints(_plain_failed(401, base_url="http://h/v1", key_set=False))
    assert "$MY_KEY" in hint and "no key was sent" in hint
    (hint,) = configuration_hints(_plain_failed(403, base_url="http://h/v1", key_set=True))
    assert "check the key in $MY_KEY" in hint
    assert configuration_hints(_plain_failed(500, base_url="http://h/v1", key_set=True)) == []
    passed = _plain_failed(404, base_url="http://h", key_set=True)
    passed["checks"][0]["status"] = "passed"  # type: ignore[index]
    assert configuration_hints(passed) == []
