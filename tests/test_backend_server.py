"""Running the backend: in a thread, in a child process, and as ``conformance serve``."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_backend_helpers import chat_body

from conformance.backend import BackendConfig, serve_in_process, serve_in_thread
from conformance.backend.server import READY_PREFIX
from conformance.cli import main
from conformance.errors import ConfigError


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) != 0


def test_thread_server_answers_and_stops_even_on_exceptions() -> None:
    with pytest.raises(RuntimeError), serve_in_thread(BackendConfig(ttft_ms=1)) as url:
        assert url.startswith("http://127.0.0.1:")
        response = httpx.post(url + "/v1/chat/completions", json=chat_body(), timeout=5)
        assert response.status_code == 200
        raise RuntimeError("boom")
    assert _refused(url)


def test_process_server_answers_and_is_terminated() -> None:
    config = BackendConfig(api_keys=("proc-key",), itl_ms=1)
    with serve_in_process(config) as url:
        headers = {"Authorization": "Bearer proc-key"}
        response = httpx.post(
            url + "/v1/chat/completions", json=chat_body(max_tokens=3), headers=headers, timeout=5
        )
        assert response.status_code == 200
        assert (
            httpx.post(url + "/v1/chat/completions", json=chat_body(), timeout=5).status_code == 401
        )
        stats = httpx.get(url + "/stats", timeout=5).json()
        assert stats["configured"]["itl_ms"] == 1
    assert _refused(url)


def test_process_server_reports_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError), serve_in_process(BackendConfig(port=port)):
            pass


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "70000"],
        ["--port", "x"],
        ["--ttft-ms", "-1"],
        ["--itl-ms", "soon"],
        ["--fault", "no_such_fault"],
        ["--api-key-env", "CONFORMANCE_TEST_UNSET_VARIABLE"],
        ["--bogus"],
    ],
)
def test_serve_bad_flags_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("CONFORMANCE_TEST_UNSET_VARIABLE", None)
    with pytest.raises(SystemExit) as caught:
        main(["serve", *args])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("conformance: ") and "\n" not in err


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        BackendConfig(fault="nope")
    with pytest.raises(ConfigError):
        BackendConfig(ttft_ms=-5)


def test_serve_prints_routes_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("conformance")),
            "serve",
            "--port",
            "0",
            "--ttft-ms",
            "5",
            "--api-key-env",
            "CONFORMANCE_TEST_SERVE_KEY",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CONFORMANCE_TEST_SERVE_KEY": "serve-secret"},
    )
    try:
        started = time.monotonic()
        assert process.stdout is not None
        lines_read: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [lines_read.put(line) for line in process.stdout or ()], daemon=True
        ).start()
        first = lines_read.get(timeout=15)
        assert "listening on http://127.0.0.1:" in first, first
        url = first.rsplit(" ", 1)[-1].strip()
        assert time.monotonic() - started < 10  # the budget is 2 s; cores are shared here
        lines = [lines_read.get(timeout=5) for _ in range(10)]
        assert any("/v1/chat/completions" in line for line in lines)
        assert any("/v1/text-generation/" in line for line in lines)
        assert not any("serve-secret" in line for line in lines)
        ok = httpx.post(
            url + "/v1/chat/completions",
            json=chat_body(),
            timeout=5,
            headers={"Authorization": "Bearer serve-secret"},
        )
        assert ok.status_code == 200
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        assert process.returncode == 0
        rest = []
        while not lines_read.empty() or not rest:
            rest.append(lines_read.get(timeout=5))
        assert any("stopped" in line for line in rest)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)


def test_ready_line_contract() -> None:
    assert READY_PREFIX.endswith(" ")


def test_process_server_is_terminated_on_exceptions() -> None:
    with pytest.raises(RuntimeError), serve_in_process(BackendConfig()) as url:
        assert httpx.get(url + "/stats", timeout=5).status_code == 200
        raise RuntimeError("boom")
    assert _refused(url)


def test_the_timing_starts_when_the_request_arrives() -> None:
    """With httptools, the promised TTFT counts from the request's first parsed byte.

    The wait between arrival and the application is the server's own: it shows in
    ``intake_ms`` and inside the TTFT lateness, never in a client's measured error.
    """
    from conformance.backend.intake import RECEIVED, http_protocol, received_at

    assert received_at({"extensions": {RECEIVED: 1.5}}, 2.0) == 1.5
    assert received_at({"extensions": {RECEIVED: 2.5}}, 2.0) == 2.0  # never in the future
    assert received_at({}, 2.0) == 2.0  # not noted (uvicorn's h11 parser)
    assert received_at({"extensions": {RECEIVED: "soon"}}, 2.0) == 2.0
    assert http_protocol() != "h11"  # httptools comes with uvicorn[standard]

    with serve_in_thread(BackendConfig(ttft_ms=20)) as url:
        for _ in range(3):
            response = httpx.post(
                url + "/v1/chat/completions", json=chat_body(max_tokens=2), timeout=5
            )
            assert response.status_code == 200
        stats = httpx.get(url + "/stats", timeout=5).json()
    intake = stats["intake_ms"]
    assert intake["count"] >= 3
    assert 0.0 < intake["p50"] < 20.0  # 0 exactly: the arrival was not noted
