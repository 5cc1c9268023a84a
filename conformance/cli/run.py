"""``conformance run``: the main job — check, bench and report in one go.

Each step runs the same subcommand a user would run by hand (``check``, ``bench``), in a
process of its own, writing its result JSON into ``reports/<timestamp>/``; the report is
then rendered from those files only. With no target, every profile the embedded backend
speaks is checked, and the embedded backend is benchmarked (a short closed-loop sweep,
streamed, plus the Wetrocloud dialect), so a fresh clone shows a full report with no key.

Exit codes: 0 every check passed and every bench passed (each of its steps measured
successful requests, with at most ``--max-failure-rate`` failed); 1 a check failed, or a
bench failed or did not complete (the report is still written, and says which); 2 bad
usage, an unreachable target, or a step that could not run (its one line says what to
fix); 130 interrupted (Ctrl-C: the step under way writes what it measured, later steps
are not started, and the report is written from the results there are).

Besides the result files, ``run.json`` (the manifest) carries the verdict of every step:
``{"verdict": {"status": "passed" | "failed" | "interrupted", "exit_code": n, "checks":
{"openai": "passed", ...}, "benches": {"openai": {"status": ..., "reason": ...}}}}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from conformance.errors import ConfigError
from conformance.loadgen.verdict import DEFAULT_MAX_FAILURE_RATE

__all__ = ["command", "embedded_profiles"]


def embedded_profiles() -> list[str]:
    """The profiles checked when no target is given: every registered one, in registry
    order. Each names the path prefix the embedded backend serves it under
    (``embedded_prefix``; tests/test_embedded_profiles.py keeps the backend in step), so
    a new provider is one module and one line in ``PROVIDERS``, not a line here too."""
    from conformance.providers import PROVIDERS

    return list(PROVIDERS)


#: the closed-loop sweep when neither --users nor --rate is given
DEFAULT_USERS = "1,8,32"


@dataclass
class _Outcome:
    """What the steps ended with: each check's and each bench's exit code, by provider."""

    checks: dict[str, int] = field(default_factory=dict)
    benches: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    """What the run will do, decided from the options before anything starts."""

    out: Path
    check_providers: list[str]
    bench_runs: list[tuple[str, list[str]]] = field(default_factory=list)
    common: list[str] = field(default_factory=list)


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


#: seconds an interrupted step may take to write its partial result
_GRACE_S = 30.0


class _Interrupted(Exception):
    """Ctrl-C during a step; the step was given time to write what it had."""


def _sub(args: list[str]) -> int:
    """Run one ``conformance`` subcommand in a process of its own; its output is the user's.

    Ctrl-C reaches the step too (same process group): it is given :data:`_GRACE_S` to
    write its partial result, then :class:`_Interrupted` is raised.
    """
    command = [sys.executable, "-m", "conformance", *args]
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        try:
            process.wait(timeout=_GRACE_S)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        raise _Interrupted() from None


def _plan(
    *,
    providers: tuple[str, ...],
    base_url: str | None,
    model: str | None,
    api_key_env: str | None,
    out: Path | None,
    users: str | None,
    rate: str | None,
    duration: float,
    bench: bool,
    max_failure_rate: float,
) -> _Plan:
    from conformance.cli._options import number_list
    from conformance.engine.target import resolve_target

    # unknown provider, malformed --base-url or --model, a key variable that is malformed,
    # named but unset, or holds an unusable key: exit 2 before any step runs
    targets = [
        resolve_target(
            name, base_url=base_url, model=model, api_key_env=api_key_env, key_in_every_mode=True
        )
        for name in providers or embedded_profiles()
    ]
    if base_url is not None and len(providers) != 1:
        raise ConfigError("--base-url needs exactly one --provider, e.g. --provider openai")
    if not 0 < duration < float("inf") or duration != int(duration):
        raise ConfigError("--duration must be a positive whole number of seconds, e.g. 8")
    if users is not None and rate is not None:
        raise ConfigError("give either --users (closed loop) or --rate (open loop), not both")
    if any(u < 1 for u in number_list(users, "--users", int)):
        raise ConfigError("--users must be whole numbers >= 1, e.g. --users 8 or 1,8,32")
    if any(not r > 0 for r in number_list(rate, "--rate", float)):
        raise ConfigError("--rate must be > 0 requests/s, e.g. --rate 10 or 5,10,20")
    if not 0 <= max_failure_rate <= 1:
        raise ConfigError("--max-failure-rate must be between 0 and 1, e.g. 0.01")
    chosen = list(providers) or embedded_profiles()
    directory = out if out is not None else Path("reports") / _timestamp()
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out {str(directory)!r} is a file: give a new or empty directory")
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"{directory} already holds files: give an empty or new --out")
    if base_url is not None:
        from conformance.loadgen.runner import check_reachable

        check_reachable(base_url)  # one line here, rather than one per step
        found = targets[0].discover()
        model = found.model  # discovered once, passed to every step as --model
        if found.note:
            click.echo(f"conformance: {found.note}", err=True)

    common: list[str] = []
    if base_url is not None:
        common += ["--base-url", base_url]
    if model is not None:
        common += ["--model", model]
    if api_key_env is not None:
        common += ["--api-key-env", api_key_env]
    plan = _Plan(out=directory, check_providers=chosen, common=common)
    if not bench:
        return plan
    load = ["--rate", rate] if rate is not None else ["--users", users or DEFAULT_USERS]
    judged = ["--max-failure-rate", f"{max_failure_rate:g}"]
    step = ["--duration", f"{duration:g}", *load, *judged]
    streaming = [
        p for p, t in zip(chosen, targets, strict=True) if t.profile.capabilities.streaming
    ]
    # one streamed bench (the first streaming profile), plus one for a dialect that does not
    # stream, so the report shows both shapes without multiplying the run time
    if streaming:
        plan.bench_runs.append((streaming[0], [*step, "--stream"]))
    plain = [p for p in chosen if p not in streaming]
    if plain:
        plan.bench_runs.append((plain[0], ["--duration", f"{duration:g}", "--users", "8", *judged]))
    return plan


@click.command(name="run")
@click.option(
    "--provider",
    "providers",
    multiple=True,
    help="Profile to check (repeatable). Default: every profile the embedded backend speaks.",
)
@click.option("--base-url", default=None, help="The target's base URL. Default: embedded.")
@click.option("--model", default=None, help="Model to ask for (default: the profile's).")
@click.option("--api-key-env", default=None, metavar="VAR", help="Variable holding the key.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds one check request may take.",
)
@click.option(
    "--users",
    default=None,
    help="Closed-loop users for the bench, or a sweep [default: 1,8,32].",
)
@click.option("--rate", default=None, help="Open-loop requests/s (or a sweep) instead of users.")
@click.option(
    "--duration", type=float, default=8.0, show_default=True, help="Seconds per bench step."
)
@click.option(
    "--fail-on",
    type=click.Choice(["sdk", "client", "cosmetic"]),
    default="cosmetic",
    show_default=True,
    help="Exit 1 only for check failures of this severity or worse.",
)
@click.option(
    "--strict-openai",
    is_flag=True,
    help="Fail the check steps on every OpenAI-compatibility finding, not only on those "
    "that break the official SDK (as 'check --strict-openai').",
)
@click.option("--bench/--no-bench", default=True, show_default=True, help="Run the benchmark.")
@click.option(
    "--max-failure-rate",
    type=float,
    default=DEFAULT_MAX_FAILURE_RATE,
    show_default=True,
    help="A bench step fails (exit 1) above this share of failed requests, or with none "
    "successful.",
)
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Earlier result JSON to compare against (repeatable).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Report directory [default: reports/<timestamp>].",
)
def command(
    providers: tuple[str, ...],
    base_url: str | None,
    model: str | None,
    api_key_env: str | None,
    timeout: float,
    users: str | None,
    rate: str | None,
    duration: float,
    fail_on: str,
    strict_openai: bool,
    bench: bool,
    max_failure_rate: float,
    baselines: tuple[Path, ...],
    out: Path | None,
) -> None:
    """The main job: check, bench and report into reports/<timestamp>/.

    With no target, runs against the embedded reference backend for every profile it
    speaks: no key and no network needed.
    """
    from conformance.report import load_result, write_reports

    plan = _plan(
        providers=providers,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        out=out,
        users=users,
        rate=rate,
        duration=duration,
        bench=bench,
        max_failure_rate=max_failure_rate,
    )
    baseline_docs = [load_result(path) for path in baselines]
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--out {str(plan.out)!r}: cannot create it ({exc.strerror or exc})"
        ) from None
    started = time.monotonic()
    interrupted = False
    outcome = _Outcome()
    try:
        _steps(plan, timeout, fail_on, outcome, strict_openai=strict_openai)
    except _Interrupted:
        interrupted = True
    # what the steps wrote (an interrupted bench writes its partial result)
    result_files = [p for p in _expected_files(plan) if p.exists()]
    if interrupted and not result_files:
        with contextlib.suppress(OSError):
            plan.out.rmdir()  # only when empty: nothing of the user's is removed
        click.echo("conformance: interrupted before any step wrote a result", err=True)
        sys.exit(130)
    if not result_files:
        raise ConfigError("no step produced a result; nothing to report")
    documents = [load_result(path) for path in result_files]
    reports = write_reports(
        documents, baseline_docs or None, plan.out / "index.html", plan.out / "summary.md"
    )
    check_failed = any(code != 0 for code in outcome.checks.values())
    benches = _bench_verdicts(plan, outcome)
    bench_failed = any(v["status"] != "passed" for v in benches.values())
    code = 130 if interrupted else 1 if check_failed or bench_failed else 0
    elapsed = time.monotonic() - started
    verdict = "checks failed" if check_failed else "all checks passed"
    if bench_failed:
        name, failed = next((n, v) for n, v in benches.items() if v["status"] != "passed")
        verdict += f"; bench {name} failed: {failed['reason']}"
    elif benches:
        verdict += "; every bench passed"
    if interrupted:
        verdict = "interrupted: the report holds the steps that ran"
    if reports.regressed:
        verdict += "; regressions against the baseline"
    _write_manifest(plan, result_files, started, outcome, benches, code)
    click.echo(f"{verdict} ({elapsed:.0f} s)")
    click.echo(f"report: {(plan.out / 'index.html').resolve()}")
    click.echo(f"summary: {(plan.out / 'summary.md').resolve()}")
    sys.exit(code)


def _expected_files(plan: _Plan) -> list[Path]:
    """Every result file the plan's steps write, in step order."""
    files = [plan.out / f"check-{name}.json" for name in plan.check_providers]
    return files + [plan.out / f"bench-{name}.json" for name, _ in plan.bench_runs]


def _steps(
    plan: _Plan, timeout: float, fail_on: str, outcome: _Outcome, *, strict_openai: bool = False
) -> None:
    """Run every check and bench step, noting each exit code in ``outcome``."""
    total = len(plan.check_providers) + len(plan.bench_runs)
    index = 0
    for name in plan.check_providers:
        index += 1
        click.secho(f"[{index}/{total}] check {name}", bold=True, err=True)
        path = plan.out / f"check-{name}.json"
        code = _sub(
            [
                "check",
                "--provider",
                name,
                *plan.common,
                "--timeout",
                f"{timeout:g}",
                "--fail-on",
                fail_on,
                *(["--strict-openai"] if strict_openai else []),
                "--json",
                str(path),
                "--junit",
                str(plan.out / f"junit-{name}.xml"),
            ]
        )
        if code == 2:
            raise ConfigError(f"check of {name} could not run (see the line above)")
        outcome.checks[name] = code

    for name, args in plan.bench_runs:
        index += 1
        click.secho(f"[{index}/{total}] bench {name}", bold=True, err=True)
        path = plan.out / f"bench-{name}.json"
        code = _sub(["bench", "--provider", name, *plan.common, *args, "--json", str(path)])
        if code == 2:
            raise ConfigError(f"bench of {name} could not run (see the line above)")
        outcome.benches[name] = code


def _bench_verdicts(plan: _Plan, outcome: _Outcome) -> dict[str, dict[str, Any]]:
    """Each bench's verdict: from its result file, else from how its step ended."""
    verdicts: dict[str, dict[str, Any]] = {}
    for name, _ in plan.bench_runs:
        if name not in outcome.benches:
            continue  # not started (interrupted before it)
        code = outcome.benches[name]
        path = plan.out / f"bench-{name}.json"
        verdict: dict[str, Any] | None = None
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            found = json.loads(path.read_bytes()).get("verdict")
            if isinstance(found, dict) and found.get("status") in ("passed", "failed"):
                verdict = {"status": found["status"], "reason": found.get("reason")}
        if code == 130:
            verdict = {"status": "interrupted", "reason": "interrupted"}
        elif verdict is None or (code != 0 and verdict["status"] == "passed"):
            # no result, or a step that ended badly after writing one: never a pass
            verdict = {"status": "failed", "reason": f"the bench step ended with exit {code}"}
        verdicts[name] = verdict
    return verdicts


def _write_manifest(
    plan: _Plan,
    files: list[Path],
    started: float,
    outcome: _Outcome,
    benches: dict[str, dict[str, Any]],
    code: int,
) -> None:
    """A small index of what the run produced and how each step ended, for scripts."""
    status = {0: "passed", 1: "failed", 130: "interrupted"}.get(code, "failed")
    manifest: dict[str, Any] = {
        "version": 1,
        "kind": "run",
        "results": [f.name for f in files],
        "html": "index.html",
        "markdown": "summary.md",
        "duration_s": round(time.monotonic() - started, 3),
        "cwd_relative": os.path.relpath(plan.out),
        "verdict": {
            "status": status,
            "exit_code": code,
            "checks": {
                name: "passed" if c == 0 else "failed" for name, c in outcome.checks.items()
            },
            "benches": benches,
        },
    }
    (plan.out / "run.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
