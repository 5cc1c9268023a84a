"""``conformance check`` against a real LiteLLM proxy (``tox -e interop``).

Every finding the run reports must be one that ``docs/interop-litellm.md`` classifies
(a real deviation of the proxy or of its ``mock_response`` model); a new finding fails
this test so that it gets looked at, and a check that errors is always a harness bug.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from litellm_proxy import (
    KEY_ENV,
    MASTER_KEY,
    check_proxy,
    find_litellm,
    running_proxy,
    summary,
)

#: check id -> why it is not a false alarm (the long form is in docs/interop-litellm.md)
KNOWN_FINDINGS: dict[str, str] = {
    "stream.usage_chunk": "LiteLLM's usage chunk carries choices [{index: 0, delta: {}}], not []",
    "stream.usage_only_on_usage_chunk": "usage rides on a chunk that has choices",
    "auth.missing_key_refused": "500 without the prisma package (packaging bug); 401 with it",
    "auth.wrong_key_refused": "without a database a wrong key gets 400 'No connected db.'",
    "errors.invalid_refused": "the proxy forwards without validating; mock_response answers",
    "errors.no_server_error": "a JSON array body crashes the auth handler: 500",
    "robustness.complete_body": "after that crash the proxy resets the keep-alive connection",
    "semantics.max_tokens": "mock_response ignores the cap (and reports fixed usage)",
    "semantics.max_completion_tokens": "mock_response ignores the cap",
    "semantics.stop_word": "mock_response ignores stop",
    "semantics.stop_phrase": "mock_response ignores stop",
    "semantics.stop_span": "mock_response ignores stop",
    "semantics.stop_list": "mock_response ignores stop",
    "semantics.logprobs": "mock_response ignores logprobs",
    "semantics.tools": "mock_response ignores tools and tool_choice",
    "semantics.json_mode": "mock_response ignores response_format",
    "semantics.usage_consistent": "mock_response reports fixed usage (10 prompt tokens)",
    "schema.spec_only_fields": "choices[].logprobs and message.refusal are left out",
}

REPORTS = Path(__file__).resolve().parents[2] / "reports" / "interop-litellm"


def test_litellm_proxy_findings_are_all_classified() -> None:
    litellm = find_litellm()
    if litellm is None:
        pytest.skip("litellm is not installed (tox -e interop installs litellm[proxy])")
    with running_proxy(litellm, REPORTS) as proxy:
        outcome = check_proxy(proxy, REPORTS)
    print(summary(outcome.result))
    assert outcome.exit_code in (0, 1), outcome.output
    assert outcome.result.get("kind") == "check"
    checks = outcome.result["checks"]
    errored = [c for c in checks if c["status"] == "error"]
    assert not errored, errored
    passed = {c["id"] for c in checks if c["status"] == "passed"}
    assert {"sse.content_type", "schema.completion", "semantics.n_choices"} <= passed
    new = {
        c["id"]: c["detail"]
        for c in checks
        if c["status"] in ("failed", "warned") and c["id"] not in KNOWN_FINDINGS
    }
    assert not new, f"classify these in docs/interop-litellm.md: {new}"


def test_litellm_first_contact_needs_only_the_base_url(tmp_path: Path) -> None:
    """No --model: the proxy's model list (served at /v1/models and /models) gives
    `mock-gpt`, and the model surface passes: the list, one model, a 400 naming the
    model for an unknown name, answers naming the model."""
    litellm = find_litellm()
    if litellm is None:
        pytest.skip("litellm is not installed (tox -e interop installs litellm[proxy])")
    out = tmp_path / "models.json"
    with running_proxy(litellm, tmp_path) as proxy:
        for base in (proxy.base_url, proxy.base_url.removesuffix("/v1")):
            done = subprocess.run(
                [sys.executable, "-m", "conformance", "check", "--provider", "openai",
                 "--base-url", base, "--api-key-env", KEY_ENV, "--timeout", "20",
                 "--only", "models", "--json", str(out), "-q"],
                capture_output=True, text=True, timeout=300, check=False,
                env={**os.environ, KEY_ENV: MASTER_KEY},
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            assert "using model 'mock-gpt', the one model listed" in done.stderr
            result = json.loads(out.read_text())
            assert result["model"] == "mock-gpt"
            assert {c["status"] for c in result["checks"]} == {"passed"}, result["checks"]
