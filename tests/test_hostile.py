"""Proof against hostile servers: every run ends in time, in bounded memory, with a true
verdict and without a traceback.

Each case starts :mod:`tests.hostile.server` in a process of its own (127.0.0.1, a free
port) and runs ``python -m conformance check`` against it in a child process, through
:mod:`tests.hostile.measure`, which reports the child's peak resident memory. Every case
asserts:

- exit code 1 and the expected check id failed (never exit 0, never only skips);
- the wall time of the check within ``5 * --timeout + 10`` seconds (a generous bound: the
  interpreter starts and imports in a second or two);
- peak memory under :data:`MEMORY_BOUND_MB` (the same run against a 1 GiB bomb or an
  endless stream took gigabytes before the caps);
- no ``Traceback`` in stdout or stderr, and the key in no output.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-hostile-" + secrets.token_hex(12)
#: --timeout of every run, in seconds
TIMEOUT = 2.0
#: the bound on the peak resident memory of one `conformance check` process
MEMORY_BOUND_MB = 600


@dataclass
class Run:
    """One `conformance check` against a hostile server, as observed."""

    returncode: int
    stdout: str
    stderr: str
    document: dict[str, Any]
    maxrss_mb: float
    wall_s: float
    requests: list[dict[str, Any]]
    port: int
    other_port: int | None

    def result(self, check_id: str) -> dict[str, Any]:
        for item in self.document.get("checks", []):
            if item["id"] == check_id:
                return dict(item)
        raise AssertionError(f"{check_id} is not in the result: {self.summary()}")

    def summary(self) -> str:
        return ", ".join(f"{c['id']}={c['status']}" for c in self.document.get("checks", []))


@contextlib.contextmanager
def hostile(mode: str, log: Path) -> Iterator[tuple[int, int | None]]:
    """Start the hostile server in ``mode``; yields (port, second origin's port)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile.server", mode, str(log)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port: int | None = None
        other: int | None = None
        while port is None:
            line = proc.stdout.readline()
            assert line, f"the hostile server ({mode}) exited without a port"
            word, _, value = line.partition(" ")
            if word == "OTHER":
                other = int(value)
            elif word == "PORT":
                port = int(value)
        yield port, other
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def check(mode: str, tmp_path: Path, *args: str) -> Run:
    """Run `conformance check` against a fresh server in ``mode``."""
    log = tmp_path / "requests.jsonl"
    result_path = tmp_path / "check.json"
    measured = tmp_path / "measured.json"
    with hostile(mode, log) as (port, other):
        cmd = [
            sys.executable,
            "-m",
            "tests.hostile.measure",
            str(measured),
            sys.executable,
            "-m",
            "conformance",
            "check",
            "--provider",
            "openai",
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
            "--model",  # a hostile server has no model list to discover one from
            "gpt-4o-mini",
            "--api-key-env",
            "HOSTILE_KEY",
            "--timeout",
            f"{TIMEOUT:g}",
            "--json",
            str(result_path),
            "--quiet",
            *args,
        ]
        env = {**os.environ, "HOSTILE_KEY": KEY, "NO_COLOR": "1"}
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=5 * TIMEOUT + 60
        )
    facts = json.loads(measured.read_text())
    document = json.loads(result_path.read_text()) if result_path.exists() else {}
    requests = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return Run(
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        document=document,
        maxrss_mb=facts["maxrss_kb"] / 1024,
        wall_s=facts["wall_s"],
        requests=requests,
        port=port,
        other_port=other,
    )


def assert_bounded(run: Run, failed: str, tmp_path: Path) -> dict[str, Any]:
    """The common verdict: exit 1 with ``failed`` failed, within time and memory, no
    traceback, no key anywhere. Returns the failed check's result."""
    # shown with `pytest -s`: what each hostile case cost
    print(
        f"\n{failed}: peak {run.maxrss_mb:.0f} MB, {run.wall_s:.1f} s, {len(run.requests)} requests"
    )
    where = f"(exit {run.returncode}; {run.summary()}; stderr: {run.stderr[-800:]})"
    assert run.returncode == 1, where
    result = run.result(failed)
    assert result["status"] == "failed", where
    assert result["evidence"], f"{failed} failed without evidence"
    assert run.wall_s < 5 * TIMEOUT + 10, f"took {run.wall_s:.1f} s {where}"
    assert run.maxrss_mb < MEMORY_BOUND_MB, f"peak memory {run.maxrss_mb:.0f} MB {where}"
    for text in (run.stdout, run.stderr):
        assert "Traceback" not in text, text[-2000:]
        assert KEY not in text
    for path in tmp_path.iterdir():
        if path.suffix in (".json", ".html", ".md"):
            assert KEY not in path.read_text(encoding="utf-8", errors="replace"), path
    return result


@dataclass(frozen=True)
class Case:
    mode: str
    args: tuple[str, ...]
    failed: str
    #: further assertions on the run and the failed check's result
    extra: Callable[[Run, dict[str, Any]], None] | None = None


def _bomb(run: Run, result: dict[str, Any]) -> None:
    assert "after decoding" in result["detail"], result["detail"]


def _guarded(run: Run, result: dict[str, Any]) -> None:
    # the selected checks skip; the guard's failure keeps the run from passing
    assert "--only did not select it" in result["detail"]


def _endless(run: Run, result: dict[str, Any]) -> None:
    assert "exceeded the size cap" in result["detail"]


def _probes(run: Run) -> list[dict[str, Any]]:
    """The requests the probes sent: first contact (GET .../models, before the run's
    budget applies) left out."""
    return [r for r in run.requests if not (r["method"] == "GET" and r["path"].endswith("/models"))]


def _loop_not_followed(run: Run, result: dict[str, Any]) -> None:
    assert "HTTP 307" in result["detail"]
    planned = run.document["target"]["requests_sent"]
    assert len(_probes(run)) == planned <= run.document["target"]["max_requests"]


def _loop_followed(run: Run, result: dict[str, Any]) -> None:
    assert "loop" in result["detail"], result["detail"]
    assert result["evidence"]["redirects"], result["evidence"]
    # the budget is a hard cap on what is sent, hops included
    assert len(_probes(run)) <= 8, len(run.requests)
    assert run.document["target"]["requests_sent"] == len(_probes(run))


def _cross_followed(run: Run, result: dict[str, Any]) -> None:
    assert "credentials were dropped" in result["detail"], result["detail"]
    hops = result["evidence"]["redirects"]
    assert hops[0]["credentials_dropped"] is True
    assert hops[0]["to"].startswith(f"http://127.0.0.1:{run.other_port}/")
    to_other = [r for r in run.requests if r["port"] == run.other_port]
    assert to_other and not any(r["auth"] for r in to_other)
    assert all(r["auth"] for r in run.requests if r["port"] == run.port)


def _cross_not_followed(run: Run, result: dict[str, Any]) -> None:
    assert f"127.0.0.1:{run.other_port}" in result["detail"]
    assert not [r for r in run.requests if r["port"] == run.other_port]


def _headers(run: Run, result: dict[str, Any]) -> None:
    detail = result["detail"]
    assert "head" in detail and "KiB" in detail, detail
    assert "closed the connection" not in detail


CASES = [
    Case("gzip_bomb", ("--only", "robustness.body_size"), "robustness.body_size", _bomb),
    Case("gzip_bomb", ("--only", "schema.completion"), "robustness.body_size", _guarded),
    Case("deflate_bomb", ("--only", "robustness.body_size"), "robustness.body_size", _bomb),
    Case("endless_sse", ("--only", "robustness.body_size"), "robustness.body_size", _endless),
    Case("deep_json", ("--only", "schema.*"), "robustness.json_depth", _guarded),
    Case("deep_stream", ("--only", "stream.*"), "robustness.json_depth", _guarded),
    Case(
        "redirect_loop",
        ("--only", "robustness.no_redirect"),
        "robustness.no_redirect",
        _loop_not_followed,
    ),
    Case(
        "redirect_loop",
        ("--only", "robustness.no_redirect", "--follow-redirects", "--max-requests", "8"),
        "robustness.no_redirect",
        _loop_followed,
    ),
    Case(
        "redirect_cross",
        ("--only", "robustness.no_redirect", "--follow-redirects"),
        "robustness.no_redirect",
        _cross_followed,
    ),
    Case(
        "redirect_cross",
        ("--only", "robustness.no_redirect"),
        "robustness.no_redirect",
        _cross_not_followed,
    ),
    Case("many_headers", ("--only", "robustness.body_size"), "robustness.body_size", _headers),
    Case("drip", ("--only", "robustness.no_hang"), "robustness.no_hang"),
    Case("hang", ("--only", "robustness.no_hang"), "robustness.no_hang"),
]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.mode}-{c.args[1].replace('.', '_')}-{i}" for i, c in enumerate(CASES)]
)
def test_hostile_server(case: Case, tmp_path: Path) -> None:
    run = check(case.mode, tmp_path, *case.args)
    result = assert_bounded(run, case.failed, tmp_path)
    if case.extra is not None:
        case.extra(run, result)


def test_deep_json_reports_render(tmp_path: Path) -> None:
    """The HTML and Markdown reports of a run against deep JSON are written, by `check`
    and by `conformance report` from the result file."""
    html = tmp_path / "check.html"
    run = check("deep_json", tmp_path, "--only", "schema.*,robustness.*", "--html", str(html))
    assert_bounded(run, "robustness.json_depth", tmp_path)
    assert html.stat().st_size > 1000
    report_html = tmp_path / "report.html"
    report_md = tmp_path / "report.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "report",
            str(tmp_path / "check.json"),
            "--html",
            str(report_html),
            "--markdown",
            str(report_md),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "robustness.json_depth" in report_md.read_text(encoding="utf-8")
    assert report_html.stat().st_size > 1000


# -- in process: how the engine turns what it does not recognise into failures -------------


def _spec(check_id: str, func: Callable[[Any], Any], probes: tuple[str, ...] = ("chat",)) -> Any:
    from conformance.checks.registry import ALL_DIALECTS, CheckSpec, Severity

    return CheckSpec(
        id=check_id,
        title="t",
        description="d",
        severity=Severity.CLIENT,
        source="s",
        dialects=ALL_DIALECTS,
        probes=probes,
        requires=None,
        warn_only=False,
        func=func,
    )


def _collected(ex: Any) -> Any:
    from conformance.engine import Collected

    return Collected(exchanges={"chat": [ex]}, requests_sent=1)


def _exchange(**kw: Any) -> Any:
    from conformance.wire.exchange import Exchange, RecordedRequest

    request = RecordedRequest("POST", "http://t/v1/chat/completions", [], b"{}")
    return Exchange(probe="chat", request=request, **kw)


@pytest.mark.parametrize("exc", [RecursionError("too deep"), MemoryError()])
def test_a_check_exhausted_by_the_answer_fails_with_evidence(exc: BaseException) -> None:
    from conformance.engine import evaluate_one
    from conformance.providers import get_provider

    def crashes(ctx: Any) -> None:
        raise exc

    provider = get_provider("openai", base_url="http://t/v1")
    ex = _exchange(status=200, body=b"[" * 5000)
    result = evaluate_one(_spec("x.deep", crashes), provider, _collected(ex))
    assert result.status.value == "failed"
    assert type(exc).__name__ in result.detail
    assert result.evidence["exchange"]["probe"] == "chat"


def test_a_bug_in_a_check_is_an_error_never_a_skip() -> None:
    from conformance.engine import evaluate_one
    from conformance.providers import get_provider

    def buggy(ctx: Any) -> None:
        raise KeyError("choices")

    provider = get_provider("openai", base_url="http://t/v1")
    result = evaluate_one(_spec("x.bug", buggy), provider, _collected(_exchange(status=200)))
    assert result.status.value == "error" and "KeyError" in result.detail


@pytest.mark.parametrize(
    ("exchange", "guard"),
    [
        (dict(status=200, body=b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"), "robustness.json_depth"),
        (dict(status=307, headers=[("location", "/v1/x/")]), "robustness.no_redirect"),
        (dict(status=200, error=("decoding", "zstd")), "robustness.content_encoding"),
        (dict(status=200, error=("too_large", "cap")), "robustness.body_size"),
        (dict(status=200, error=("other", "SSLError: bad")), "robustness.transport_error"),
    ],
)
def test_a_guard_left_out_by_only_still_fails_the_run(exchange: dict[str, Any], guard: str) -> None:
    from conformance.checks import load_families, select_checks
    from conformance.engine._evaluate import guard_failures
    from conformance.providers import get_provider
    from conformance.wire.exchange import ErrorKind, ExchangeError

    load_families()
    if "error" in exchange:
        kind, message = exchange.pop("error")
        exchange["error"] = ExchangeError(ErrorKind(kind), message)
    provider = get_provider("openai", base_url="http://t/v1")
    collected = _collected(_exchange(**exchange))
    selected = select_checks(dialect=provider.dialect, only="schema.completion")
    added = guard_failures(selected, provider, collected)
    assert [r.id for r in added] == [guard], [(r.id, r.detail) for r in added]
    assert "--only did not select it" in added[0].detail
    # selected, it is judged as usual and not added twice
    assert not [
        r
        for r in guard_failures(select_checks(dialect=provider.dialect), provider, collected)
        if r.id == guard
    ]


def test_a_clean_run_gets_no_guard_failure() -> None:
    from conformance.checks import load_families, select_checks
    from conformance.engine._evaluate import guard_failures
    from conformance.providers import get_provider

    load_families()
    provider = get_provider("openai", base_url="http://t/v1")
    body = json.dumps({"id": "x", "choices": [{"message": {"content": "hi"}}]}).encode()
    ex = _exchange(status=200, body=body, headers=[("content-type", "application/json")])
    selected = select_checks(dialect=provider.dialect, only="schema.completion")
    assert guard_failures(selected, provider, _collected(ex)) == []


def test_parse_json_bounded_refuses_depth_and_never_recurses_out() -> None:
    from conformance.wire.json_bounded import (
        MAX_JSON_DEPTH,
        JSONTooDeep,
        json_depth,
        parse_json_bounded,
    )

    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(ok) == MAX_JSON_DEPTH and parse_json_bounded(ok)
    for text in ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "[" * 100_000):
        with pytest.raises(JSONTooDeep):
            parse_json_bounded(text.encode())
    # brackets inside strings (escaped quotes included) do not count
    quoted = json.dumps({"s": '[[["\\' * 500})
    assert json_depth(quoted) == 1 and parse_json_bounded(quoted)["s"].startswith("[[[")
    with pytest.raises(ValueError):
        parse_json_bounded(b"{not json")


def _hop(status: int, *, dropped: bool = False, followed: bool = True) -> dict[str, Any]:
    hop = {
        "status": status,
        "from": "http://t/v1/chat/completions",
        "to": "http://t/v1/chat/completions/" if not dropped else "http://u/v1/chat/completions",
        "method": "POST" if status in (307, 308) else "GET",
        "credentials_dropped": dropped,
    }
    if not followed:
        hop["followed"] = False
    return hop


@pytest.mark.parametrize(
    ("meta", "status", "verdict", "words"),
    [
        ({"redirects": [_hop(307)]}, 200, "warned", "the official SDK follows it"),
        ({"redirects": [_hop(308)]}, 200, "warned", "HTTP 308"),
        ({"redirects": [_hop(307, dropped=True)]}, 200, "failed", "credentials were dropped"),
        ({"redirects": [_hop(302)]}, 200, "failed", "turns the POST into a GET"),
        (
            {"redirects": [_hop(307, followed=False)], "redirect_stopped": "loop: back"},
            307,
            "failed",
            "following stopped: loop",
        ),
        ({}, 200, "passed", "no redirect"),
    ],
)
def test_no_redirect_judges_followed_hops(
    meta: dict[str, Any], status: int, verdict: str, words: str
) -> None:
    from conformance.checks import load_families
    from conformance.checks.registry import get_check
    from conformance.engine import evaluate_one
    from conformance.providers import get_provider

    load_families()
    provider = get_provider("openai", base_url="http://t/v1")
    ex = _exchange(status=status, meta=meta)
    result = evaluate_one(get_check("robustness.no_redirect"), provider, _collected(ex))
    assert result.status.value == verdict, result.detail
    assert words in result.detail
    if verdict != "passed":
        assert result.evidence["redirects"] == [dict(h) for h in meta["redirects"]]
