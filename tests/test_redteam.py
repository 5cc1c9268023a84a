"""Red team: the checks against servers built independently of the reference backend.

Every server of :mod:`tests.redteam.catalog` (a raw-asyncio HTTP server on 127.0.0.1,
written from the specifications, sharing no code with ``conformance.backend``) is
checked once, all concurrently, by the real engine over the real wire client:

- a correct-but-different server (vLLM, SGLang, llama.cpp, Ollama, Azure, OpenAI,
  LiteLLM, Groq, OpenRouter and DeepSeek shapes, SSE framing variants, refusals of
  optional features...) must get no failed and no errored check (warnings are allowed
  where the case says why);
- a broken server must get each of its expected check ids failed or warned.

Known defects of the harness are ``xfail(strict=True)`` with the reason.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.checks import errors as errors_family
from conformance.cli import main
from conformance.providers import get_provider
from conformance.providers.base import Provider
from conformance.results import CheckRun
from conformance.strategies import InvalidRequest
from tests.redteam.catalog import CASES, Case, base_url, serve_catalog
from tests.redteam.run import run_cases, verdict

#: harness defects found by the red team and not fixed (contested or large): case -> why
KNOWN_DEFECTS: dict[str, str] = {}


def _params() -> list[object]:
    out: list[object] = []
    for case in CASES:
        marks = []
        if case.name in KNOWN_DEFECTS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[case.name]))
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, CheckRun]]:
    """Every case's check run (one server, all runs concurrent, invalid cases drawn once)."""
    original = errors_family.generate_invalid_cases

    @functools.cache
    def drawn(provider_name: str) -> list[InvalidRequest]:
        return original(get_provider(provider_name))

    def cached(provider: Provider, *, count: int | None = None) -> list[InvalidRequest]:
        return drawn(provider.name) if count is None else original(provider, count=count)

    errors_family.generate_invalid_cases = cached
    try:
        yield run_cases(CASES, parallel=8)
    finally:
        errors_family.generate_invalid_cases = original


@pytest.mark.parametrize("case", _params())
def test_redteam_server(case: Case, runs: dict[str, CheckRun]) -> None:
    run = runs[case.name]
    ok, lines = verdict(case, run)
    kind = "correct server got a failed/error check" if case.correct else "broken server missed"
    assert ok, f"{case.name} ({kind}; {case.why}):\n  " + "\n  ".join(lines)


def test_every_broken_case_names_real_checks(runs: dict[str, CheckRun]) -> None:
    """A trip that names a check the run never selected would pass for the wrong reason."""
    for case in CASES:
        ids = {r.id for r in runs[case.name].checks}
        assert set(case.trips) <= ids, (case.name, set(case.trips) - ids)


def test_a_stalled_stream_ends_within_the_timeout(runs: dict[str, CheckRun]) -> None:
    """The stall case is bounded by its short timeout: no hang, and the hang is named."""
    run = runs["stall_after_3"]
    assert run.duration_s < 10
    by_id = {r.id: r for r in run.checks}
    assert str(by_id["robustness.no_hang"].status) == "failed"


#: the families judged per provider (every --only pattern must select a check of it)
_ONLY = {"openai": "sse.*,stream.*,robustness.*", "wetrocloud": "wetrocloud.*,robustness.*"}


@pytest.mark.parametrize(("name", "expected"), [("vllm", 0), ("done_twice", 1), ("wc_strict", 0)])
def test_the_cli_exit_code_against_a_redteam_server(
    name: str, expected: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`conformance check --base-url` against a fake: 0 for a correct one, 1 for a broken one,
    with the JSON result file naming the failed check."""
    case = next(c for c in CASES if c.name == name)
    monkeypatch.setenv("REDTEAM_KEY", case.key)
    out = tmp_path / "check.json"
    with serve_catalog([case]) as root:
        args = ["check", "--provider", case.provider, "--base-url", base_url(root, case),
                "--api-key-env", "REDTEAM_KEY", "--timeout", "5", "--json", str(out),
                "--only", _ONLY[case.provider]]  # fmt: skip
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
    assert (code or 0) == expected
    result = json.loads(out.read_text())
    failed = {c["id"] for c in result["checks"] if c["status"] == "failed"}
    assert (failed == set()) == (expected == 0)
    if name == "done_twice":
        assert "stream.done_sentinel" in failed
