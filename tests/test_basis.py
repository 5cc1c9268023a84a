"""The basis of each verdict (document, openai, http) and the two verdicts of a run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.checks import CHECKS, load_families
from conformance.checks.basis import Basis, resolve_basis, validate_declaration
from conformance.checks.registry import Severity, Status, check
from conformance.providers import PROVIDERS, NebulaBlockProvider, OpenAIProvider, WeAIProvider
from conformance.providers.facts import FACTS
from conformance.providers.openai import OpenAIProvider as OpenAIBase
from conformance.results import CheckResult, CheckRun, reported_only, verdicts_of

load_families()


# -- every check, every profile ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_check_has_a_basis_for_every_profile(name: str) -> None:
    """Each registered check declares a known fact or a basis, and resolves for the profile
    to one of the three bases with something to cite."""
    profile = PROVIDERS[name]
    for spec in CHECKS.values():
        assert (spec.fact is None) != (spec.basis is None), spec.id
        assert spec.fact is None or spec.fact in FACTS, spec.id
        resolved = resolve_basis(spec, profile)
        assert resolved.basis in set(Basis), spec.id
        assert resolved.ref.strip(), spec.id


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_documented_facts_are_known_and_cited(name: str) -> None:
    profile = PROVIDERS[name]
    for fact, cited in profile.documented.items():
        assert fact in FACTS, f"{name}: {fact}"
        assert cited.section.strip(), f"{name}: {fact}"


def test_only_the_openai_profile_has_the_openai_specification_as_document() -> None:
    assert OpenAIProvider.document_is_openai_spec
    assert not NebulaBlockProvider.document_is_openai_spec
    assert not WeAIProvider.document_is_openai_spec
    others = [p for n, p in PROVIDERS.items() if n != "openai"]
    assert not any(p.document_is_openai_spec for p in others)

    class Acme(OpenAIBase):  # a new OpenAI-compatible profile must say so itself
        name = "acme"

    assert not Acme.document_is_openai_spec


# -- resolution -----------------------------------------------------------------------------


def test_openai_profile_keeps_every_rule_but_http_as_document() -> None:
    for spec in CHECKS.values():
        resolved = resolve_basis(spec, OpenAIProvider)
        expected = Basis.HTTP if spec.basis is Basis.HTTP else Basis.DOCUMENT
        assert resolved.basis is expected, spec.id
        assert resolved.ref == spec.source


def test_nebulablock_judges_its_document_and_the_rest_as_openai() -> None:
    stream = resolve_basis(CHECKS["semantics.stream_matches_plain"], NebulaBlockProvider)
    assert stream.basis is Basis.DOCUMENT
    assert "nebulablock document, Example" in stream.ref
    assert "chat.completion.chunk" in stream.ref
    # the page says nothing of errors, auth, a model list or [DONE]
    for check_id in (
        "errors.envelope",
        "auth.missing_key_refused",
        "models.list_served",
        "stream.done_sentinel",
        "sdk.completion",
    ):
        assert resolve_basis(CHECKS[check_id], NebulaBlockProvider).basis is Basis.OPENAI
    assert resolve_basis(CHECKS["schema.usage_details"], NebulaBlockProvider).basis is (
        Basis.DOCUMENT
    )
    assert resolve_basis(CHECKS["robustness.no_hang"], NebulaBlockProvider).basis is Basis.HTTP


def test_weai_documents_bearer_auth_and_temperature_but_no_usage() -> None:
    assert resolve_basis(CHECKS["auth.missing_key_refused"], WeAIProvider).basis is Basis.DOCUMENT
    assert (
        "Authorization: Bearer" in resolve_basis(CHECKS["auth.wrong_key_refused"], WeAIProvider).ref
    )
    for check_id in ("schema.usage", "semantics.max_tokens", "sse.data_is_json", "errors.envelope"):
        assert resolve_basis(CHECKS[check_id], WeAIProvider).basis is Basis.OPENAI, check_id


@pytest.mark.parametrize(
    ("fact", "basis", "message"),
    [
        (None, None, "exactly one of them"),
        ("auth", "http", "exactly one of them"),
        ("auth.bearer_typo", None, "unknown fact"),
        (None, "document", "is not 'http' or 'openai'"),
    ],
)
def test_a_check_declares_one_known_fact_or_basis(
    fact: str | None, basis: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_declaration("x.y", fact, basis)
    with pytest.raises(ValueError, match=message):
        check(
            id="scratch.basisless",
            title="t",
            severity=Severity.CLIENT,
            source="s",
            fact=fact,
            basis=basis,
        )
    assert "scratch.basisless" not in CHECKS


# -- verdicts and the exit code -------------------------------------------------------------


def _result(check_id: str, status: Status, severity: Severity, basis: str) -> CheckResult:
    return CheckResult(
        id=check_id, title="t", severity=severity, status=status, basis=basis, basis_ref="r"
    )


def _run(*results: CheckResult, strict: bool = False) -> CheckRun:
    return CheckRun(
        provider="nebulablock",
        base_url="http://x/v1",
        model="m",
        checks=list(results),
        min_coverage=0.0,
        strict_openai=strict,
    )


def test_a_client_finding_beyond_the_document_is_reported_not_failed() -> None:
    run = _run(
        _result("a.doc", Status.PASSED, Severity.CLIENT, "document"),
        _result("b.env", Status.FAILED, Severity.CLIENT, "openai"),
    )
    assert run.exit_code == 0 and run.passed
    verdicts = run.verdicts()
    assert verdicts["document"]["status"] == "passed"
    assert verdicts["openai"]["status"] == "partly_compatible"
    assert verdicts["openai"]["beyond_document"] == {"sdk": 0, "client": 1, "cosmetic": 0}
    assert _run(*run.checks, strict=True).exit_code == 1


@pytest.mark.parametrize(
    ("status", "severity", "basis"),
    [
        (Status.FAILED, Severity.SDK, "openai"),  # breaks the official SDK, whatever the basis
        (Status.FAILED, Severity.COSMETIC, "document"),
        (Status.FAILED, Severity.CLIENT, "http"),
        (Status.ERROR, Severity.CLIENT, "openai"),
    ],
)
def test_what_fails_the_run_by_default(status: Status, severity: Severity, basis: str) -> None:
    run = _run(_result("a.b", status, severity, basis))
    assert run.exit_code == 1
    assert not reported_only(run.checks[0].to_dict())


def test_a_version_1_result_is_read_with_every_check_on_the_document() -> None:
    old = {
        "version": 1,
        "kind": "check",
        "provider": "nebulablock",
        "checks": [
            {"id": "errors.envelope", "title": "t", "severity": "client", "status": "failed"}
        ],
        "coverage": {"min": 0.0},
    }
    run = CheckRun.from_dict(old)
    assert run.checks[0].basis == "document"
    assert run.exit_code == 1
    assert verdicts_of(old["checks"])["document"]["status"] == "failed"


def test_result_file_round_trips_the_basis_and_strictness() -> None:
    run = _run(_result("b.env", Status.FAILED, Severity.CLIENT, "openai"), strict=True)
    data: dict[str, Any] = json.loads(run.to_json())
    assert data["version"] == 2
    assert data["checks"][0]["basis"] == "openai" and data["checks"][0]["basis_ref"] == "r"
    assert data["verdicts"]["openai"]["strict"] is True
    again = CheckRun.from_dict(data)
    assert again.strict_openai and again.checks[0].basis == "openai" and again.exit_code == 1


def test_list_shows_the_basis_of_each_check_for_the_profile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from conformance.cli import main

    try:
        code = main(["check", "--provider", "nebulablock", "--list", "--only", "errors,robustness"])
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None)
    basis = {line.split()[0]: line.split()[2] for line in capsys.readouterr().out.splitlines()}
    assert basis["errors.envelope"] == "openai"
    assert basis["errors.no_server_error"] == "http"
    assert basis["robustness.valid_request_succeeds"] == "document"


def test_sdk_breakage_in_a_feature_the_document_does_not_offer_is_a_finding() -> None:
    """WeAI's guide never describes streaming: a broken stream is reported, not failed."""
    broken_stream = _result("sse.stream_when_asked", Status.FAILED, Severity.SDK, "openai")
    broken_stream.feature_documented = False
    run = _run(broken_stream)
    assert run.exit_code == 0 and run.passed
    data = broken_stream.to_dict()
    assert data["feature_documented"] is False and reported_only(data)
    assert CheckResult.from_dict(data).feature_documented is False
    assert _run(broken_stream, strict=True).exit_code == 1
    # the same failure where the document states the feature fails the run, as before
    assert _run(_result("sse.stream_when_asked", Status.FAILED, Severity.SDK, "openai")).exit_code


def test_which_profiles_offer_streaming() -> None:
    assert OpenAIProvider.documents_feature("streaming")
    assert NebulaBlockProvider.documents_feature("streaming")  # its page lists `stream`
    assert not WeAIProvider.documents_feature("streaming")  # sent, never described
    assert WeAIProvider.documents_feature("temperature")
    assert WeAIProvider.documents_feature("system_role")  # no fact stands for it
