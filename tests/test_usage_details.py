"""schema.usage_details: optional usage detail objects are judged when present, and a
correct server that sends them (or none) passes."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest
from selftest import RewritingTransport, rewrite_chunks, rewrite_json

from conformance.backend import BackendConfig, create_app
from conformance.checks import Status, load_families
from conformance.engine import RunConfig, run_checks
from conformance.providers import PROVIDERS, get_provider
from conformance.results import CheckResult
from conformance.wire.client import WireClient

load_families()
KEY = "sk-details-" + secrets.token_hex(8)
CHECK = "schema.usage_details"


def _result(profile: str, rewrite: Any = None, *, others_pass: bool = True) -> CheckResult:
    app = create_app(BackendConfig(api_keys=(KEY,)))
    inner = httpx.ASGITransport(app=app)
    transport = RewritingTransport(inner, rewrite) if rewrite is not None else inner
    config = RunConfig(
        provider=get_provider(
            profile, base_url=PROVIDERS[profile].embedded_base_url("http://mock.invalid")
        ),
        api_key=KEY,
        timeout=5.0,
        only=[CHECK, "schema.usage", "schema.usage_total", "sdk.*"],
        sender=WireClient(timeout=5.0, transport=transport),
        mode="embedded",
    )
    run = run_checks(config)
    problems = [
        f"{r.id}: {r.status.value}: {r.detail}"
        for r in run.checks
        if r.id != CHECK and r.status not in (Status.PASSED, Status.SKIPPED)
    ]
    if others_pass:  # a well-formed details object disturbs no other check
        assert not problems, problems
    (result,) = [r for r in run.checks if r.id == CHECK]
    return result


def _openai_like(usage: dict[str, Any]) -> None:
    """What OpenAI sends: every count, zeros included, within the totals."""
    usage["prompt_tokens_details"] = {"cached_tokens": usage["prompt_tokens"], "audio_tokens": 0}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": usage["completion_tokens"],
        "audio_tokens": None,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
        "x_vendor_count": 999,  # unknown counts are not judged
    }


def _plain(body: dict[str, Any]) -> None:
    _openai_like(body["usage"])


def _chunks(datas: list[str]) -> list[str]:
    out = []
    for data in datas:
        if data != "[DONE]":
            chunk = json.loads(data)
            if isinstance(chunk.get("usage"), dict):
                _openai_like(chunk["usage"])
                data = json.dumps(chunk)
        out.append(data)
    return out


def _both(request: httpx.Request, status: int, headers: Any, body: bytes) -> Any:
    status, headers, body = rewrite_json(_plain)(request, status, headers, body)
    return rewrite_chunks(_chunks)(request, status, headers, body)


@pytest.mark.parametrize("profile", ["openai", "nebulablock", "weai"])
def test_well_formed_details_pass(profile: str) -> None:
    result = _result(profile, _both)
    assert result.status is Status.PASSED, result.detail
    assert "detail object" in result.detail


@pytest.mark.parametrize("profile", ["openai", "nebulablock"])
def test_no_details_is_not_judged_and_not_held_against_coverage(profile: str) -> None:
    """The correct backend sends none (openai) or null (nebulablock, as documented)."""
    result = _result(profile)
    assert result.status is Status.SKIPPED and "not judged" in result.detail
    assert result.by_design


@pytest.mark.parametrize(
    ("details", "words"),
    [
        ({"prompt_tokens_details": {"cached_tokens": 10**6}}, "more than usage.prompt_tokens"),
        ({"completion_tokens_details": {"reasoning_tokens": -1}}, "not a non-negative integer"),
        ({"completion_tokens_details": {"reasoning_tokens": 1.5}}, "not a non-negative integer"),
        ({"prompt_tokens_details": {"audio_tokens": True}}, "not a non-negative integer"),
        ({"prompt_tokens_details": "none"}, "not an object or null"),
    ],
)
def test_malformed_details_fail(details: dict[str, Any], words: str) -> None:
    def rewrite(body: dict[str, Any]) -> None:
        body["usage"].update(details)

    result = _result("nebulablock", rewrite_json(rewrite), others_pass=False)
    assert result.status is Status.FAILED and words in result.detail, result.detail
    assert result.evidence
