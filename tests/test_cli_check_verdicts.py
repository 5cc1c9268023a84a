"""``conformance check``: a wrong setup is exit 2 before the probes, thin evidence is not a
pass, and what the run will write or select is checked before anything is sent.

Each exit code is proved end to end through the command line:

- 2: a base URL answering 404/405, a key refused with 401/403 (sent or missing), a named
  key variable that is unset or empty, a key no HTTP header can carry, an output path
  that cannot be written, an ``--only`` pattern that selects nothing; with the number
  of requests the target received (none, or the first plus at most one confirmation);
- 1: a plain request answered 500 is the target's failure, not the user's;
- 3: a replay in which too little was judged (``--min-coverage``), stated in the
  console, the JSON, the JUnit XML and the Markdown.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "sk-verdicts-5d0c2f7a91e4b386"
ENV = "CONFORMANCE_VERDICTS_KEY"


class _Answering:
    """A server on 127.0.0.1 that answers every request with one status and counts them."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                owner.requests += 1
                body = json.dumps(
                    {"error": {"message": f"status {owner.status}", "type": "x", "code": None}}
                ).encode()
                self.send_response(owner.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _Answering:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0), out, err


def _live(url: str, *extra: str) -> list[str]:
    """``check --provider openai --base-url URL --model gpt-4o-mini`` and ``extra`` (the
    model given, so that the plain request, not model discovery, meets the target)."""
    return ["check", "--provider", "openai", "--base-url", url, "--model", "gpt-4o-mini", *extra]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    return lines[-1]


@pytest.fixture(scope="module")
def keyed_root() -> Iterator[str]:
    with serve_in_thread(BackendConfig(api_keys=(KEY,))) as root:
        yield root


@pytest.fixture
def no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "WETROCLOUD_API_KEY", ENV):
        monkeypatch.delenv(var, raising=False)


# --- exit 2: configuration errors, before the other probes are sent -------------------


@pytest.mark.parametrize(("status", "fix"), [(404, "--base-url"), (405, "--base-url")])
def test_endpoint_not_there_is_a_configuration_error(
    status: int, fix: str, capsys: pytest.CaptureFixture[str], no_default_key: None
) -> None:
    with _Answering(status) as server:
        code, out, err = _run(
            [
                "check",
                "--provider",
                "openai",
                "--base-url",
                server.url + "/api",
                "--model",
                "gpt-4o-mini",
            ],
            capsys,
        )
        sent = server.requests
    assert code == 2, out + err
    line = _one_line(err)
    assert f"HTTP {status}" in line and fix in line
    assert f"try {server.url}/api/v1" in line  # the documented prefix, as a suggestion
    assert "PASSED" not in out and "Checks by severity" not in out
    # the model list and its /v1 twin (first contact), the plain request and its /v1
    # confirmation: nothing else
    assert sent == 4


def test_forgotten_v1_is_named_when_the_prefix_answers(
    keyed_root: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    code, _out, err = _run(
        [
            "check",
            "--provider",
            "openai",
            "--base-url",
            keyed_root,
            "--model",
            "gpt-4o-mini",
            "--api-key-env",
            ENV,
        ],
        capsys,
    )
    assert code == 2
    line = _one_line(err)
    assert f"use --base-url {keyed_root}/v1" in line
    assert KEY not in err


def test_missing_key_refused_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_default_key: None
) -> None:
    result = tmp_path / "r.json"
    with _Answering(401) as server:
        code, out, err = _run(
            _live(server.url + "/v1", "--json", str(result)),
            capsys,
        )
        sent = server.requests
    assert code == 2, out + err
    line = _one_line(err)
    assert "HTTP 401 and no key was sent" in line and "$OPENAI_API_KEY" in line
    assert sent == 2  # the model list (first contact) and the plain request
    assert not result.exists()  # no result file pretends there was a run


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_a_configuration_error(
    status: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    with _Answering(status) as server:
        code, out, err = _run(
            _live(server.url + "/v1", "--api-key-env", ENV),
            capsys,
        )
        sent = server.requests
    assert code == 2, out + err
    line = _one_line(err)
    assert f"HTTP {status}" in line and f"the key in ${ENV} was refused" in line
    assert KEY not in out + err
    # the model list (first contact), the plain request, and the key under the other
    # auth scheme
    assert sent == 3


def test_wrong_key_on_the_reference_backend_is_exit_2(
    keyed_root: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "sk-not-the-configured-key")
    code, _out, err = _run(
        ["check", "--provider", "wetrocloud", "--base-url", keyed_root, "--api-key-env", ENV],
        capsys,
    )
    assert code == 2
    assert "was refused" in _one_line(err)
    assert "sk-not-the-configured-key" not in err


def test_a_server_error_on_the_plain_request_is_a_failure_not_a_configuration_error(
    capsys: pytest.CaptureFixture[str], no_default_key: None
) -> None:
    with _Answering(500) as server:
        code, out, _err = _run(
            [
                "check",
                "--provider",
                "openai",
                "--base-url",
                server.url + "/v1",
                "--model",
                "gpt-4o-mini",
                "-q",
            ],
            capsys,
        )
        sent = server.requests
    assert code == 1
    assert "FAILED" in out and "robustness.valid_request_succeeds" in out
    assert sent > 2  # every probe was sent and judged


def test_token_scheme_refused_but_bearer_accepted_is_judged_not_blamed_on_the_key(
    keyed_root: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend's ``wc_token_scheme_rejected`` fault accepts the key only as Bearer:
    the key is right, the server breaks the documented scheme (a check failure)."""
    monkeypatch.setenv(ENV, KEY)
    base = keyed_root + "/fault/wc_token_scheme_rejected"
    code, out, _err = _run(
        ["check", "--provider", "wetrocloud", "--base-url", base, "--api-key-env", ENV, "-q"],
        capsys,
    )
    assert code == 1
    assert "wetrocloud.token_scheme" in out
    assert "accepted under 'Bearer'" in out


@pytest.mark.parametrize("value", ["", "   "])
def test_named_key_variable_unset_or_empty_is_exit_2_before_sending(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    if value:
        monkeypatch.setenv(ENV, value)
    with _Answering(200) as server:
        code, _out, err = _run(
            _live(server.url + "/v1", "--api-key-env", ENV),
            capsys,
        )
        sent = server.requests
    assert code == 2
    line = _one_line(err)
    assert f"${ENV} {'is empty' if value else 'is not set'}" in line
    assert sent == 0


_BAD_KEYS = [
    ("sk-abc\ndef-0123456789", "a line break"),
    ("sk-abc\tdef-0123456789", "a control character (0x09)"),
    ("sk-abc\u201cdef-0123456789", "non-ASCII character (U+201C)"),
    ("sk-abcdéf-0123456789", "non-ASCII character (U+00E9)"),
]


@pytest.mark.parametrize("command", ["check", "record", "bench"])
@pytest.mark.parametrize(("key", "what"), _BAD_KEYS, ids=["newline", "tab", "quote", "accent"])
def test_a_key_no_header_can_carry_is_exit_2_before_sending(
    command: str,
    key: str,
    what: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, key)
    extra = {
        "check": [],
        "record": ["--out", str(tmp_path / "rec")],
        "bench": ["--duration", "1", "--users", "1"],
    }[command]
    with _Answering(200) as server:
        code, out, err = _run(
            [command, *_live(server.url + "/v1", "--api-key-env", ENV, *extra)[1:]],
            capsys,
        )
        sent = server.requests
    assert code == 2, out + err
    line = _one_line(err)
    assert f"${ENV} holds" in line and what in line
    assert sent == 0
    for piece in ("abc", "def-0123456789"):
        assert piece not in out + err  # never the key, not even a part of it


# --- exit 2: outputs and selection, before anything is sent ----------------------------


@pytest.mark.parametrize("option", ["--json", "--junit", "--markdown", "--html"])
def test_unwritable_output_is_exit_2_before_any_request(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_default_key: None
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with _Answering(200) as server:
        code, _out, err = _run(
            _live(server.url + "/v1", option, str(blocker / "out.txt")),
            capsys,
        )
        sent = server.requests
    assert code == 2
    assert option in _one_line(err)
    assert sent == 0


def test_read_only_existing_output_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    target = tmp_path / "r.json"
    target.write_text("{}")
    target.chmod(0o444)
    if os.access(target, os.W_OK):
        pytest.skip("running as a user that can write read-only files (root)")
    code, _out, err = _run(["check", "--provider", "openai", "--json", str(target)], capsys)
    assert code == 2
    assert "not writable" in _one_line(err)


def test_only_with_one_pattern_matching_nothing_is_exit_2_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(
        ["check", "--provider", "openai", "--only", "stream,strem.*,sse.*,nope"], capsys
    )
    assert code == 2 and not out
    line = _one_line(err)
    assert "'strem.*', 'nope' select no check of openai" in line
    assert "'stream'" not in line and "'sse.*'" not in line
    assert "see 'conformance check --provider openai --list'" in line
    code, _out, err = _run(
        ["record", "--provider", "openai", "--only", "typo", "--out", "never-created"], capsys
    )
    assert code == 2 and "'typo' selects no check" in _one_line(err)


def test_the_list_hint_works_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = _run(["check", "--provider", "openai", "--list"], capsys)
    assert code == 0 and "stream.done_sentinel" in out and "wetrocloud." not in out
    code, out, _err = _run(["check", "--list"], capsys)  # without --provider: every check
    assert code == 0
    assert "stream.done_sentinel" in out and "wetrocloud.token_scheme" in out
    assert "openai" in out and "wetrocloud" in out  # with their dialects
    code, out, _err = _run(["check", "--list", "--only", "wetrocloud"], capsys)
    assert (
        code == 0
        and out.strip()
        and all(line.startswith("wetrocloud.") for line in out.splitlines())
    )
    code, _out, err = _run(["check"], capsys)
    assert code == 2 and "--provider" in _one_line(err)


# --- exit 3: thin evidence is not a pass -----------------------------------------------


def test_replay_with_nothing_judged_is_inconclusive_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The WeAI quickstart cassette stands for the plain request only: the checks that
    need any other exchange are skipped for missing evidence, so most applicable checks
    go unjudged, which must not read as a pass."""
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "junit", "markdown")}
    args = ["check", "--provider", "weai", "--replay", str(FIXTURES / "weai" / "documented")]
    for kind, path in paths.items():
        args += [f"--{kind}", str(path)]
    code, out, err = _run(args, capsys)
    assert code == 3, out + err
    assert "PASSED" not in out
    assert "below --min-coverage 0.5" in err

    doc = json.loads(paths["json"].read_text())
    cov = doc["coverage"]
    judged, applicable = cov["judged"], cov["applicable"]
    assert 0 < judged < applicable / 2 and cov["enough"] is False and cov["min"] == 0.5
    assert cov["not_judged"] == applicable - judged
    assert cov["checks"] == applicable + cov["skipped_by_design"]
    said = f"judged {judged} of {applicable} applicable checks"
    assert "INCONCLUSIVE" in out and said in out
    suite = ET.parse(paths["junit"]).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "1" and suite.get("tests") == str(cov["checks"] + 1)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["coverage.judged"] == str(judged) and props["coverage.enough"] == "false"
    failure = suite.find("testcase[@name='coverage']/failure")
    assert failure is not None and f"judged {judged} of {applicable}" in (
        failure.get("message") or ""
    )
    markdown = paths["markdown"].read_text()
    assert "Inconclusive" in markdown and f"judged only {judged} of {applicable}" in markdown

    code, out, _err = _run([*args[:5], "--min-coverage", "0", "-q"], capsys)
    assert code == 0 and "PASSED" in out and said in out  # lowered on purpose


def test_skips_by_design_do_not_count_against_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NebulaBlock documents no tools, n, seed...: those checks are skipped by design, so
    the embedded backend's run is judged on what the provider does document."""
    out_json = tmp_path / "n.json"
    code, out, _err = _run(
        ["check", "--provider", "nebulablock", "-q", "--json", str(out_json)], capsys
    )
    assert code == 0
    doc = json.loads(out_json.read_text())
    by_design = [c for c in doc["checks"] if c["status"] == "skipped" and c["by_design"]]
    assert len(by_design) == doc["coverage"]["skipped_by_design"] >= 5
    # undocumented features, and optional usage details the target does not send
    undocumented = [c for c in by_design if "not documented by nebulablock" in c["detail"]]
    assert len(undocumented) >= 5
    assert {c["id"] for c in by_design if c not in undocumented} <= {"schema.usage_details"}
    assert doc["coverage"]["applicable"] == len(doc["checks"]) - len(by_design)
    assert doc["coverage"]["ratio"] > 0.9 and doc["coverage"]["enough"] is True
    assert "PASSED" in out and "skipped by design" in out


def test_a_failure_wins_over_thin_coverage(
    capsys: pytest.CaptureFixture[str], no_default_key: None
) -> None:
    with _Answering(500) as server:
        code, _out, _err = _run(
            _live(server.url + "/v1", "-q", "--min-coverage", "1"),
            capsys,
        )
    assert code == 1


def test_min_coverage_out_of_range_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(["check", "--provider", "openai", "--min-coverage", "1.5"], capsys)
    assert code == 2 and "--min-coverage" in _one_line(err)
