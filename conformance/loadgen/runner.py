"""Run a bench: the embedded backend and Locust each in a process of their own.

:func:`run_bench` is what ``conformance bench`` calls. It never imports Locust or gevent:
Locust runs as ``python -m conformance.loadgen`` (master plus ``--workers`` worker
processes when asked), the reference backend (when no base URL is given) through
:func:`conformance.backend.serve_in_process`. Each step of a sweep is one bounded Locust
run; its result file is rewritten every second, so a progress line can be shown and an
interrupted or crashed run still yields what it measured, marked partial.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.errors import ConfigError
from conformance.loadgen.result import (
    apply_server_lateness,
    progress_path,
    result_from_snapshot,
)
from conformance.loadgen.roster import roster_path
from conformance.loadgen.verdict import DEFAULT_MAX_FAILURE_RATE, judge
from conformance.secrets import Scrubber, url_secrets

__all__ = ["BenchInterrupted", "BenchSpec", "run_bench"]

#: seconds Locust may take to start before its first result is expected
_STARTUP_S = 30.0
#: extra seconds after duration + drain before the load process is stopped by force
_HARD_MARGIN_S = 20.0
#: seconds beyond the request timeout that in-flight requests get when a step ends
_DRAIN_MARGIN_S = 2.0

Progress = Callable[[str, bool], None]


class BenchInterrupted(Exception):
    """The bench was interrupted (Ctrl-C); ``result`` holds what was measured, marked partial."""

    def __init__(self, result: dict[str, Any] | None) -> None:
        super().__init__("interrupted")
        self.result = result


@dataclass(slots=True)
class BenchSpec:
    """What to run: the target, the load (a list means a sweep) and the request shape."""

    provider: str = "openai"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    users: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    arrival: str = "constant"
    duration_s: float = 30.0
    warmup_s: float | None = None
    #: ``None``: streamed when the profile streams
    stream: bool | None = None
    max_tokens: int = 64
    #: the parameter the length cap is sent as (the preflight may change it)
    length_param: str = "max_tokens"
    #: ask streams for a usage chunk: ``None`` where the profile's document lists
    #: ``stream_options``, else as the user says (``--stream-usage/--no-stream-usage``)
    stream_usage: bool | None = None
    prompt_tokens: str = "128"
    prompts_file: str | None = None
    seed: int = 0
    workers: int = 1
    #: run a master that waits for this many workers started elsewhere
    #: (``conformance bench --worker``); 0: none, Locust runs here
    expect_workers: int = 0
    #: the address the master listens on for workers (``*``: every interface)
    master_bind_host: str = "*"
    master_port: int = 5557
    #: seconds the master waits for its workers to connect before it gives up
    worker_wait_s: float = 60.0
    ttft_ms: float | None = None
    itl_ms: float | None = None
    max_in_flight: int = 1024
    timeout_s: float = 60.0
    #: a step fails when more than this share of its requests failed (or none succeeded)
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE
    #: what the preflight found, added to every step's result
    notes: list[str] = field(default_factory=list)

    @property
    def open_loop(self) -> bool:
        return bool(self.rates)

    @property
    def drain_s(self) -> float:
        """Seconds in-flight requests may take to finish after the duration.

        A little longer than the timeout, so that every request sent gets its verdict (an
        answer, or a ``read_timeout`` / ``total_timeout`` failure) before the load
        process stops; only a forced stop leaves requests ``unfinished``.
        """
        return self.timeout_s + _DRAIN_MARGIN_S

    @property
    def effective_warmup_s(self) -> float:
        """The warm-up: as given, else 2 s but at most a fifth of the duration."""
        if self.warmup_s is not None:
            return self.warmup_s
        return min(2.0, self.duration_s / 5.0)

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line, what to fix) for a bad combination."""
        from conformance.providers import get_provider

        profile = get_provider(self.provider, base_url=self.base_url, model=self.model)
        if self.stream is None:
            self.stream = profile.capabilities.streaming
        elif self.stream and not profile.capabilities.streaming:
            raise ConfigError(f"{profile.name} does not stream: drop --stream or use --no-stream")
        if self.users and self.rates:
            raise ConfigError("give either --users (closed loop) or --rate (open loop), not both")
        if any(u < 1 for u in self.users):
            raise ConfigError("--users must be whole numbers >= 1, e.g. --users 8 or 1,8,32")
        numbers = [*self.rates, self.duration_s, self.timeout_s]
        numbers += [v for v in (self.warmup_s, self.ttft_ms, self.itl_ms) if v is not None]
        if not all(math.isfinite(v) for v in numbers):
            raise ConfigError("rates, durations and timings must be finite numbers")
        if self.duration_s > 0 and self.duration_s != int(self.duration_s):
            raise ConfigError(f"--duration must be whole seconds, got {self.duration_s:g}")
        if any(not r > 0 for r in self.rates):
            raise ConfigError("--rate must be > 0 requests/s, e.g. --rate 10 or 5,10,20")
        if not self.duration_s > 0:
            raise ConfigError(f"--duration must be > 0 seconds, got {self.duration_s:g}")
        warm = self.effective_warmup_s
        if warm < 0 or warm >= self.duration_s:
            raise ConfigError(f"--warmup must be >= 0 and shorter than --duration, got {warm:g}")
        if self.workers < 1:
            raise ConfigError("--workers must be >= 1")
        self._validate_master()
        if not 0 <= self.max_failure_rate <= 1:
            raise ConfigError("--max-failure-rate must be between 0 and 1, e.g. 0.01")
        if self.max_tokens < 1:
            raise ConfigError("--max-tokens must be >= 1")
        if self.base_url is not None and (self.ttft_ms is not None or self.itl_ms is not None):
            raise ConfigError(
                "--ttft-ms/--itl-ms set the embedded backend's timing: drop --base-url to use them"
            )
        for name, value in (("--ttft-ms", self.ttft_ms), ("--itl-ms", self.itl_ms)):
            if value is not None and not value >= 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.arrival not in ("constant", "poisson"):
            raise ConfigError("--arrival must be constant or poisson")
        texts = {
            "--model": self.model,
            "--api-key-env": self.api_key_env,
            "--prompts": self.prompts_file,
            "--base-url": self.base_url,
        }
        for option, text in texts.items():
            if text is not None and "\x00" in text:
                raise ConfigError(f"{option} {text!r} contains a NUL character")
        if self.api_key_env is not None and not self.api_key_env.replace("_", "").isalnum():
            raise ConfigError(f"--api-key-env {self.api_key_env!r} is not a variable name")
        if self.prompts_file is not None:
            from conformance.loadgen.prompts import load_prompts

            load_prompts(self.prompts_file)  # a missing or bad file: one line, before the run
        from conformance.loadgen.prompts import PromptLength

        PromptLength.parse(self.prompt_tokens)

    def _validate_master(self) -> None:
        """The master's options (``--expect-workers`` and the ones that go with it)."""
        if self.expect_workers < 0:
            raise ConfigError("--expect-workers must be >= 1 (the workers to wait for)")
        if not self.expect_workers:
            return
        if self.workers > 1:
            raise ConfigError(
                "give --workers (processes on this machine) or --expect-workers "
                "(workers started elsewhere with --worker), not both"
            )
        if len(self.users) + len(self.rates) > 1:
            raise ConfigError(
                "--expect-workers runs one load level: the workers leave when the run ends, "
                "so give one --users or --rate value (and start the workers again per level)"
            )
        if self.base_url is None:
            raise ConfigError(
                "--expect-workers needs --base-url, a target the workers' machines can reach "
                "(the reference backend: conformance serve --host 0.0.0.0 on some machine)"
            )
        if not 0 < self.master_port < 65536:
            raise ConfigError(f"--master-port must be a TCP port, got {self.master_port}")
        if not (math.isfinite(self.worker_wait_s) and self.worker_wait_s > 0):
            raise ConfigError(f"--worker-wait must be > 0 seconds, got {self.worker_wait_s:g}")
        if not self.master_bind_host or "\x00" in self.master_bind_host:
            raise ConfigError("--master-bind-host must be an address, or * for every interface")

    @property
    def processes(self) -> int:
        """How many load-generating processes take part (local or remote workers)."""
        return self.expect_workers or self.workers


def check_reachable(base_url: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`ConfigError` when nothing accepts a TCP connection at ``base_url``."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise ConfigError(f"--base-url {base_url!r} has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"--base-url {base_url!r} has a malformed port") from None
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot reach {parts.hostname}:{port} ({reason}): check --base-url"
        ) from None


def _stats(root: str, *, reset: bool = False) -> dict[str, Any]:
    """The reference backend's ``/stats`` (``POST /stats/reset`` when ``reset``)."""
    req = urllib.request.Request(root + "/stats/reset" if reset else root + "/stats")
    if reset:
        req.method = "POST"
        req.data = b""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    with opener.open(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


@contextlib.contextmanager
def _target(spec: BenchSpec) -> Iterator[tuple[str, str | None]]:
    """Yield (base URL, backend root or None); starts the embedded backend when needed."""
    if spec.base_url is not None:
        check_reachable(spec.base_url)
        from conformance.loadgen.preflight import preflight

        found = preflight(
            spec.provider,
            spec.base_url,
            model=spec.model,
            api_key_env=spec.api_key_env,
            stream=bool(spec.stream),
            stream_usage=spec.stream_usage,
            timeout_s=spec.timeout_s,  # its advice "raise --timeout" must hold
        )
        if found.stop is not None:
            raise ConfigError(found.stop)  # nothing to measure: say what to fix, no load
        spec.length_param = found.length_param
        spec.notes.extend(found.notes)
        yield spec.base_url, None
        return
    from conformance.backend import BackendConfig, serve_in_process
    from conformance.providers import PROVIDERS

    config = BackendConfig(
        ttft_ms=50.0 if spec.ttft_ms is None else spec.ttft_ms,
        itl_ms=10.0 if spec.itl_ms is None else spec.itl_ms,
        # every answer runs to max_tokens, so the ideal rate is known
        min_natural_tokens=spec.max_tokens,
        max_natural_tokens=spec.max_tokens,
        # a --model of the user's choice is served too (the backend refuses unknown models)
        models=(spec.model,) if spec.model else (),
    )
    with serve_in_process(config) as root:
        yield PROVIDERS[spec.provider.strip().lower()].embedded_base_url(root), root


def _locust_args(
    spec: BenchSpec, base_url: str, load: float, out: Path, embedded: bool
) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "conformance.loadgen",
        "--headless",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--host",
        base_url,
        "--run-time",
        f"{spec.duration_s:g}s",
        "--stop-timeout",
        f"{spec.drain_s:g}",
        "--exit-code-on-error",
        "0",
        "--result-json",
        str(out),
        "--provider",
        spec.provider,
        "--max-tokens",
        str(spec.max_tokens),
        "--length-param",
        spec.length_param,
        "--prompt-tokens",
        spec.prompt_tokens,
        "--seed",
        str(spec.seed),
        "--warmup",
        f"{spec.effective_warmup_s:g}",
        "--request-timeout",
        f"{spec.timeout_s:g}",
        "--max-failure-rate",
        f"{spec.max_failure_rate:g}",
    ]
    if spec.model:
        args += ["--model", spec.model]
    if spec.api_key_env:
        args += ["--api-key-env", spec.api_key_env]
    if spec.prompts_file:
        args += ["--prompts", spec.prompts_file]
    if not spec.stream:
        args.append("--no-stream")
    if spec.stream_usage is not None:
        args += ["--stream-usage", "on" if spec.stream_usage else "off"]
    if spec.expect_workers:
        # workers started elsewhere (`conformance bench --worker`) connect over TCP
        args += ["--master", "--expect-workers", str(spec.expect_workers)]
        args += ["--expect-workers-max-wait", f"{math.ceil(spec.worker_wait_s)}"]
        args += ["--master-bind-host", spec.master_bind_host]
        args += ["--master-bind-port", str(spec.master_port)]
    elif spec.workers > 1:
        # a port of its own on 127.0.0.1: concurrent benches must not share workers
        port = str(_free_port())
        args += ["--processes", str(spec.workers), "--master-bind-host", "127.0.0.1"]
        args += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    if embedded:
        args += [
            "--true-ttft-ms",
            f"{50.0 if spec.ttft_ms is None else spec.ttft_ms:g}",
            "--true-itl-ms",
            f"{10.0 if spec.itl_ms is None else spec.itl_ms:g}",
        ]
    if spec.open_loop:
        drivers = spec.processes
        args += [
            "--users",
            str(drivers),
            "--spawn-rate",
            str(drivers),
            "--rate",
            f"{load:g}",
            "--arrival",
            spec.arrival,
            "--max-in-flight",
            str(spec.max_in_flight),
            "OpenLoopUser",
        ]
    else:
        users = int(load)
        args += ["--users", str(users), "--spawn-rate", str(max(users, 1)), "BenchUser"]
    return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        return data
    except (OSError, ValueError):
        return None


def _master_failure(spec: BenchSpec, out: Path, tail: list[str]) -> None:
    """Raise one line for a master that could not listen, or whose workers did not all come."""
    for line in reversed(tail):  # the exception's message, after the source line
        if "Socket bind failure:" in line:
            reason = line.split("Socket bind failure:", 1)[1].strip()
            raise ConfigError(
                f"the master cannot listen on {spec.master_bind_host}:{spec.master_port} "
                f"({reason}): choose another --master-port or --master-bind-host"
            )
    if any("Gave up waiting for workers" in line for line in tail):
        _too_few_workers(spec, out)


def _too_few_workers(spec: BenchSpec, out: Path) -> None:
    """Raise :class:`ConfigError` naming the workers that came when fewer than expected did."""
    listed = _read(roster_path(out)) or {}
    came = [str(w) for w in listed.get("connected") or []]
    names = f" ({', '.join(came)})" if came else ""
    port = spec.master_port
    raise ConfigError(
        f"only {len(came)} of {spec.expect_workers} workers connected{names} within "
        f"--worker-wait {spec.worker_wait_s:g} s: start each one with `conformance bench "
        f"--worker --master-host <this machine> --master-port {port}` and check that "
        f"TCP port {port} is open to them"
    )


def _progress_line(data: dict[str, Any] | None, spec: BenchSpec, step: str) -> str:
    """One line: elapsed time, requests, TTFT p50 and throughput."""
    if data is not None and "elapsed_s" in data:
        p = data
    elif data is not None and "metrics" in data:
        m = data["metrics"]
        p = {
            "elapsed_s": data.get("duration_s", 0.0),
            "requests": m.get("requests", 0),
            "failures": m.get("failures", 0),
            "requests_per_s": m.get("requests_per_s", 0.0),
            "output_tokens_per_s": m.get("output_tokens_per_s", 0.0),
            "ttft_p50_ms": (m.get("ttft_ms") or {}).get("p50"),
        }
    else:
        return f"[{step}]   0.0s/{spec.duration_s:g}s  starting..."
    ttft = p.get("ttft_p50_ms")
    ttft_text = "-" if ttft is None else f"{ttft:.1f} ms"
    elapsed = float(p.get("elapsed_s") or 0.0)
    head = f"[{step}] {elapsed:5.1f}s/{spec.duration_s:g}s"
    if elapsed < spec.effective_warmup_s and not p.get("requests"):
        # nothing is counted yet: say why the figures are zero
        return f"{head}  warm-up ({p.get('warmup_requests', 0)} requests, not counted)"
    return (
        f"{head}  requests {p.get('requests', 0)} (failed {p.get('failures', 0)})"
        f"  TTFT p50 {ttft_text}  {float(p.get('requests_per_s') or 0.0):.1f} successful req/s"
        f"  {float(p.get('output_tokens_per_s') or 0.0):.0f} tok/s"
    )


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Ask the load process to finish (SIGTERM: Locust writes its results), then force it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
    process.wait(timeout=10)


def _redact(text: str, secrets: list[str]) -> str:
    return Scrubber(secrets).text(text)


def _run_step(
    spec: BenchSpec,
    base_url: str,
    root: str | None,
    load: float,
    step: str,
    progress: Progress | None,
    workdir: Path,
) -> dict[str, Any]:
    out = workdir / f"step-{step.replace('/', '-')}.json"
    log_path = workdir / f"locust-{step.replace('/', '-')}.log"
    if root is not None:
        try:
            _stats(root, reset=True)
        except (OSError, ValueError):
            raise ConfigError(
                "the embedded backend stopped answering (POST /stats/reset)"
            ) from None
    args = _locust_args(spec, base_url, load, out, embedded=root is not None)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    started = time.monotonic()
    deadline = started + _STARTUP_S + spec.duration_s + spec.drain_s + _HARD_MARGIN_S
    if spec.expect_workers:
        deadline += spec.worker_wait_s
    interrupted = False
    killed = False
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            last_shown = 0.0
            while process.poll() is None:
                time.sleep(0.25)
                now = time.monotonic()
                if now > deadline:
                    killed = True
                    _stop(process, spec.drain_s + 10)
                    break
                if progress is not None and now - last_shown >= 1.0:
                    last_shown = now
                    progress(_progress_line(_read(progress_path(out)), spec, step), False)
        except KeyboardInterrupt:
            interrupted = True
            _stop(process, spec.drain_s + 15)
        finally:
            # Locust's worker processes share the master's session: end any left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
    result = _read(out)
    if result is not None and result.get("snapshot"):
        result = result_from_snapshot(result)  # the load process did not finish its result
    secrets = [os.environ.get(spec.api_key_env or "", ""), *url_secrets(spec.base_url)]
    if result is None:
        tail = _redact(log_path.read_text("utf-8", "replace"), secrets).strip().splitlines()[-5:]
        if interrupted:
            raise BenchInterrupted(None)
        if spec.expect_workers:
            _master_failure(spec, out, tail)
        detail = " | ".join(line.strip() for line in tail) or "no output"
        raise ConfigError(f"the load run produced no result (exit {process.returncode}): {detail}")
    if interrupted or killed or not result.get("final", False):
        result["partial"] = True
        if interrupted:
            note = "interrupted"
        elif killed:
            note = "the load process overran its time limit and was stopped"
        else:
            note = "the load process ended without its final result: the last snapshot is used"
        result.setdefault("notes", []).append(note)
    if not result["metrics"]["requests"] and not result["metrics"]["warmup_requests"]:
        tail = _redact(log_path.read_text("utf-8", "replace"), secrets).strip().splitlines()[-3:]
        detail = " | ".join(line.strip() for line in tail) or "no output"
        raise ConfigError(f"the load run sent no request: {detail}")
    result.pop("final", None)
    if spec.notes:
        result.setdefault("notes", []).extend(spec.notes)
    result["load"]["workers"] = spec.processes
    if root is not None:
        try:
            apply_server_lateness(result, _stats(root))
        except (OSError, ValueError):
            result.setdefault("notes", []).append(
                "the embedded backend's /stats did not answer: its lateness is not subtracted"
            )
    if progress is not None:
        progress(_progress_line(result, spec, step), True)
    if interrupted:
        raise BenchInterrupted(result)
    return result


def run_bench(spec: BenchSpec, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run every step of the bench and return the result (the last step on top, all in ``steps``).

    Raises :class:`ConfigError` for bad settings, an unreachable target or a failed
    preflight (a refusal, no answer: see :mod:`conformance.loadgen.preflight`), and
    :class:`BenchInterrupted` (with the partial result) on Ctrl-C. Failures during the
    load are counted in the result, never raised; :mod:`conformance.loadgen.verdict`
    judges them.
    """
    spec.validate()
    loads: list[float] = [float(r) for r in spec.rates] or [float(u) for u in spec.users] or [8.0]
    steps: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp,
        _target(spec) as (
            base_url,
            root,
        ),
    ):
        for note in spec.notes:
            if progress is not None:
                progress(f"conformance: {note}", True)
        for i, load in enumerate(loads, 1):
            label = f"{i}/{len(loads)} " + (
                f"{load:g} req/s" if spec.open_loop else f"{int(load)} users"
            )
            try:
                steps.append(_run_step(spec, base_url, root, load, label, progress, Path(tmp)))
            except BenchInterrupted as exc:
                if exc.result is not None:
                    steps.append(exc.result)
                combined = _combine(steps, spec.max_failure_rate) if steps else None
                raise BenchInterrupted(combined) from None
    return _combine(steps, spec.max_failure_rate)


def _combine(steps: list[dict[str, Any]], max_failure_rate: float) -> dict[str, Any]:
    """One result: the last step's fields on top, every step under ``steps`` for a sweep,
    each step and the whole judged (``verdict``)."""
    top = dict(steps[-1])
    top["partial"] = any(s.get("partial") for s in steps)
    if len(steps) > 1:
        top["steps"] = steps
        top["duration_s"] = round(sum(float(s.get("duration_s", 0.0)) for s in steps), 3)
        top["started_at"] = steps[0].get("started_at")
    judge(top, max_failure_rate)
    return top
