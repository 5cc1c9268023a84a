"""Send the probes a run needs, each once, within a request budget, never hanging.

Order and limits:

- probes are sent in ascending ``priority`` (then name); the first request goes alone, so
  an unreachable target is reported once, before anything else is sent;
- a probe whose requests do not fit in what remains of ``max_requests`` is not sent;
- a first request refused for a reason the profile can work around (a target that wants
  ``max_completion_tokens`` instead of ``max_tokens``) makes the profile adapt
  (:meth:`Provider.adapt_to_refusal`): probes that require the refused capability are
  dropped and the first request is sent again;
- the rest run concurrently (``concurrency`` requests at a time);
- as soon as one request times out, the target is considered hung: requests not yet sent
  are not sent, and their probes are marked "not judged: the target hung on probe X". A
  hanging target therefore costs about two timeouts, whatever the number of probes;
- with ``preflight`` (live and embedded runs, not replay), a first request that cannot
  connect raises :class:`TargetUnreachable`, and a plain first request answered
  401/403/404/405 raises :class:`TargetMisconfigured` (see :mod:`._diagnose`): nothing
  else is sent. A probe whose request is not the first is never diagnosed this way.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from conformance.checks.registry import HANG_KINDS, ProbeContext, ProbeRequest, ProbeSpec
from conformance.engine._build import build_request, key_for
from conformance.engine._diagnose import TargetMisconfigured, diagnose
from conformance.errors import ConfigError
from conformance.providers.base import Adaptation, Provider
from conformance.wire.exchange import ErrorKind, Exchange

__all__ = [
    "HANG_KINDS",
    "Collected",
    "Sender",
    "TargetMisconfigured",
    "TargetUnreachable",
    "collect",
]


class Sender(Protocol):
    """What sends one request and records the exchange (the wire client, or a replayer).

    A sender may also have ``unavailable(exchange) -> str | None``: a reason means the
    exchange could not really be made (a request no cassette holds) and the probe's
    checks are skipped with it.
    """

    async def asend(
        self, request: httpx.Request, *, probe: str, stream: bool, api_key: str | None
    ) -> Exchange: ...


def _rate_limit_pause(ex: Exchange, attempt: int, *, limit: float) -> float | None:
    """Seconds to wait before resending a request answered 429 (``None``: do not resend).

    ``Retry-After`` in seconds is honoured up to ``limit``; otherwise 1 s, then 2 s.
    """
    if ex.error is not None or ex.status != 429:
        return None
    header = ex.header("retry-after")
    try:
        wait = float(header) if header is not None else 2.0**attempt
    except ValueError:
        wait = 2.0**attempt
    return max(0.0, min(wait, limit))


def _unavailable(sender: Sender, ex: Exchange) -> str | None:
    """Why the sender could not produce ``ex`` (a replay miss), if it says so."""
    judge: Callable[[Exchange], str | None] | None = getattr(sender, "unavailable", None)
    return judge(ex) if judge is not None else None


class TargetUnreachable(ConfigError):
    """The first request could not even connect (refused, DNS, TLS)."""


@dataclass(slots=True)
class Collected:
    """The exchanges of a run, by probe, and why any probe has none."""

    exchanges: dict[str, list[Exchange]] = field(default_factory=dict)
    #: probe name -> why it was not sent (budget, capability, hang); checks are skipped
    unavailable: dict[str, str] = field(default_factory=dict)
    #: probe name -> why it could not be built (a bug in the probe); checks are errors
    broken: dict[str, str] = field(default_factory=dict)
    requests_sent: int = 0
    #: the probe whose request timed out first, if any
    hung_on: str | None = None
    #: capability -> why the target refuses it (the profile adapted; checks are skipped)
    refused: dict[str, str] = field(default_factory=dict)
    #: probes not sent by design: the profile does not document their capability, or
    #: the target refused it cleanly (their checks' skips do not count against coverage)
    by_design: set[str] = field(default_factory=set)
    #: what the first request's diagnosis showed without stopping the run
    notes: list[str] = field(default_factory=list)

    def all(self) -> list[Exchange]:
        return [ex for exs in self.exchanges.values() for ex in exs]


@dataclass(slots=True)
class _Planned:
    spec: ProbeSpec
    requests: list[ProbeRequest]


def plan(
    provider: Provider,
    probes: Sequence[ProbeSpec],
    *,
    max_requests: int | None,
    seed: int,
    out: Collected,
) -> list[_Planned]:
    """Build every probe's requests and cut what the budget does not allow."""
    planned: list[_Planned] = []
    budget = max_requests
    for spec in sorted(probes, key=lambda s: (s.priority, s.name)):
        if not spec.applies_to(provider.dialect):
            out.unavailable[spec.name] = (
                f"not sent: probe {spec.name!r} does not apply to the {provider.dialect} dialect"
            )
            continue
        if spec.requires and not getattr(provider.capabilities, spec.requires):
            out.unavailable[spec.name] = (
                f"not documented by {provider.name}: {spec.requires} (probe {spec.name!r} not sent)"
            )
            out.by_design.add(spec.name)
            continue
        pctx = ProbeContext(provider=provider, random=random.Random(f"{seed}:{spec.name}"))
        try:
            requests = spec.build(pctx)
        except Exception as exc:
            out.broken[spec.name] = (
                f"probe {spec.name!r} could not be built: {type(exc).__name__}: {exc}"
            )
            continue
        if budget is not None and len(requests) > budget:
            out.unavailable[spec.name] = (
                f"not sent: beyond the --max-requests budget of {max_requests} "
                f"(probe {spec.name!r} needs {len(requests)} request(s))"
            )
            continue
        if budget is not None:
            budget -= len(requests)
        planned.append(_Planned(spec, requests))
    return planned


async def collect(
    provider: Provider,
    probes: Sequence[ProbeSpec],
    sender: Sender,
    *,
    api_key: str | None,
    max_requests: int | None = 100,
    concurrency: int = 4,
    seed: int = 0,
    preflight: bool = True,
    key_variable: str | None = None,
    on_planned: Callable[[int], None] | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
    rate_limit_retries: int = 2,
    timeout_hint: float = 10.0,
) -> Collected:
    """Send ``probes`` to the target through ``sender`` and gather the exchanges.

    ``on_planned(n)`` is told how many requests will be sent at most, ``on_exchange`` is
    called after each one (for progress displays). A request answered 429 (rate limited)
    is sent again up to ``rate_limit_retries`` times, after its ``Retry-After`` (at most
    ``min(timeout_hint, 10)`` s); the retries count as requests sent. ``key_variable``
    names where the key came from, for the line of a :class:`TargetMisconfigured`.
    """
    out = Collected()
    planned = plan(provider, probes, max_requests=max_requests, seed=seed, out=out)
    jobs = [(item.spec, preq) for item in planned for preq in item.requests]
    if on_planned is not None:
        on_planned(len(jobs))
    if not jobs:
        return out
    for item in planned:
        out.exchanges[item.spec.name] = []
    results: list[Exchange | None] = [None] * len(jobs)
    state = _State()

    async def run(pos: int) -> None:
        spec, preq = jobs[pos]
        if state.hung_on is not None:
            return
        key = key_for(preq, api_key)
        ex = await sender.asend(
            build_request(provider, preq, api_key),
            probe=spec.name,
            stream=preq.streaming,
            api_key=key,
        )
        for attempt in range(rate_limit_retries):
            pause = _rate_limit_pause(ex, attempt, limit=min(timeout_hint, 10.0))
            if pause is None or state.hung_on is not None:
                break
            await asyncio.sleep(pause)
            out.requests_sent += 1
            retried = await sender.asend(
                build_request(provider, preq, api_key),
                probe=spec.name,
                stream=preq.streaming,
                api_key=key,
            )
            if retried.error is not None and retried.error.kind is ErrorKind.NOT_SENT:
                break  # the budget is spent: the 429 stands
            retried.meta["rate_limited_retries"] = attempt + 1
            ex = retried
        fields = {
            "label": preq.label,
            "messages": list(preq.messages),
            "params": dict(preq.params),
            "custom_body": preq.body is not None,
        }
        if ex.meta.get("stand_in"):
            # replay answered with a documented example's own request: its conversation
            # and parameters are the ones the answer belongs to
            fields = {k: v for k, v in fields.items() if k not in ex.meta}
        else:
            ex.meta.update(preq.meta)
        ex.meta.update(fields)
        missing = _unavailable(sender, ex)
        if missing is None and ex.error is not None and ex.error.kind is ErrorKind.NOT_SENT:
            missing = ex.error.message  # the sender's hard cap (redirect hops spent it)
        if missing is not None:
            out.unavailable.setdefault(spec.name, missing)
            return
        results[pos] = ex
        # followed redirect hops and a resend after a dropped connection were sent too
        hops = [hop for hop in ex.meta.get("redirects", ()) if hop.get("followed", True)]
        out.requests_sent += 1 + len(hops) + ("retried_after" in ex.meta)
        if on_exchange is not None:
            on_exchange(ex)
        if ex.error is not None and ex.error.kind in HANG_KINDS and state.hung_on is None:
            state.hung_on = spec.name

    await run(0)
    first = results[0]
    adaptation = _adapt(provider, first)
    if adaptation is not None:
        out.refused[adaptation.capability] = adaptation.reason
        for spec, _ in jobs:
            if spec.requires == adaptation.capability:
                out.unavailable[spec.name] = (
                    f"not sent: {adaptation.reason} (probe {spec.name!r} needs {spec.requires})"
                )
                out.by_design.add(spec.name)
                out.exchanges.pop(spec.name, None)
        jobs = [job for job in jobs if job[0].requires != adaptation.capability]
        results = [None] * len(jobs)
        if jobs:
            await run(0)
            first = results[0]
    if preflight and first is not None and jobs:
        await _preflight(provider, jobs[0][1], first, sender, out, api_key, key_variable)

    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def bounded(pos: int) -> None:
        async with semaphore:
            await run(pos)

    await asyncio.gather(*(bounded(pos) for pos in range(1, len(jobs))))

    for pos, (spec, _) in enumerate(jobs):
        ex = results[pos]
        if ex is not None:
            out.exchanges[spec.name].append(ex)
        elif spec.name in out.unavailable:
            continue
        elif state.hung_on is not None:
            out.unavailable[spec.name] = (
                f"not judged: the target hung on probe {state.hung_on!r}, "
                "so the remaining probes were not sent"
            )
    # A replaying sender (conformance.cassettes.ReplaySender) names the requests its
    # cassettes do not hold: their probes are not judged (skipped with that reason).
    why_unavailable = getattr(sender, "unavailable", None)
    if callable(why_unavailable):
        for name in list(out.exchanges):
            reasons = [r for r in map(why_unavailable, out.exchanges[name]) if r]
            if reasons:
                del out.exchanges[name]
                out.unavailable[name] = reasons[0]
    out.hung_on = state.hung_on
    return out


async def _preflight(
    provider: Provider,
    preq: ProbeRequest,
    first: Exchange,
    sender: Sender,
    out: Collected,
    api_key: str | None,
    key_variable: str | None,
) -> None:
    """Raise when the first request shows an unreachable or misconfigured target."""
    if first.error is not None and first.error.kind is ErrorKind.CONNECT:
        hint = "" if "--base-url" in first.error.message else " (check --base-url)"
        raise TargetUnreachable(f"cannot reach {provider.base_url}: {first.error.message}{hint}")

    async def send(request: httpx.Request) -> Exchange:
        out.requests_sent += 1
        return await sender.asend(request, probe="preflight", stream=False, api_key=api_key)

    problem = await diagnose(
        provider, preq, first, send, api_key=api_key, key_variable=key_variable, notes=out.notes
    )
    if problem is not None:
        raise TargetMisconfigured(problem)


def _adapt(provider: Provider, first: Exchange | None) -> Adaptation | None:
    """Let the profile adapt to the target's refusal of the first request, if it can."""
    if first is None or first.error is not None or first.status is None:
        return None
    if not 400 <= first.status < 500:
        return None
    return provider.adapt_to_refusal(first.status, first.body or b"")


@dataclass(slots=True)
class _State:
    hung_on: str | None = None
