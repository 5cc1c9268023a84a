"""The pytest plugin and the per-check suite, run in a pytest subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.checks import Severity, Status
from conformance.plugin import ConformanceWarning, judge
from conformance.results import CheckResult, CheckRun

pytest_plugins = ["pytester"]


def test_suite_passes_against_the_embedded_backend(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "conformance.suites.test_checks",
        "--provider", "openai", "-k", "sse or stream or schema", "-q",
        "--conformance-json", str(pytester.path / "result.json"),
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    document = json.loads((pytester.path / "result.json").read_text())
    assert document["kind"] == "check" and document["target"]["mode"] == "embedded"
    # only the collected checks were run (``-k`` narrows the requests too)
    families = {c["id"].split(".")[0] for c in document["checks"]}
    assert {"sse", "stream", "schema"} <= families
    assert not families & {"auth", "robustness", "wetrocloud"}
    assert outcomes.get("passed", 0) >= 20
    assert "failed" not in outcomes


def test_failures_skips_and_warnings_map_to_pytest_outcomes(pytester: pytest.Pytester) -> None:
    with serve_in_thread(BackendConfig()) as root:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--pyargs", "conformance.suites.test_checks",
            "--conformance-provider", "openai", "--conformance-base-url",
            root + "/fault/role_every_delta/v1", "--conformance-timeout", "5",
            "-k", "stream or wetrocloud", "-rs", "-q",
        )  # fmt: skip
    text = result.stdout.str()
    outcomes = result.parseoutcomes()
    assert result.ret == 1
    assert outcomes.get("failed") == 2, text  # stream.role_once and sdk.stream_accumulate
    assert "FAILED [sdk] `role` is sent once per choice" in text
    assert "assistantassistant" in text
    assert "evidence:" in text
    # the wetrocloud checks cannot apply to the openai profile: deselected, not skipped
    assert outcomes.get("deselected", 0) >= 7, text
    assert "does not apply" not in text
    assert "judged" in text and "applicable checks" in text  # the coverage line


def test_plugin_import_is_light_and_options_do_not_clash() -> None:
    code = (
        "import sys, conformance.plugin; "
        "heavy = [m for m in ('conformance.engine', 'conformance.checks', 'openai', 'rich') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
    helped = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "--conformance-provider" in helped.stdout
    assert "--conformance-timeout" in helped.stdout


def _run_with(status: str) -> CheckRun:
    result = CheckResult(
        id="x.y",
        title="T",
        severity=Severity.CLIENT,
        status=Status(status),
        detail="why sk-secret1",
    )
    return CheckRun(provider="openai", base_url="http://t", model="m", checks=[result])


def test_judge_maps_each_status() -> None:
    judge(_run_with("passed"), "x.y")
    with pytest.warns(ConformanceWarning, match="why"):
        judge(_run_with("warned"), "x.y")
    with pytest.raises(pytest.skip.Exception, match="why"):
        judge(_run_with("skipped"), "x.y")
    with pytest.raises(pytest.fail.Exception, match="FAILED"):
        judge(_run_with("failed"), "x.y")
    with pytest.raises(pytest.fail.Exception, match="ERROR"):
        judge(_run_with("error"), "x.y")
    with pytest.raises(pytest.skip.Exception, match="does not apply"):
        judge(_run_with("passed"), "other.check")
