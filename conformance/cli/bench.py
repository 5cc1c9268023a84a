"""``conformance bench``: put a target under load with Locust and write the bench result.

With no ``--base-url`` the embedded reference backend runs (in a process of its own) with
known timing (``--ttft-ms``, ``--itl-ms``), and the result carries the harness's own
measurement error in its ``calibration`` block. Locust always runs in a process of its
own, so this process never imports gevent.

Exit codes: 0 every step measured successful requests and at most ``--max-failure-rate``
(default 1 %) of its requests failed; 1 a step had no successful request, or more
failures than that, or a worker of ``--expect-workers`` was lost during the run (the
result is written, with its ``verdict``, naming the worker); 2 bad arguments, an
unreachable target, or a preflight request that got no usable answer or a non-2xx one
(one line that says what to fix; no load is sent), a master whose workers did not all
come within ``--worker-wait``, or a worker its master did not accept; 130 interrupted
(what was measured is still written, marked partial). A worker (``--worker``) exits 0
once its master has its last results, 1 when the run ended before it sent them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click

from conformance.cli._options import check_output_path, number_list
from conformance.errors import ConfigError
from conformance.loadgen.verdict import DEFAULT_MAX_FAILURE_RATE


def _summary(result: dict[str, Any]) -> str:
    """One line: what succeeded and failed, successful throughput, latency."""
    from conformance.loadgen.verdict import failure_kinds_text

    m = result["metrics"]
    ttft = m["ttft_ms"].get("p50")
    itl = m["itl_ms"].get("p50")
    requests, failures = m["requests"], m["failures"]
    counts = f"{requests} requests: {requests - failures} succeeded, {failures} failed"
    if requests:
        counts += f" ({failures / requests:.1%})"
    kinds = failure_kinds_text(result.get("errors") or {})
    if kinds:
        counts += f" [{kinds}]"
    parts = [
        counts,
        f"{m['requests_per_s']:.2f} successful req/s",
        f"{m.get('failed_requests_per_s', 0.0):.2f} failed req/s",
        f"{m['output_tokens_per_s']:.1f} output tok/s",
    ]
    if ttft is not None:
        parts.append(f"TTFT p50 {ttft:.2f} ms")
    if itl is not None:
        parts.append(f"ITL p50 {itl:.2f} ms")
    if "schedule_delay_ms" in m and m["schedule_delay_ms"].get("p99") is not None:
        parts.append(f"schedule delay p99 {m['schedule_delay_ms']['p99']:.2f} ms")
    cal = result.get("calibration")
    if cal and cal["ttft_error_ms"].get("p50") is not None:
        parts.append(
            f"harness error TTFT p50 {cal['ttft_error_ms']['p50']:+.2f} ms, "
            f"ITL p50 {cal['itl_error_ms']['p50']:+.2f} ms"
        )
    return "; ".join(parts)


class _Progress:
    """A live progress line on stderr (rewritten in place on a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._last_len = 0
        self._count = 0

    def __call__(self, line: str, done: bool) -> None:
        if self.tty:
            pad = " " * max(0, self._last_len - len(line))
            sys.stderr.write("\r" + line + pad + ("\n" if done else ""))
            sys.stderr.flush()
            self._last_len = 0 if done else len(line)
        else:
            self._count += 1
            if done or self._count % 5 == 0:
                click.echo(line, err=True)


@click.command("bench")
@click.option("--provider", default="openai", show_default=True, help="Provider profile.")
@click.option(
    "--base-url", default=None, help="The API's base URL (default: the embedded backend)."
)
@click.option("--model", default=None, help="Model name (default: the profile's first).")
@click.option(
    "--api-key-env", default=None, metavar="VAR", help="Environment variable holding the API key."
)
@click.option(
    "--users",
    "users_text",
    default=None,
    help="Closed loop: users, or a sweep 1,8,32 [default: 8].",
)
@click.option(
    "--rate", "rate_text", default=None, help="Open loop: requests/s, or a sweep 5,10,20."
)
@click.option(
    "--arrival",
    type=click.Choice(["constant", "poisson"]),
    default="constant",
    show_default=True,
    help="Open-loop arrivals.",
)
@click.option("--duration", type=float, default=30.0, show_default=True, help="Seconds per step.")
@click.option(
    "--warmup",
    type=float,
    default=None,
    help="Seconds left out at the start [default: min(2, duration/5)].",
)
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Streamed requests [default: when the profile streams].",
)
@click.option(
    "--stream-usage/--no-stream-usage",
    default=None,
    help="Ask streamed answers for a usage chunk (stream_options.include_usage) "
    "[default: only where the profile's document lists it].",
)
@click.option(
    "--max-tokens", type=int, default=64, show_default=True, help="max_tokens per request."
)
@click.option(
    "--prompt-tokens",
    default="128",
    show_default=True,
    help="Synthetic prompt length MEAN[:STDDEV].",
)
@click.option("--prompts", "prompts_file", default=None, help="JSON Lines file of conversations.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for prompts and arrivals."
)
@click.option("--workers", type=int, default=1, show_default=True, help="Locust worker processes.")
@click.option(
    "--max-in-flight",
    type=int,
    default=1024,
    show_default=True,
    help="Open-loop in-flight cap per worker.",
)
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds one request may take in all, and the longest silence; over it, a failure.",
)
@click.option(
    "--json", "json_path", default=None, metavar="PATH", help="Write the bench result here."
)
@click.option(
    "--html", "html_path", default=None, metavar="PATH", help="Write an HTML report here."
)
@click.option(
    "--max-failure-rate",
    type=float,
    default=DEFAULT_MAX_FAILURE_RATE,
    show_default=True,
    help="Exit 1 when more than this share of a step's requests failed (0..1); "
    "a step without any successful request always exits 1.",
)
@click.option("--ttft-ms", type=float, default=None, help="Embedded backend TTFT [default: 50].")
@click.option("--itl-ms", type=float, default=None, help="Embedded backend ITL [default: 10].")
@click.option(
    "--expect-workers",
    type=int,
    default=0,
    metavar="N",
    help="Run a master that waits for N workers started elsewhere with --worker.",
)
@click.option(
    "--master-bind-host",
    default="*",
    show_default=True,
    help="Master: the address workers connect to (* every interface).",
)
@click.option(
    "--master-port", type=int, default=5557, show_default=True, help="The master's TCP port."
)
@click.option(
    "--worker-wait",
    type=float,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Master: how long to wait for the workers; worker: for the master to accept it.",
)
@click.option(
    "--worker",
    "worker_mode",
    is_flag=True,
    default=False,
    help="Run one worker for the master at --master-host; the load comes from the master.",
)
@click.option("--master-host", default=None, help="Worker: the master's address.")
@click.pass_context
def command(
    ctx: click.Context,
    provider: str,
    base_url: str | None,
    model: str | None,
    api_key_env: str | None,
    users_text: str | None,
    rate_text: str | None,
    arrival: str,
    duration: float,
    warmup: float | None,
    stream: bool | None,
    stream_usage: bool | None,
    max_tokens: int,
    prompt_tokens: str,
    prompts_file: str | None,
    seed: int,
    workers: int,
    max_in_flight: int,
    timeout: float,
    json_path: str | None,
    html_path: str | None,
    max_failure_rate: float,
    ttft_ms: float | None,
    itl_ms: float | None,
    expect_workers: int,
    master_bind_host: str,
    master_port: int,
    worker_wait: float,
    worker_mode: bool,
    master_host: str | None,
) -> None:
    """Put a target under load and measure TTFT, ITL, TPOT, E2E and throughput.

    On several machines: one ``--expect-workers N --base-url URL`` master, N
    ``--worker --master-host HOST`` workers (each with the key in its own environment).
    """
    if worker_mode:
        _run_worker(ctx, master_host, master_port, worker_wait, json_path)
        return
    if master_host is not None:
        raise ConfigError("--master-host is a worker's option: add --worker")
    from conformance.loadgen.runner import BenchInterrupted, BenchSpec, run_bench

    if not 0 <= max_failure_rate <= 1:
        raise ConfigError("--max-failure-rate must be between 0 and 1, e.g. 0.01")
    if not timeout > 0 or max_in_flight < 1:
        raise ConfigError("--timeout must be > 0 and --max-in-flight >= 1")
    for option, number in (
        ("--duration", duration),
        ("--warmup", warmup),
        ("--timeout", timeout),
        ("--ttft-ms", ttft_ms),
        ("--itl-ms", itl_ms),
    ):
        if number is not None and not math.isfinite(number):
            raise ConfigError(f"{option} must be a finite number, got {number}")
    if duration > 0 and duration != int(duration):
        # Locust's --run-time takes whole seconds only
        raise ConfigError(
            f"--duration must be a whole number of seconds, e.g. 30, got {duration:g}"
        )
    spec = BenchSpec(
        provider=provider,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        users=number_list(users_text, "--users", int),
        rates=number_list(rate_text, "--rate", float),
        arrival=arrival,
        duration_s=duration,
        warmup_s=warmup,
        stream=stream,
        stream_usage=stream_usage,
        max_tokens=max_tokens,
        prompt_tokens=prompt_tokens,
        prompts_file=prompts_file,
        seed=seed,
        workers=workers,
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        max_in_flight=max_in_flight,
        timeout_s=timeout,
        max_failure_rate=max_failure_rate,
        expect_workers=expect_workers,
        master_bind_host=master_bind_host,
        master_port=master_port,
        worker_wait_s=worker_wait,
    )
    spec.validate()
    check_output_path("--json", None if json_path is None else Path(json_path))
    check_output_path("--html", None if html_path is None else Path(html_path))
    from conformance.engine.target import resolve_target

    # a named variable that is unset, or a key no header can carry: exit 2, nothing sent
    # (the load generator reads the variable itself, so it is checked in every mode)
    plan = resolve_target(
        provider, base_url=base_url, model=model, api_key_env=api_key_env, key_in_every_mode=True
    )
    if base_url is not None:
        from conformance.loadgen.runner import check_reachable

        check_reachable(base_url)  # an unreachable target: that one line, not the note too
        found = plan.discover()
        spec.model = found.model  # without --model: a listed model, said in one line
        if found.note:
            click.echo(f"conformance: {found.note}", err=True)
    interrupted = False
    try:
        result = run_bench(spec, progress=_Progress())
    except BenchInterrupted as exc:
        if exc.result is None:
            raise ConfigError("interrupted before anything was measured") from None
        result = exc.result
        interrupted = True
    from conformance.results import scrub

    # the key, and a password or ?api-key= written into --base-url, never reach the files
    result = scrub(result, list(plan.secrets))
    _write(result, json_path, html_path)
    prefix = "partial: " if result.get("partial") else ""
    for i, step in enumerate(result.get("steps") or [], 1):
        cut = "partial: " if step.get("partial") else ""
        click.echo(f"{cut}step {i}/{len(result['steps'])}: {_summary(step)}")
    if not result.get("steps"):
        click.echo(prefix + _summary(result))
    if interrupted:
        sys.exit(130)
    verdict = result["verdict"]
    if verdict["status"] != "passed":
        click.echo(f"conformance: bench failed: {verdict['reason']}", err=True)
        sys.exit(1)


#: the options a worker takes; every other one comes from its master
_WORKER_OPTIONS = {"worker_mode", "master_host", "master_port", "worker_wait", "json_path"}


def _run_worker(
    ctx: click.Context,
    master_host: str | None,
    master_port: int,
    worker_wait: float,
    json_path: str | None,
) -> None:
    """``--worker``: run one worker until its master's run ends; exit 1 unless it reported."""
    given = sorted(
        f"--{name.replace('_', '-')}"
        for name in ctx.params
        if name not in _WORKER_OPTIONS
        and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    )
    if given:
        raise ConfigError(
            f"a worker takes the load from its master: drop {', '.join(given)} "
            "(give them to the master, `conformance bench --expect-workers N`)"
        )
    if master_host is None:
        raise ConfigError("--worker needs --master-host, the master's address")
    check_output_path("--json", None if json_path is None else Path(json_path))
    from conformance.loadgen.remote import (
        WorkerInterrupted,
        WorkerSpec,
        run_worker,
        worker_summary,
    )

    spec = WorkerSpec(master_host, master_port, worker_wait, json_path)
    click.echo(
        f"conformance: worker waiting for the master at {master_host}:{master_port}", err=True
    )
    try:
        record = run_worker(spec)
    except WorkerInterrupted as exc:
        if exc.record is not None:
            click.echo("interrupted: " + worker_summary(exc.record))
        sys.exit(130)
    click.echo(worker_summary(record))
    if json_path is not None:
        click.echo(f"wrote {json_path}")
    if not record.get("final"):
        click.echo(
            "conformance: this worker's run ended before it sent its final results to the master",
            err=True,
        )
        sys.exit(1)


def _write(result: dict[str, Any], json_path: str | None, html_path: str | None) -> None:
    try:
        _write_files(result, json_path, html_path)
    except (OSError, ValueError) as exc:
        name = getattr(exc, "filename", None) or "the result"
        raise ConfigError(f"cannot write {name}: {getattr(exc, 'strerror', None) or exc}") from None


def _write_files(result: dict[str, Any], json_path: str | None, html_path: str | None) -> None:
    if json_path is not None:
        from conformance.loadgen.result import write_json_atomic

        write_json_atomic(json_path, result)
        click.echo(f"wrote {json_path}")
    if html_path is not None:
        from conformance.report import render_html

        target = Path(html_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html([result]), encoding="utf-8")
        click.echo(f"wrote {html_path}")
