"""Run ``conformance check`` against a LiteLLM proxy serving a ``mock_response`` model.

The proxy is started on 127.0.0.1 with a master key, ``LITELLM_LOCAL_MODEL_COST_MAP=True``
(no download of the cost map) and one model, ``mock-gpt``, whose answer is a fixed text
(LiteLLM's ``mock_response``: no upstream, no network). Then the harness checks it as an
``openai`` profile target and the proxy is stopped.

Usable as a script (``python tests/interop/litellm_proxy.py --litellm PATH --out DIR``)
and from ``tests/interop/test_litellm.py`` (``tox -e interop``). What the run finds, and
which findings are real deviations, is written up in ``docs/interop-litellm.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MODEL = "mock-gpt"
#: the master key of the throw-away proxy (not a secret: it guards nothing)
MASTER_KEY = "sk-interop-master-0123456789"
KEY_ENV = "LITELLM_INTEROP_KEY"
MOCK_TEXT = "Apples, pears, plums, cherries, grapes, figs, dates, limes, lemons and melons."
STARTUP_TIMEOUT_S = 120.0
CHECK_TIMEOUT_S = 600.0

CONFIG = f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-not-used-upstream
      mock_response: "{MOCK_TEXT}"
general_settings:
  master_key: {MASTER_KEY}
"""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_litellm(explicit: str | None = None) -> str | None:
    """The ``litellm`` executable: ``explicit``, ``$LITELLM_BIN``, or the one on PATH."""
    for candidate in (explicit, os.environ.get("LITELLM_BIN"), shutil.which("litellm")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass(frozen=True)
class Proxy:
    base_url: str
    log: Path


@contextlib.contextmanager
def running_proxy(litellm: str, workdir: Path) -> Iterator[Proxy]:
    """Start the proxy, wait until it answers, yield it, and always stop it."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "litellm-config.yaml"
    config.write_text(CONFIG)
    log = workdir / "litellm-proxy.log"
    port = free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the LiteLLM proxy exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(root + "/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the LiteLLM proxy did not start in {STARTUP_TIMEOUT_S} s")
            time.sleep(0.5)
        yield Proxy(base_url=root + "/v1", log=log)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@dataclass(frozen=True)
class CheckOutcome:
    exit_code: int
    result: dict[str, Any]
    output: str


def check_proxy(proxy: Proxy, out_dir: Path) -> CheckOutcome:
    """Run ``conformance check`` against the proxy; the result JSON and Markdown go to
    ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / "litellm-check.json"
    cmd = [
        sys.executable, "-m", "conformance", "check",
        "--provider", "openai", "--base-url", proxy.base_url, "--model", MODEL,
        "--api-key-env", KEY_ENV, "--timeout", "20",
        "--json", str(result_path), "--markdown", str(out_dir / "litellm-check.md"), "-q",
    ]  # fmt: skip
    env = {**os.environ, KEY_ENV: MASTER_KEY}
    done = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=CHECK_TIMEOUT_S, check=False
    )
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    return CheckOutcome(done.returncode, result, done.stdout + done.stderr)


def summary(result: dict[str, Any]) -> str:
    """One line per check that did not pass."""
    lines = [f"summary: {result.get('summary')}"]
    for c in result.get("checks", []):
        if c["status"] != "passed":
            lines.append(f"{c['status']:8} {c['severity']:8} {c['id']:36} {c['detail'][:160]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--litellm", help="path of the litellm executable (default: PATH)")
    parser.add_argument("--out", default="reports/interop-litellm", help="output directory")
    args = parser.parse_args(argv)
    litellm = find_litellm(args.litellm)
    if litellm is None:
        print("litellm not found: pip install 'litellm[proxy]' or pass --litellm", file=sys.stderr)
        return 2
    out = Path(args.out)
    with running_proxy(litellm, out) as proxy:
        outcome = check_proxy(proxy, out)
    print(summary(outcome.result))
    return outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
