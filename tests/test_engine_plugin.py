"""The pytest plugin and the per-check suite, run in a pytest subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.checks import Severity, Status
from conformance.plugin import ConformanceWarning, judge
from conformance.results import CheckResult, CheckRun

pytest_plugins = ["pytester"]
# pytester drops the modules a test imports: the families are loaded before it
pytestmark = pytest.mark.usefixtures("check_registry_loaded")


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


# --- bad options and configuration errors: one line, pytest's usage error ------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "conformance.suites.test_checks", "-q", *args
    )


def _assert_one_usage_line(result: pytest.RunResult, needle: str) -> None:
    text = result.stdout.str() + "\n" + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "_pytest.outcomes.Exit" not in text and "Traceback" not in text and "!!!" not in text
    errors = [line for line in text.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and errors[0].startswith("ERROR: conformance: "), text
    assert needle in errors[0], errors


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--provider", "nosuch"], "unknown provider 'nosuch'"),
        (["--base-url", "ftp://x"], "http(s) URL"),
        (["--replay", "/nonexistent/cassettes"], "--replay"),
        (["--conformance-min-coverage", "2"], "not between 0 and 1"),
        (["--api-key-env", "a b", "--base-url", "http://127.0.0.1:9/v1"], "api-key-env"),
    ],
    ids=["provider", "base-url", "replay", "min-coverage", "key-env-name"],
)
def test_bad_options_end_with_one_readable_line(
    pytester: pytest.Pytester, args: list[str], needle: str
) -> None:
    _assert_one_usage_line(_suite(pytester, *args), needle)


def test_an_unreachable_target_is_one_line_not_an_error_per_test(
    pytester: pytest.Pytester,
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _suite(pytester, "--provider", "openai", "--base-url", f"http://127.0.0.1:{port}/v1")
    _assert_one_usage_line(result, "cannot reach")


def test_a_refused_key_is_a_configuration_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_KEY", "sk-plugin-not-the-right-key")
    with serve_in_thread(BackendConfig(api_keys=("sk-plugin-right-key",))) as root:
        result = _suite(
            pytester, "--provider", "openai", "--base-url", root + "/v1",
            "--api-key-env", "PLUGIN_KEY", "--model", "gpt-4o-mini",
        )  # fmt: skip
        # without --model, first contact (model discovery, as in 'conformance check')
        # is refused already, and says which key to check
        discovered = _suite(
            pytester, "--provider", "openai", "--base-url", root + "/v1",
            "--api-key-env", "PLUGIN_KEY",
        )  # fmt: skip
    _assert_one_usage_line(result, "the key in $PLUGIN_KEY was refused")
    _assert_one_usage_line(
        discovered, "models was answered HTTP 401: the key in $PLUGIN_KEY was refused"
    )
    for outcome in (result, discovered):
        assert "sk-plugin-not-the-right-key" not in outcome.stdout.str() + outcome.stderr.str()


def test_cassettes_of_another_provider_are_refused_as_in_check(
    pytester: pytest.Pytester,
) -> None:
    """The plugin resolves its target like 'conformance check': replaying weai's
    cassettes as openai is a usage error, not a run judged against the wrong profile."""
    replay = str(FIXTURES / "weai" / "documented")
    result = _suite(pytester, "--provider", "openai", "--replay", replay)
    _assert_one_usage_line(result, "recorded for weai, not openai")


def test_credentials_in_the_base_url_never_reach_the_result_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As with 'conformance check', a ?api-key= written into --base-url is a secret: the
    plugin's JSON and its output hold it nowhere (the key itself is the right one)."""
    monkeypatch.setenv("PLUGIN_KEY", "sk-plugin-right-key")
    out = tmp_path / "run.json"
    secret = "url-secret-4f9c2a"
    with serve_in_thread(BackendConfig(api_keys=("sk-plugin-right-key",))) as root:
        result = _suite(
            pytester, "--provider", "openai", "--base-url", f"{root}/v1?api-key={secret}",
            "--api-key-env", "PLUGIN_KEY", "--model", "gpt-4o-mini",
            "--conformance-json", str(out), "-k", "schema or stream",
        )  # fmt: skip
    text = result.stdout.str() + result.stderr.str()
    assert out.is_file(), text
    assert secret not in out.read_text(encoding="utf-8") and secret not in text
    assert "sk-plugin-right-key" not in out.read_text(encoding="utf-8")


def test_a_key_no_header_can_carry_is_refused_before_sending(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_KEY", "sk-plugin\nsecond-line")
    result = _suite(
        pytester, "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1",
        "--api-key-env", "PLUGIN_KEY",
    )  # fmt: skip
    _assert_one_usage_line(result, "$PLUGIN_KEY holds a line break")
    assert "second-line" not in result.stdout.str() + result.stderr.str()


# --- what does not apply is deselected, not skipped ------------------------------------


def test_checks_of_another_dialect_or_an_undocumented_feature_are_deselected(
    pytester: pytest.Pytester,
) -> None:
    from conformance.checks import CHECKS, load_families
    from conformance.providers import get_provider

    load_families()
    profile = get_provider("nebulablock")
    applicable = [
        spec
        for spec in CHECKS.values()
        if spec.applies_to(profile.dialect)
        and (not spec.requires or getattr(profile.capabilities, spec.requires))
    ]
    out = pytester.path / "n.json"
    result = _suite(pytester, "--provider", "nebulablock", "-rs", "--conformance-json", str(out))
    outcomes = result.parseoutcomes()
    text = result.stdout.str()
    assert result.ret == 0, text
    assert outcomes.get("deselected") == len(CHECKS) - len(applicable)
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == len(applicable)
    assert "not documented by" not in text and "does not apply" not in text
    # a skip by design (optional usage details the backend does not send) is not counted
    judged = outcomes["passed"]
    assert f"judged {judged} of {judged} applicable checks" in text
    ran = {c["id"] for c in json.loads(out.read_text())["checks"]}
    assert ran == {spec.id for spec in applicable}  # the engine ran only what was kept


def test_the_encoding_suite_deselects_the_other_profiles(pytester: pytest.Pytester) -> None:
    from conformance.providers import PROVIDERS

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyargs", "conformance.suites.test_encoding", "-q",
        "--provider", "weai", "-k", "no_key_sends_no_auth_header", "-rs",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes.get("passed") == 1
    assert outcomes.get("deselected", 0) >= len(PROVIDERS) - 1
    assert "skipped" not in outcomes


# --- thin evidence fails the session ----------------------------------------------------


def test_a_replay_that_judges_too_little_fails_the_session(pytester: pytest.Pytester) -> None:
    """The WeAI quickstart stands for the plain request only: most checks go unjudged."""
    replay = str(FIXTURES / "weai" / "documented")
    result = _suite(pytester, "--provider", "weai", "--replay", replay)
    outcomes = result.parseoutcomes()
    text = result.stdout.str()
    # no test failed, and more were skipped than passed...
    assert "failed" not in outcomes and outcomes.get("skipped", 0) > outcomes.get("passed", 0)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, text  # ...yet too little was judged
    assert re.search(r"judged \d+ of \d+ applicable checks \(\d+%\), below", text), text
    assert "too little was judged" in text
    lowered = _suite(pytester, "--provider", "weai", "--replay", replay,
                     "--conformance-min-coverage", "0")  # fmt: skip
    assert lowered.ret == 0, lowered.stdout.str()
