"""The auth family against respx targets with real-world authentication mistakes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fake_openai import KEY, FakeOpenAI, run

from conformance.engine import TargetMisconfigured

ONLY = "auth"
IDS = ("auth.missing_key_refused", "auth.wrong_key_refused", "auth.error_envelope")


def _statuses(results: dict[str, Any]) -> dict[str, str]:
    return {check_id: str(results[check_id].status) for check_id in IDS}


def test_a_target_that_checks_keys_passes() -> None:
    assert set(_statuses(run(FakeOpenAI(), ONLY)).values()) == {"passed"}


def test_without_a_configured_key_nothing_is_judged() -> None:
    results = run(FakeOpenAI(key=None), ONLY, api_key=None)
    assert set(_statuses(results).values()) == {"skipped"}
    assert "no API key" in results["auth.missing_key_refused"].detail


def test_an_open_server_with_a_configured_key_warns_with_a_hint() -> None:
    # redteam: an open server (no authentication at all, as vLLM without --api-key) is not
    # broken; the key may come from the default environment variable. It is flagged as a
    # warning; one-sided acceptance (PresenceOnly below) still fails.
    results = run(FakeOpenAI(key=None), ONLY, api_key=KEY)
    verdict = results["auth.missing_key_refused"]
    assert str(verdict.status) == "warned"
    assert "accepted (HTTP 200)" in verdict.detail and "--api-key-env" in verdict.detail
    assert str(results["auth.wrong_key_refused"].status) == "warned"


def test_a_refused_configured_key_stops_the_run_before_the_probes() -> None:
    """A live run whose plain request is refused with the configured key is a
    configuration error (exit 2 in the CLI), not a run of auth verdicts."""
    with pytest.raises(TargetMisconfigured, match=r"HTTP 401: the key in \$OPENAI_API_KEY"):
        run(FakeOpenAI(key="sk-another"), ONLY, api_key=KEY)


def test_a_refused_configured_key_proves_nothing_in_a_replay() -> None:
    """Replayed cassettes of such a run (no preflight) leave the auth checks unjudged."""
    results = run(FakeOpenAI(key="sk-another"), ONLY, api_key=KEY, mode="replay")
    assert set(_statuses(results).values()) == {"skipped"}
    assert "itself answered HTTP 401" in results["auth.wrong_key_refused"].detail


class PresenceOnly(FakeOpenAI):
    """Checks that a key is present, not that it is right (a common proxy shortcut)."""

    def authenticate(self, request: httpx.Request) -> httpx.Response | None:
        if not request.headers.get("authorization"):
            return self.refuse(401, "Missing key.")
        return None


def test_a_wrong_key_accepted_fails_only_that_check() -> None:
    statuses = _statuses(run(PresenceOnly(), ONLY))
    assert statuses == {
        "auth.missing_key_refused": "passed",
        "auth.wrong_key_refused": "failed",
        "auth.error_envelope": "passed",
    }


class BadRequestForMissingKey(FakeOpenAI):
    """Answers a missing header with 400 (a header-validation error), not 401."""

    def authenticate(self, request: httpx.Request) -> httpx.Response | None:
        if not request.headers.get("authorization"):
            return self.refuse(400, "Header 'Authorization' is required.")
        return super().authenticate(request)


def test_400_for_a_missing_key_fails_and_says_what_the_sdk_does() -> None:
    verdict = run(BadRequestForMissingKey(), ONLY)["auth.missing_key_refused"]
    assert str(verdict.status) == "failed"
    assert "BadRequestError" in verdict.detail and "AuthenticationError" in verdict.detail


class StarletteForbidden(FakeOpenAI):
    """FastAPI's HTTPBearer: 403 {"detail": "Not authenticated"} for a missing key."""

    def authenticate(self, request: httpx.Request) -> httpx.Response | None:
        if not request.headers.get("authorization"):
            return httpx.Response(403, json={"detail": "Not authenticated"})
        return super().authenticate(request)


def test_403_is_a_refusal_but_a_detail_body_is_not_an_envelope() -> None:
    results = run(StarletteForbidden(), ONLY)
    assert str(results["auth.missing_key_refused"].status) == "passed"
    envelope = results["auth.error_envelope"]
    assert str(envelope.status) == "failed"
    assert 'no "error" object' in envelope.detail


class EmptyUnauthorized(FakeOpenAI):
    """A gateway in front answers 401 with an empty body."""

    def refuse(self, status: int, message: str, param: str | None = None) -> httpx.Response:
        if status == 401:
            return httpx.Response(401, content=b"", headers={"www-authenticate": "Bearer"})
        return super().refuse(status, message, param)


def test_an_empty_401_body_fails_the_envelope() -> None:
    results = run(EmptyUnauthorized(), ONLY)
    assert str(results["auth.missing_key_refused"].status) == "passed"
    assert str(results["auth.error_envelope"].status) == "failed"
    assert "empty" in results["auth.error_envelope"].detail


def test_probes_send_no_key_and_a_wrong_key_and_evidence_hides_the_real_one() -> None:
    fake = PresenceOnly()
    results = run(fake, ONLY)
    sent = {r.headers.get("authorization") for r in fake.requests}
    assert f"Bearer {KEY}" in sent and None in sent
    assert any(h and h != f"Bearer {KEY}" for h in sent)
    evidence = json.dumps([r.evidence for r in results.values()])
    assert "wrong_key" in evidence or "Bearer" in evidence
    assert KEY not in evidence
