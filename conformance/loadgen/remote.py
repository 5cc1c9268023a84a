"""Run one worker of a bench spread over several machines (``conformance bench --worker``).

The worker is Locust's worker process (``python -m conformance.loadgen --worker``) with
the bench locustfile; it connects to the master over TCP and takes from it everything
that shapes the load (users or rate, duration, prompts, request shape, target URL, the
name of the key variable), while the key itself comes from this machine's environment.
It writes what it measured and sent to the master (:meth:`Totals.worker_file
<conformance.loadgen.roster.Totals.worker_file>`), so each machine's figures can be
read beside the master's merge.

This module never imports Locust or gevent.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import ConfigError
from conformance.loadgen.roster import worker_host

__all__ = ["WorkerInterrupted", "WorkerSpec", "run_worker", "worker_summary"]


class WorkerInterrupted(Exception):
    """The worker was interrupted (Ctrl-C); ``record`` holds what it had sent, if anything."""

    def __init__(self, record: dict[str, Any] | None) -> None:
        super().__init__("interrupted")
        self.record = record


@dataclass(slots=True)
class WorkerSpec:
    """Where the master is, how long to wait for it, and where to write this worker's record."""

    master_host: str
    master_port: int = 5557
    #: seconds to wait for the master to accept this worker before giving up
    wait_s: float = 60.0
    json_path: str | None = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) for a bad option."""
        if not self.master_host or "\x00" in self.master_host:
            raise ConfigError("--worker needs --master-host, the master's address")
        if not 0 < self.master_port < 65536:
            raise ConfigError(f"--master-port must be a TCP port, got {self.master_port}")
        if not (math.isfinite(self.wait_s) and self.wait_s > 0):
            raise ConfigError(f"--worker-wait must be > 0 seconds, got {self.wait_s:g}")


def _read(path: Path) -> dict[str, Any] | None:
    import json

    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        return data
    except (OSError, ValueError):
        return None


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Ask the worker to stop (SIGTERM), then end its process group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
    process.wait(timeout=10)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_worker(spec: WorkerSpec) -> dict[str, Any]:
    """Run the worker until its master's run ends; return what it measured and sent.

    Raises :class:`ConfigError` when the master did not accept the worker within
    ``wait_s`` seconds or the worker ended without connecting, and
    :class:`WorkerInterrupted` on Ctrl-C. The returned record has ``final`` false when
    the run ended for the master before this worker's last delta was sent.
    """
    spec.validate()
    with tempfile.TemporaryDirectory(prefix="conformance-worker-") as tmp:
        path = Path(spec.json_path) if spec.json_path else Path(tmp) / "worker.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        args = [
            sys.executable,
            "-m",
            "conformance.loadgen",
            "--worker",
            "--master-host",
            spec.master_host,
            "--master-port",
            str(spec.master_port),
            "--loglevel",
            "WARNING",
            "--worker-result-json",
            str(path),
        ]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        connect_by = time.monotonic() + spec.wait_s
        previous = signal.signal(signal.SIGTERM, _interrupt)  # stop the worker with us
        try:
            while process.poll() is None:
                time.sleep(0.25)
                if not path.exists() and time.monotonic() > connect_by:
                    _stop(process, 5.0)
                    raise ConfigError(
                        f"the master at {spec.master_host}:{spec.master_port} did not accept "
                        f"this worker within --worker-wait {spec.wait_s:g} s: is "
                        "`conformance bench --expect-workers N` running there, and is the "
                        "port open?"
                    )
        except KeyboardInterrupt:
            _stop(process, 10.0)
            raise WorkerInterrupted(_read(path)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
            if process.poll() is None:
                _stop(process, 10.0)
            else:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        record = _read(path)
        if record is None:
            raise ConfigError(
                f"the worker ended (exit {process.returncode}) before the master at "
                f"{spec.master_host}:{spec.master_port} accepted it"
            )
        return record


def worker_summary(record: dict[str, Any]) -> str:
    """One line: who this worker is and what it sent to its master."""
    requests = int(record.get("requests") or 0)
    failures = int(record.get("failures") or 0)
    head = f"worker {record.get('worker_id')} on {worker_host(str(record.get('worker_id')))}"
    return (
        f"{head}: {requests} requests measured ({failures} failed, "
        f"{record.get('warmup_requests', 0)} in the warm-up) and sent to {record.get('master')}"
    )
