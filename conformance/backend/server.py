"""Running the reference backend: in this thread, in a daemon thread, or in a child process.

uvicorn runs with httptools and uvloop when they are installed (its httptools protocol
noting when each request arrived: :mod:`conformance.backend.intake`), the access log off,
and never reconfigures the logging of the process it runs in.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

import httpx
import uvicorn
from starlette.types import ASGIApp

from conformance.backend.app import create_app
from conformance.backend.config import BackendConfig
from conformance.backend.intake import http_protocol
from conformance.errors import ConfigError

#: the child process reads its configuration (keys included) from here, never from argv
CONFIG_ENV = "CONFORMANCE_BACKEND_CONFIG"
#: the child process announces its root URL with this line on stdout
READY_PREFIX = "conformance-backend listening on "


class _Server(uvicorn.Server):
    """uvicorn's server, calling ``on_ready`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()


def uvicorn_config(config: BackendConfig) -> uvicorn.Config:
    """The uvicorn settings for the backend (fast loop and parser when available)."""
    app: ASGIApp
    if config.only_document is not None:
        from conformance.backend.document_only import DocumentOnlyApp

        app = DocumentOnlyApp(config)
    else:
        app = create_app(config)
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=http_protocol(),
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level=config.log_level,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
        backlog=4096,
    )


def bind(config: BackendConfig) -> socket.socket:
    """A socket bound to the configured host and port (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    sock.set_inheritable(False)
    return sock


def root_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_server(config: BackendConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in the calling thread until interrupted (SIGINT/SIGTERM stop it cleanly).

    Meant for a process of its own: it also tunes the garbage collector (start-up
    objects frozen, fewer young-generation passes) to keep pauses off the stream timing.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
    sock = bind(config)
    url = root_url(sock)
    server = _Server(uvicorn_config(config), (lambda: on_ready(url)) if on_ready else None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def serve_in_thread(
    config: BackendConfig | None = None, *, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Run the backend in a daemon thread; yield its root URL; stop it on exit.

    The port is picked by the system unless ``config.port`` names one.
    """
    config = config or BackendConfig()
    sock = bind(config)
    ready = threading.Event()
    server = _Server(uvicorn_config(config), ready.set)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="conformance-backend", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not ready.wait(0.02):
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("the embedded backend did not start")
        yield root_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def serve_in_process(
    config: BackendConfig | None = None, *, startup_timeout: float = 20.0
) -> Iterator[str]:
    """Run the backend in a child process; yield its root URL once it answers; stop it on exit.

    The child is ``python -m conformance.backend``; its configuration (keys included)
    travels in an environment variable, never on the command line.
    """
    config = config or BackendConfig()
    env = dict(os.environ)
    env[CONFIG_ENV] = config.to_json()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "conformance.backend"],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        try:
            url = _await_ready(process, errors, startup_timeout)
            yield url
        finally:
            _stop(process)


def _await_ready(process: subprocess.Popen[str], errors: IO[bytes], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, name="conformance-backend-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    url = None
    while url is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConfigError(f"the embedded backend did not start within {timeout:g} s")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if not line:
            raise ConfigError("the embedded backend exited at start: " + _tail(errors))
        if line.startswith(READY_PREFIX):
            url = line[len(READY_PREFIX) :].strip()
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            try:
                if client.get(url + "/stats").status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise ConfigError("the embedded backend does not answer: " + _tail(errors))
            time.sleep(0.05)


def _tail(errors: IO[bytes]) -> str:
    """The last non-empty line the child wrote to stderr."""
    try:
        errors.seek(0)
        text = errors.read().decode(errors="replace")
    except (OSError, ValueError):
        return "(no output)"
    last = [line for line in text.strip().splitlines() if line.strip()]
    return last[-1] if last else "(no output)"


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()
