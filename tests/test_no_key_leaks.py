"""API keys never reach a fixture, report, log or console line: end to end.

A distinctive key is put in an environment variable; ``conformance serve`` requires it;
then every command that talks to that server runs in a process of its own (so logging,
progress displays and child processes are real): ``check`` writing JSON, JUnit,
Markdown and HTML, ``record``, ``check --replay`` of that recording, a short ``bench``
writing JSON and HTML, ``report`` over the results, and ``run --no-bench``. Every byte
of every file they leave (temporary files included: ``TMPDIR`` points into the test's
directory) and every console line is searched for the key, raw, URL-encoded and in
base64 (at each of the three byte alignments, so a key inside an encoded
``Authorization`` value is found too).

The second table: a careless server (``key_echo.py``) echoes the key back in one spelling
per mode (raw, JSON ``\\/``, ``\\u002d``, every character ``\\uXXXX``, percent-encoded,
HTML references, split across two SSE deltas, split across two TCP writes, in response
headers, in an error message, in an HTML error page), and every writer (``check`` with
JSON, JUnit, Markdown and HTML, ``record``'s cassettes, the console, and a short ``bench``
with its result JSON, HTML and Locust's log lines) runs against each mode. Here too no
output may hold the key in any spelling: the search also decodes JSON escapes,
percent-encoding and HTML references before looking, and looks for any 12-character
piece of the key.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_to_bytes

import pytest
from key_echo import SPELLINGS, key_echo, spell

from conformance.backend import BackendConfig, serve_in_thread

KEY = "sk-LEAKCANARY-" + secrets.token_hex(16)
KEY_VAR = "CONFORMANCE_LEAK_TEST_KEY"
#: credentials some users write into the base URL itself (a proxy password, ?api-key=)
URL_PASSWORD = "sk-URLCANARY-" + secrets.token_hex(16)
URL_QUERY_KEY = "sk-QRYCANARY-" + secrets.token_hex(16)
CANARIES = {"key": KEY, "url password": URL_PASSWORD, "url query key": URL_QUERY_KEY}
#: the key a careless server echoes: it holds every character JSON or a URL escapes
ECHO_KEY = "sk-echo/{}+{}={}-{}".format(*(secrets.token_hex(n) for n in (4, 4, 4, 8)))
ECHO_VAR = "CONFORMANCE_ECHO_TEST_KEY"
#: one command may take this long at most; the whole module stays well under a minute
STEP_TIMEOUT_S = 90
#: a piece of a key this long found anywhere is a leak
FRAGMENT = 12


def leak_forms(key: str) -> dict[str, bytes]:
    """Every spelling of ``key`` worth searching for, by name."""
    raw = key.encode()
    forms = {
        "raw": raw,
        "url-encoded": quote(key, safe="").encode(),
        "form-encoded": quote_plus(key).encode(),
        "random part": key.rsplit("-", 1)[-1].encode(),
        "json-escaped": json.dumps(key)[1:-1].encode(),
    }
    for offset in range(3):
        # the key preceded by `offset` bytes: the stable middle of its base64 encoding
        encoded = base64.b64encode(b"\0" * offset + raw)
        skip = (offset * 4 + 2) // 3
        middle = encoded[skip + 1 : -4]
        forms[f"base64@{offset}"] = middle
        forms[f"base64url@{offset}"] = middle.replace(b"+", b"-").replace(b"/", b"_")
    return forms


def decoded_views(data: bytes) -> dict[str, bytes]:
    """``data`` as written, and with each encoding a writer may have used undone: JSON
    escapes (``\\uXXXX``, ``\\/``, escaped again), percent-encoding, HTML references."""

    def unjson(raw: bytes) -> bytes:
        raw = re.sub(
            rb"\\+u([0-9a-fA-F]{4})",
            lambda m: chr(int(m[1], 16)).encode("utf-8", "surrogatepass"),
            raw,
        )
        return re.sub(rb"\\+([/\"])", rb"\1", raw)

    def unhtml(raw: bytes) -> bytes:
        return html.unescape(raw.decode("utf-8", "replace")).encode()

    return {
        "as written": data,
        "json-unescaped": unjson(data),
        "percent-decoded": unquote_to_bytes(data),
        "html-unescaped": unhtml(data),
        "all decoded": unhtml(unquote_to_bytes(unjson(unhtml(data)))),
    }


def find_leaks(data: bytes, forms: dict[str, bytes]) -> list[str]:
    """Names of the forms of the key found in ``data`` (case-insensitive for hex/raw),
    as written or decoded, and any :data:`FRAGMENT`-character piece of the raw key."""
    found = []
    raw = forms["raw"].lower()
    pieces = {raw[i : i + FRAGMENT] for i in range(max(len(raw) - FRAGMENT, 0) + 1)}
    for view, text in decoded_views(data).items():
        lowered = text.lower()
        for name, form in forms.items():
            if form in text or (not name.startswith("base64") and form.lower() in lowered):
                found.append(name if view == "as written" else f"{name} ({view})")
        if any(piece in lowered for piece in pieces):
            found.append(f"a {FRAGMENT}-character piece ({view})")
    return sorted(set(found))


def test_the_search_finds_every_spelling() -> None:
    """The detector itself: a key hidden in each way it could leak is found."""
    forms = leak_forms(KEY)
    samples = {
        "raw": f"Authorization: Bearer {KEY}".encode(),
        "url": f"https://x/?api_key={quote(KEY, safe='')}".encode(),
        "basic": b"Basic " + base64.b64encode(f"user:{KEY}".encode()),
        "bearer-b64": base64.b64encode(f"Bearer {KEY}".encode()),
        "b64url": base64.urlsafe_b64encode(f"xy{KEY}".encode()),
        "upper": KEY.upper().encode(),
    }
    samples |= {
        f"echo {mode}": spell(mode, KEY).encode() for mode in SPELLINGS if mode != "sse-split"
    }
    samples |= {
        "double json": json.dumps(json.dumps(KEY)).encode(),
        "all-u upper": "".join(f"\\u{ord(c):04X}" for c in KEY).encode(),
        "html in json": json.dumps(spell("html-entities", KEY)).encode(),
        "a piece": b"..." + KEY[5 : 5 + FRAGMENT].encode() + b"...",
        "half in a delta": json.dumps({"content": KEY[: len(KEY) // 2]}).encode(),
    }
    for label, data in samples.items():
        assert find_leaks(data, forms), label
    assert not find_leaks(b"Authorization: Bearer [REDACTED]", forms)
    assert not find_leaks(json.dumps({"content": "echo <redacted> done"}).encode(), forms)


@dataclass
class Process:
    """A console-script process; its output is collected as it comes."""

    label: str
    proc: subprocess.Popen[bytes]
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream: object, sink: bytearray) -> None:
        assert hasattr(stream, "readline")
        for line in iter(stream.readline, b""):
            sink.extend(line)


@dataclass
class Evidence:
    """Everything the commands left behind."""

    root: Path
    consoles: dict[str, bytes]
    codes: dict[str, int]
    files: dict[str, Path]


def _console(argv: list[str], env: dict[str, str], label: str) -> Process:
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    return Process(label, proc)


def _finish(process: Process, evidence: Evidence) -> int:
    try:
        code = process.proc.wait(timeout=STEP_TIMEOUT_S)
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()
    time.sleep(0.05)  # the readers drain what is left in the pipes
    evidence.consoles[f"{process.label} stdout"] = bytes(process.out)
    evidence.consoles[f"{process.label} stderr"] = bytes(process.err)
    evidence.codes[process.label] = code
    return code


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    root = tmp_path_factory.mktemp("leaks")
    tmp = root / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({KEY_VAR: KEY, "TMPDIR": str(tmp), "COLUMNS": "200"})
    ev = Evidence(root=root, consoles={}, codes={}, files={})
    files = {
        "check.json": root / "check" / "check.json",
        "check.xml": root / "check" / "check.xml",
        "check.md": root / "check" / "check.md",
        "check.html": root / "check" / "check.html",
        "cassettes": root / "cassettes",
        "replay.json": root / "replay.json",
        "bench.json": root / "bench" / "bench.json",
        "bench.html": root / "bench" / "bench.html",
        "report.html": root / "report" / "index.html",
        "report.md": root / "report" / "summary.md",
        "run": root / "run",
        "url-check.json": root / "url" / "check.json",
        "url-check.html": root / "url" / "check.html",
        "url-cassettes": root / "url" / "cassettes",
        "url-bench.json": root / "url" / "bench.json",
    }
    ev.files = files

    serve = _console(["serve", "--port", "0", "--api-key-env", KEY_VAR], env, "serve")
    backends = contextlib.ExitStack()
    open_root = backends.enter_context(serve_in_thread(BackendConfig()))
    try:
        deadline = time.monotonic() + 30
        match = None
        while match is None and time.monotonic() < deadline and serve.proc.poll() is None:
            match = re.search(rb"listening on (http://127\.0\.0\.1:\d+)", bytes(serve.out))
            time.sleep(0.05)
        assert match is not None, bytes(serve.err).decode(errors="replace")
        base = match.group(1).decode() + "/v1"
        target = ["--base-url", base, "--api-key-env", KEY_VAR]
        steps = [
            (
                "check",
                [
                    "check",
                    "--provider",
                    "openai",
                    *target,
                    "--json",
                    str(files["check.json"]),
                    "--junit",
                    str(files["check.xml"]),
                    "--markdown",
                    str(files["check.md"]),
                    "--html",
                    str(files["check.html"]),
                ],
            ),
            (
                "record",
                ["record", "--provider", "openai", *target, "--out", str(files["cassettes"])],
            ),
            (
                "replay",
                [
                    "check",
                    "--provider",
                    "openai",
                    "--replay",
                    str(files["cassettes"]),
                    "--json",
                    str(files["replay.json"]),
                ],
            ),
            (
                "bench",
                [
                    "bench",
                    "--provider",
                    "openai",
                    *target,
                    "--users",
                    "2",
                    "--duration",
                    "3",
                    "--warmup",
                    "0",  # the first requests count: a busy machine still measures some
                    "--max-tokens",
                    "16",
                    "--json",
                    str(files["bench.json"]),
                    "--html",
                    str(files["bench.html"]),
                ],
            ),
            (
                "report",
                [
                    "report",
                    str(files["check.json"]),
                    str(files["bench.json"]),
                    "--baseline",
                    str(files["replay.json"]),
                    "--html",
                    str(files["report.html"]),
                    "--markdown",
                    str(files["report.md"]),
                ],
            ),
            (
                "run",
                ["run", "--no-bench", "--provider", "openai", *target, "--out", str(files["run"])],
            ),
        ]
        # credentials in the URL, against a server that takes any key (Basic auth from the
        # URL's userinfo replaces the Bearer key). A query in a base URL does not survive
        # the endpoint being appended (answers are 404), so it is only recorded and shown
        # in an error line here, not checked
        open_base = open_root + "/v1"
        with_password = open_base.replace("http://", f"http://proxyuser:{URL_PASSWORD}@")
        with_query = f"{with_password}?api-key={URL_QUERY_KEY}"
        steps += [
            (
                "url-check",
                [
                    "check",
                    "--provider",
                    "openai",
                    "--base-url",
                    with_password,
                    "--only",
                    "schema,auth",
                    "--json",
                    str(files["url-check.json"]),
                    "--html",
                    str(files["url-check.html"]),
                ],
            ),
            (
                "url-record",
                [
                    "record",
                    "--provider",
                    "openai",
                    "--base-url",
                    with_query,
                    "--only",
                    "schema",
                    "--out",
                    str(files["url-cassettes"]),
                ],
            ),
            (
                "url-bench",
                [
                    "bench",
                    "--provider",
                    "openai",
                    "--base-url",
                    with_password,
                    "--users",
                    "1",
                    "--duration",
                    "2",
                    "--warmup",
                    "0",  # the first request counts: a busy machine still measures one
                    "--max-tokens",
                    "8",
                    "--json",
                    str(files["url-bench.json"]),
                ],
            ),
            (
                "url-unreachable",
                [
                    "check",
                    "--provider",
                    "openai",
                    "--base-url",
                    f"http://u:{URL_PASSWORD}@127.0.0.1:1/v1?token={URL_QUERY_KEY}",
                ],
            ),
        ]
        for label, argv in steps:
            _finish(_console(argv, env, label), ev)
    finally:
        backends.close()
        if serve.proc.poll() is None:
            serve.proc.send_signal(signal.SIGINT)
        _finish(serve, ev)
    yield ev


def test_every_step_ran_with_the_key(evidence: Evidence) -> None:
    """The search below means something only if the key was really sent and accepted."""
    consoles = {k: v.decode(errors="replace") for k, v in evidence.consoles.items()}
    for label in ("check", "replay", "run"):
        assert evidence.codes[label] in (0, 1), (label, consoles[f"{label} stderr"])
    for label in ("record", "bench", "report"):
        assert evidence.codes[label] == 0, (label, consoles[f"{label} stderr"])
    check = json.loads(evidence.files["check.json"].read_text())
    assert check["target"].get("api_key_set") is True
    statuses = {c["id"]: c["status"] for c in check["checks"]}
    # the server refuses a wrong key, and answered the requests made with ours
    assert statuses.get("auth.wrong_key_refused") == "passed", statuses
    assert check["summary"]["passed"] >= 20 and check["summary"]["error"] == 0, check["summary"]
    schema = [v for k, v in statuses.items() if k.startswith("schema.")]
    assert "passed" in schema and not {"failed", "error"} & set(schema), statuses
    bench = json.loads(evidence.files["bench.json"].read_text())
    assert bench["metrics"]["requests"] > 0 and bench["metrics"]["failures"] == 0, bench["metrics"]
    assert list(evidence.files["cassettes"].glob("*.yaml"))
    assert json.loads(evidence.files["replay.json"].read_text())["summary"]["passed"] > 0
    for name in ("check.xml", "check.md", "check.html", "bench.html", "report.html", "report.md"):
        assert evidence.files[name].stat().st_size > 0, name
    assert (evidence.files["run"] / "index.html").exists()
    for label in ("url-check", "url-record", "url-bench"):
        assert evidence.codes[label] in (0, 1), (label, consoles[f"{label} stderr"])
    url_check = json.loads(evidence.files["url-check.json"].read_text())
    assert url_check["summary"]["passed"] > 0, url_check["summary"]
    assert "<redacted>" in url_check["base_url"], url_check["base_url"]
    # on a loaded machine a one-second load run may measure nothing after its warm-up:
    # any request sent proves the URL with a password was used
    url_bench = json.loads(evidence.files["url-bench.json"].read_text())["metrics"]
    assert url_bench["requests"] + url_bench["warmup_requests"] > 0, url_bench
    assert evidence.codes["url-unreachable"] == 2


def _leaks(data: bytes) -> list[str]:
    return [
        f"{name} ({form})"
        for name, secret in CANARIES.items()
        for form in find_leaks(data, leak_forms(secret))
    ]


def test_no_written_file_holds_the_key(evidence: Evidence) -> None:
    searched = 0
    leaks = {}
    for path in sorted(evidence.root.rglob("*")):
        if path.is_file():
            searched += 1
            found = _leaks(path.read_bytes())
            if found:
                leaks[str(path.relative_to(evidence.root))] = found
    assert searched >= 15, searched  # the outputs above, the cassettes, the run directory
    assert not leaks, leaks


def test_no_console_line_holds_the_key(evidence: Evidence) -> None:
    assert any(evidence.consoles.values())
    leaks = {label: _leaks(data) for label, data in evidence.consoles.items() if _leaks(data)}
    assert not leaks, leaks
    for label, data in evidence.consoles.items():
        assert b"Traceback" not in data, (label, data.decode(errors="replace"))


# -- the second table: a server that echoes the key back in every spelling -------------------


def _echo_steps(url: Callable[[str], str], root: Path) -> list[tuple[str, list[str]]]:
    """``check`` (every result writer) and ``record`` against each mode."""
    steps = []
    for mode in SPELLINGS:
        out = root / mode
        target = ["--provider", "openai", "--base-url", url(mode), "--api-key-env", ECHO_VAR]
        writers = ["--json", "check.json", "--junit", "check.xml"]
        writers += ["--markdown", "check.md", "--html", "check.html"]
        steps.append((f"{mode} check", ["check", *target, *[_in(out, w) for w in writers]]))
        steps.append((f"{mode} record", ["record", *target, "--out", str(out / "cassettes")]))
    return steps


def _in(directory: Path, arg: str) -> str:
    return arg if arg.startswith("--") else str(directory / arg)


def _in_process(argv: list[str], label: str, evidence: Evidence) -> None:
    """Run one command in this process (one import for the whole table), its console
    output captured as a terminal would see it."""
    from conformance.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    evidence.consoles[f"{label} stdout"] = out.getvalue().encode()
    evidence.consoles[f"{label} stderr"] = err.getvalue().encode()
    evidence.codes[label] = code


@pytest.fixture(scope="module")
def echoed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    root = tmp_path_factory.mktemp("echoed")
    tmp = root / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({ECHO_VAR: ECHO_KEY, "TMPDIR": str(tmp), "COLUMNS": "200"})
    ev = Evidence(root=root, consoles={}, codes={}, files={})
    with key_echo(ECHO_KEY) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv(ECHO_VAR, ECHO_KEY)
        # the load run in processes of its own, as it always runs: Locust's output too
        bench = root / "mixed"
        argv = ["bench", "--provider", "openai", "--base-url", server.url("mixed")]
        argv += ["--api-key-env", ECHO_VAR, "--users", "2", "--duration", "2"]
        argv += ["--max-tokens", "8", "--json", str(bench / "bench.json")]
        argv += ["--html", str(bench / "bench.html")]
        load = _console(argv, env, "mixed bench")
        for label, argv in _echo_steps(server.url, root):
            _in_process(argv, label, ev)
        _finish(load, ev)
        ev.codes["server requests"] = server.requests
    yield ev


def _outputs(evidence: Evidence, mode: str) -> dict[str, bytes]:
    """Every file a mode's commands wrote and every console line they printed."""
    found = {
        str(path.relative_to(evidence.root)): path.read_bytes()
        for path in sorted((evidence.root / mode).rglob("*"))
        if path.is_file()
    }
    for label, data in evidence.consoles.items():
        if label.startswith(f"{mode} "):
            found[label] = data
    return found


def test_the_echoing_server_was_used_by_every_writer(echoed: Evidence) -> None:
    """The search below means something only if every command ran and the server echoed."""
    assert echoed.codes["server requests"] > 20 * len(SPELLINGS)
    consoles = {k: v.decode(errors="replace") for k, v in echoed.consoles.items()}
    for mode in SPELLINGS:
        if mode == "error":
            # a 401 to the plain request is a configuration error: one line, exit 2,
            # before anything is recorded; the line quotes the server, key redacted
            for command in ("check", "record"):
                assert echoed.codes[f"{mode} {command}"] == 2, consoles[f"{mode} {command} stderr"]
                line = consoles[f"{mode} {command} stderr"]
                assert _REDACTED_ECHO[mode].decode() in line, line
            continue
        assert echoed.codes[f"{mode} check"] in (0, 1), consoles[f"{mode} check stderr"]
        assert echoed.codes[f"{mode} record"] == 0, consoles[f"{mode} record stderr"]
        out = echoed.root / mode
        for name in ("check.json", "check.xml", "check.md", "check.html"):
            assert (out / name).stat().st_size > 0, (mode, name)
        assert len(list((out / "cassettes").glob("*.yaml"))) > 3, mode
    assert echoed.codes["mixed bench"] in (0, 1), consoles["mixed bench stderr"]
    metrics = json.loads((echoed.root / "mixed" / "bench.json").read_text())["metrics"]
    assert metrics["requests"] + metrics["warmup_requests"] > 0, metrics
    assert (echoed.root / "mixed" / "bench.html").stat().st_size > 0


#: where each mode's echo must show up, redacted, in the recorded cassettes
_REDACTED_ECHO = {
    "header": b"x-echo-key: <redacted>",
    "error": b"Incorrect API key provided: <redacted>",
    "html-page": b"upstream refused <redacted>",
    # the delta where the key began holds the placeholder; the next one lost its part
    "sse-split": b'"content":"<redacted>"}',
}


# ``error`` is left out: a refused key stops the run before anything is recorded, and
# its echo is checked in the console line above
@pytest.mark.parametrize("mode", [m for m in SPELLINGS if m != "error"])
def test_the_echo_was_recorded_with_the_key_redacted(echoed: Evidence, mode: str) -> None:
    """Each mode's echo reached the cassettes, with the placeholder where the key was."""
    cassettes = b"".join(p.read_bytes() for p in (echoed.root / mode / "cassettes").glob("*.yaml"))
    expected = _REDACTED_ECHO.get(mode, b"echo <redacted> done")
    assert expected in cassettes.replace(b'": "', b'":"'), (mode, cassettes[:3000])


@pytest.mark.parametrize("mode", [*SPELLINGS, "mixed"])
def test_no_spelling_of_an_echoed_key_reaches_any_output(echoed: Evidence, mode: str) -> None:
    forms = leak_forms(ECHO_KEY)
    outputs = _outputs(echoed, mode)
    assert outputs
    leaks = {name: found for name, data in outputs.items() if (found := find_leaks(data, forms))}
    assert not leaks, leaks
    for name, data in outputs.items():
        assert b"Traceback" not in data, (name, data.decode(errors="replace")[-2000:])


def test_no_temporary_file_of_the_echoed_runs_holds_the_key(echoed: Evidence) -> None:
    forms = leak_forms(ECHO_KEY)
    leaks = {
        str(path): found
        for path in sorted((echoed.root / "tmp").rglob("*"))
        if path.is_file() and (found := find_leaks(path.read_bytes(), forms))
    }
    assert not leaks, leaks
