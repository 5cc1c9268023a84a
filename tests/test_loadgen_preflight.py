"""The bench's preflight: one plain request that adapts the load, or stops it with what to fix."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backend import BackendConfig, serve_in_thread
from conformance.loadgen.preflight import Preflight, preflight
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
def _no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _run(base_url: str, timeout_s: float = 2.0) -> Preflight:
    """``--api-key-env PREFLIGHT_KEY`` when a test set it; otherwise the profile's own
    variable, unset (a variable named with --api-key-env that is unset is exit 2)."""
    return preflight(
        "openai",
        base_url,
        model=None,
        api_key_env="PREFLIGHT_KEY" if "PREFLIGHT_KEY" in os.environ else None,
        stream=True,
        timeout_s=timeout_s,
    )


def test_a_correct_target_changes_nothing(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_KEY", KEY)
    found = _run(roots[1] + "/v1")
    assert (found.length_param, found.notes, found.stop) == ("max_tokens", [], None)


def test_no_key_is_a_note_when_the_target_accepts_that(roots: tuple[str, str]) -> None:
    found = _run(roots[0] + "/v1")
    assert found.stop is None and found.notes == [
        "no key in $OPENAI_API_KEY: requests are sent without credentials"
    ]


def test_a_target_refusing_max_tokens_gets_max_completion_tokens(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_KEY", KEY)
    found = _run(roots[1] + "/fault/ok_reasoning_model/v1")
    assert found.length_param == "max_completion_tokens" and found.stop is None
    assert len(found.notes) == 1 and found.notes[0].startswith("adapted:")


def test_a_wrong_key_stops_the_bench_with_what_to_fix(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_KEY", "sk-preflight-wrong-key")
    found = _run(roots[1] + "/v1")
    assert found.stop is not None and "\n" not in found.stop
    assert "HTTP 401" in found.stop and "--api-key-env" in found.stop
    assert "sk-preflight-wrong-key" not in found.stop + json.dumps(found.notes)


def test_a_missing_key_is_named_as_missing(roots: tuple[str, str]) -> None:
    found = _run(roots[1] + "/v1")
    assert found.stop is not None and "HTTP 401" in found.stop
    assert "no key in $OPENAI_API_KEY" in found.stop


def test_a_hanging_target_stops_the_bench_within_the_timeout(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_KEY", KEY)
    started = time.monotonic()
    found = _run(roots[1] + "/fault/hang_before_headers/v1")
    assert time.monotonic() - started < 5 * 2.0 + 10
    assert found.stop is not None and found.stop.startswith("preflight: no usable answer")
    assert "timeout" in found.stop


def test_a_stream_that_stalls_after_a_2xx_lets_the_load_measure_it(
    roots: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target answers: what it does under load is the bench's to measure."""
    monkeypatch.setenv("PREFLIGHT_KEY", KEY)
    found = _run(roots[1] + "/fault/hang_mid_stream/v1")
    assert found.stop is None
    assert found.notes[0].startswith("preflight: the target answered HTTP 200, but")


def test_a_closed_port_stops_the_bench(roots: tuple[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = _run(f"http://127.0.0.1:{port}/v1")
    assert found.stop is not None and "could not connect" in found.stop


@pytest.mark.parametrize(
    ("mode", "needles"),
    [
        ("status500", ["HTTP 500", "boom", "check the server"]),
        ("status401", ["HTTP 401", "Incorrect API key provided", "no key in $OPENAI_API_KEY"]),
        ("headers100k", ["100 KiB", "header limit"]),
    ],
)
def test_hostile_answers_stop_the_bench_and_say_what_happened(
    mode: str, needles: list[str]
) -> None:
    from tests.bench_redteam import running_hostile

    with running_hostile(limit_s=60) as root:
        found = _run(f"{root}/{mode}/v1", timeout_s=5.0)
    assert found.stop is not None
    for needle in needles:
        assert needle in found.stop, found.stop
    assert "closed the connection" not in found.stop


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
    found = _run(roots[0])
    assert found.length_param == "max_tokens" and found.stop is not None
    assert "HTTP 404" in found.stop and f"try {roots[0].rstrip('/')}/v1" in found.stop
