"""The engine: send the probes the selected checks need, then judge the exchanges.

::

    from conformance.engine import RunConfig, run_checks
    from conformance.providers import get_provider

    run = run_checks(RunConfig(provider=get_provider("openai", base_url=URL), api_key=KEY))
    run.write_json("check.json", secrets=[KEY])

A run is two pure steps around one I/O step: select checks (and from them the probes),
:func:`collect` the probes' exchanges (concurrently, within ``max_requests``, giving up on
a hung target after one timeout), :func:`evaluate` every check. ``conformance record``
uses :func:`collect_exchanges` alone; replay passes a ``sender`` that serves cassettes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conformance.checks import PROBES, CheckSpec, ProbeSpec, load_families, select_checks
from conformance.engine._build import build_request, key_for
from conformance.engine._collect import (
    Collected,
    Sender,
    TargetMisconfigured,
    TargetUnreachable,
    collect,
    plan,
)
from conformance.engine._evaluate import evaluate, evaluate_one, guard_failures
from conformance.providers.base import Provider
from conformance.results import DEFAULT_MIN_COVERAGE, CheckResult, CheckRun
from conformance.wire.exchange import Exchange

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_TIMEOUT",
    "Collected",
    "Progress",
    "RunConfig",
    "Sender",
    "TargetMisconfigured",
    "TargetUnreachable",
    "arun_checks",
    "build_request",
    "collect",
    "collect_exchanges",
    "evaluate",
    "evaluate_one",
    "key_for",
    "plan",
    "probes_for",
    "run_checks",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_REQUESTS = 100
DEFAULT_CONCURRENCY = 4


class Progress:
    """Receives progress notices; the default does nothing (the CLI draws a bar)."""

    def planned(self, requests: int, checks: int) -> None:
        """The run will send at most ``requests`` and judge ``checks`` (called again with a
        larger ``requests`` when a wave of probes built from earlier answers is planned)."""

    def exchanged(self, exchange: Exchange) -> None:
        """One request completed (or failed at the transport level)."""

    def judged(self, result: CheckResult) -> None:
        """One check has its verdict."""


@dataclass(slots=True)
class RunConfig:
    """One run against one target."""

    provider: Provider
    api_key: str | None = field(default=None, repr=False)
    #: seconds a single request may take (connect, between bytes and in all)
    timeout: float = DEFAULT_TIMEOUT
    #: requests the run may send at most (``None``: no limit)
    max_requests: int | None = DEFAULT_MAX_REQUESTS
    concurrency: int = DEFAULT_CONCURRENCY
    #: comma-separated glob patterns of check ids (``--only``)
    only: str | Sequence[str] | None = None
    #: seeds the probes' random generators (generated requests are reproducible)
    seed: int = 0
    #: ``live``, ``embedded`` or ``replay``: recorded in the result file
    mode: str = "live"
    #: sends requests; default: a :class:`~conformance.wire.client.WireClient`
    sender: Sender | None = None
    #: facts added to the result file's ``target`` object
    facts: dict[str, Any] = field(default_factory=dict)
    #: the share of applicable checks the run must judge to pass (``--min-coverage``)
    min_coverage: float = DEFAULT_MIN_COVERAGE
    #: follow redirects (each hop counts against ``max_requests``); by default a 3xx
    #: answer is judged as it is (``robustness.no_redirect``)
    follow_redirects: bool = False
    #: every OpenAI-compatibility failure fails the run, not only those that break the
    #: official SDK (``--strict-openai``)
    strict_openai: bool = False


def probes_for(checks: Iterable[CheckSpec]) -> list[ProbeSpec]:
    """The registered probes that ``checks`` declare, and the probes those are built
    from (``@probe(after=...)``); unknown names raise ``KeyError``."""
    names: dict[str, None] = {}
    for spec in checks:
        for name in spec.probes:
            if name not in PROBES:
                raise KeyError(f"check {spec.id!r} declares unknown probe {name!r}")
            while name not in names:
                names[name] = None
                parent = PROBES[name].after
                if parent is None:
                    break
                if parent not in PROBES:
                    raise KeyError(f"probe {name!r} is built from unknown probe {parent!r}")
                name = parent
    return [PROBES[name] for name in names]


def _default_sender(config: RunConfig) -> Sender:
    from conformance.wire.client import WireClient

    secrets = (config.api_key,) if config.api_key else ()
    client: Sender = WireClient(
        timeout=config.timeout,
        secrets=secrets,
        max_requests=config.max_requests,
        follow_redirects=config.follow_redirects,
    )
    return client


async def _close(sender: Sender) -> None:
    closer: Callable[[], Any] | None = getattr(sender, "aclose", None)
    if closer is not None:
        result = closer()
        if asyncio.iscoroutine(result):
            await result


async def collect_exchanges(
    config: RunConfig,
    checks: Sequence[CheckSpec] | None = None,
    *,
    progress: Progress | None = None,
) -> Collected:
    """Send the probes of ``checks`` (default: the selected ones) and return the exchanges."""
    load_families()
    if checks is None:
        checks = select_checks(dialect=config.provider.dialect, only=config.only)
    owned = config.sender is None
    sender = config.sender or _default_sender(config)
    prog = progress or Progress()
    try:
        return await collect(
            config.provider,
            probes_for(checks),
            sender,
            api_key=config.api_key,
            max_requests=config.max_requests,
            concurrency=config.concurrency,
            seed=config.seed,
            preflight=config.mode != "replay",
            key_variable=config.facts.get("api_key_env"),
            on_planned=lambda n: prog.planned(n, len(checks)),
            on_exchange=prog.exchanged,
            timeout_hint=config.timeout,
            rate_limit_retries=0 if config.mode == "replay" else 2,
        )
    finally:
        if owned:
            await _close(sender)


async def arun_checks(config: RunConfig, *, progress: Progress | None = None) -> CheckRun:
    """Run the selected checks against the target (see :func:`run_checks`)."""
    load_families()
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    checks = select_checks(dialect=config.provider.dialect, only=config.only)
    prog = progress or Progress()
    collected = await collect_exchanges(config, checks, progress=prog)
    results: list[CheckResult] = []
    for spec in checks:
        result = evaluate_one(spec, config.provider, collected)
        prog.judged(result)
        results.append(result)
    for result in guard_failures(checks, config.provider, collected):
        prog.judged(result)
        results.append(result)
    target: dict[str, Any] = {
        "mode": config.mode,
        "dialect": config.provider.dialect.value,
        "timeout_s": config.timeout,
        "max_requests": config.max_requests,
        "follow_redirects": config.follow_redirects,
        "requests_sent": collected.requests_sent,
        "hung_on_probe": collected.hung_on,
        "probes": sorted(collected.exchanges),
        "probes_not_sent": dict(sorted(collected.unavailable.items())),
        "refused_capabilities": dict(sorted(collected.refused.items())),
        "notes": list(collected.notes),
        "only": config.only if isinstance(config.only, str | None) else ",".join(config.only),
    }
    target.update(config.facts)
    return CheckRun(
        provider=config.provider.name,
        base_url=config.provider.base_url,
        model=config.provider.model,
        checks=results,
        started_at=started_at,
        duration_s=time.perf_counter() - t0,
        target=target,
        min_coverage=config.min_coverage,
        strict_openai=config.strict_openai,
    )


def run_checks(config: RunConfig, *, progress: Progress | None = None) -> CheckRun:
    """Run the selected checks against the target and return every verdict.

    Raises :class:`TargetUnreachable` (a :class:`~conformance.errors.ConfigError`) when
    the first request cannot connect, and :class:`TargetMisconfigured` when the plain
    first request is answered 401/403/404/405 (a wrong key, base URL or model): in both
    cases nothing else is sent. Never hangs: every request is bounded by
    ``config.timeout`` and a hung target stops the sending of further probes.
    """
    return asyncio.run(arun_checks(config, progress=progress))
