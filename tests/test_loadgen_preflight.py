"""The bench's preflight: one plain request that adapts the load or tells what to fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.loadgen.preflight import preflight
from conformance.loadgen.runner import BenchSpec, _locust_args
from conformance.loadgen.target import Target

KEY = "sk-preflight-right-key"


@pytest.fixture(scope="module")
def roots() -> Iterator[tuple[str, str]]:
    with (
        serve_in_thread(BackendConfig()) as open_root,
        serve_in_thread(BackendConfig(api_keys=(KEY,), hang_s=30)) as keyed_root,
    ):
        yield open_root, keyed_root


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--api-key-env PREFLIGHT_KEY`` names a set variable (unset would be exit 2); the
    open backend accepts any key, the keyed one this one."""
    monkeypatch.setenv("PREFLIGHT_KEY", KEY)


def _run(base_url: str) -> tuple[str, list[str]]:
    found = preflight(
        "openai", base_url, model=None, api_key_env="PREFLIGHT_KEY", stream=True, timeout_s=2.0
    )
    return found.length_param, found.notes


def test_a_correct_target_changes_nothing(roots: tuple[str, str]) -> None:
    assert _run(roots[0] + "/v1") == ("max_tokens", [])


def test_a_target_refusing_max_tokens_gets_max_completion_tokens(roots: tuple[str, str]) -> None:
    param, notes = _run(roots[0] + "/fault/ok_reasoning_model/v1")
    assert param == "max_completion_tokens"
    assert len(notes) == 1 and notes[0].startswith("adapted:")


def test_a_wrong_key_is_named_with_what_to_fix(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_KEY", "sk-preflight-wrong-key")
    param, notes = _run(roots[1] + "/v1")
    assert param == "max_tokens"
    assert "HTTP 401" in notes[0] and "--api-key-env" in notes[0]
    assert "sk-preflight-wrong-key" not in json.dumps(notes)


def test_a_hanging_target_is_a_note_within_the_timeout(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_KEY", KEY)
    param, notes = _run(roots[1] + "/fault/hang_before_headers/v1")
    assert param == "max_tokens" and notes[0].startswith("preflight: the first request failed")


def test_the_length_param_reaches_the_load_requests() -> None:
    spec = BenchSpec(base_url="http://127.0.0.1:9/v1", length_param="max_completion_tokens")
    args = _locust_args(spec, "http://127.0.0.1:9/v1", 4, Path("x"), False)
    assert args[args.index("--length-param") + 1] == "max_completion_tokens"
    target = Target(
        "openai",
        "http://127.0.0.1:9/v1",
        model=None,
        stream=True,
        max_tokens=8,
        conversations=[[{"role": "user", "content": "hi"}]],
        api_key=None,
        length_param="max_completion_tokens",
    )
    body = json.loads(target.next_request().body)
    assert body["max_completion_tokens"] == 8 and "max_tokens" not in body


def test_a_base_url_without_v1_gets_the_likely_fix(roots: tuple[str, str]) -> None:
    param, notes = _run(roots[0])
    assert param == "max_tokens" and "HTTP 404" in notes[0]
    assert f"try {roots[0].rstrip('/')}/v1" in notes[0]
