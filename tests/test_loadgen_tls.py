"""The load generator over HTTPS: every hosted provider is served over TLS.

The reference backend is served over TLS with a certificate from a throw-away CA
(``trustme``), trusted through ``SSL_CERT_FILE`` as a user would trust a private CA.
A streamed answer must be read through the TLS layer: reading the TCP socket beneath it
gets encrypted records, and every request would fail as ``truncated``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import uvicorn

from conformance.backend import BackendConfig
from conformance.backend.app import create_app
from conformance.backend.server import bind
from conformance.cli import main


@pytest.fixture(scope="module")
def tls_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The reference backend on ``https://127.0.0.1:PORT`` and the CA file that trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    key_file, cert_file = folder / "key.pem", folder / "cert.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    config = BackendConfig(ttft_ms=5, itl_ms=2)
    sock = bind(config)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            lifespan="off",
            log_config=None,
            log_level="warning",
            ssl_keyfile=str(key_file),
            ssl_certfile=str(cert_file),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the TLS backend did not start"
        time.sleep(0.02)
    port = sock.getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}/v1", ca_file
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _bench(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = 0
    try:
        main(["bench", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
def test_bench_over_tls_measures_every_request(
    tls_backend: tuple[str, Path],
    stream: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_url, ca_file = tls_backend
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    out = tmp_path / "bench.json"
    argv = ["--base-url", base_url, "--model", "reference-small", "--users", "2"]
    argv += ["--duration", "2", "--warmup", "0", "--max-tokens", "16", "--json", str(out)]
    argv.append("--stream" if stream else "--no-stream")
    code, text = _bench(argv, capsys)
    assert code == 0, text
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["requests"] > 0
    assert metrics["failures"] == 0, metrics
    if stream:  # the backend waits 5 ms for the first token
        assert metrics["ttft_ms"]["count"] == metrics["requests"]
        assert metrics["ttft_ms"]["p50"] >= 5.0


def test_bench_over_tls_without_the_ca_fails_in_the_preflight(
    tls_backend: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An untrusted certificate is a configuration problem, said before any load."""
    base_url, _ = tls_backend
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    argv = ["--base-url", base_url, "--model", "reference-small", "--users", "1"]
    code, text = _bench([*argv, "--duration", "1"], capsys)
    assert code == 2, text
    assert "Traceback" not in text
    assert "certificate" in text.lower(), text
