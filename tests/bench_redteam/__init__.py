"""Red-team material for ``conformance bench``: independent servers and their launcher.

- ``server.py``: a timed server whose framings change only how tokens reach the wire;
- ``hostile.py``: a server that refuses, hangs, stalls, drips or floods headers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["HOSTILE", "SERVER", "running_hostile", "running_server"]

#: the timed server script (run as a process of its own, never imported into a load process)
SERVER = Path(__file__).with_name("server.py")
#: the hostile server script
HOSTILE = Path(__file__).with_name("hostile.py")


@contextlib.contextmanager
def _launched(script: Path, args: list[str]) -> Iterator[str]:
    """Start ``script`` on 127.0.0.1 in its own process; yield its root URL."""
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()  # bounded by --limit-s at worst
        if not line.startswith("PORT "):
            raise RuntimeError(f"the red-team server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def running_server(ttft_ms: float, itl_ms: float, *, limit_s: float = 900.0) -> Iterator[str]:
    """Start the timed server; yield its root URL."""
    args = ["--ttft-ms", f"{ttft_ms:g}", "--itl-ms", f"{itl_ms:g}", "--limit-s", f"{limit_s:g}"]
    with _launched(SERVER, args) as url:
        yield url


@contextlib.contextmanager
def running_hostile(*, limit_s: float = 600.0) -> Iterator[str]:
    """Start the hostile server; yield its root URL (modes are path prefixes)."""
    with _launched(HOSTILE, ["--limit-s", f"{limit_s:g}"]) as url:
        yield url
