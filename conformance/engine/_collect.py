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

from conformance.checks.registry import (
    ProbeContext,
    ProbeRequest,
    ProbeSpec,
    Refused,
    Skipped,
)
from conformance.engine._build import build_request, key_for
from conformance.engine._diagnose import TargetMisconfigured, diagnose
from conformance.errors import ConfigError
from conformance.providers.base import Adaptation, Provider, plain_params
from conformance.wire.exchange import HANG_KINDS, ErrorKind, Exchange

__all__ = [
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


def _gate(provider: Provider, spec: ProbeSpec, out: Collected) -> bool:
    """Whether ``spec`` may be sent to this target (else its reason is recorded)."""
    if not spec.applies_to(provider.dialect):
        out.unavailable[spec.name] = (
            f"not sent: probe {spec.name!r} does not apply to the {provider.dialect} dialect"
        )
        return False
    if spec.requires and not getattr(provider.capabilities, spec.requires):
        out.unavailable[spec.name] = (
            f"not documented by {provider.name}: {spec.requires} (probe {spec.name!r} not sent)"
        )
        out.by_design.add(spec.name)
        return False
    return True


def _admit(
    spec: ProbeSpec,
    requests: list[ProbeRequest],
    budget: int | None,
    out: Collected,
    max_requests: int | None,
    planned: list[_Planned],
) -> int | None:
    """Plan ``requests`` when they fit in ``budget`` (else record why the probe is not
    sent); returns the budget left."""
    if budget is not None and len(requests) > budget:
        out.unavailable[spec.name] = (
            f"not sent: beyond the --max-requests budget of {max_requests} "
            f"(probe {spec.name!r} needs {len(requests)} request(s))"
        )
        return budget
    planned.append(_Planned(spec, requests))
    return None if budget is None else budget - len(requests)


def _broken(spec: ProbeSpec, exc: Exception) -> str:
    return f"probe {spec.name!r} could not be built: {type(exc).__name__}: {exc}"


def plan(
    provider: Provider,
    probes: Sequence[ProbeSpec],
    *,
    max_requests: int | None,
    seed: int,
    out: Collected,
) -> list[_Planned]:
    """Build every independent probe's requests and cut what the budget does not allow
    (probes sent ``after`` another are planned wave by wave, by :func:`plan_dependants`;
    their ``reserve`` is kept for them here, in priority order)."""
    planned: list[_Planned] = []
    budget = max_requests
    for spec in sorted(probes, key=lambda s: (s.priority, s.name)):
        if not _gate(provider, spec, out):
            continue
        if spec.after is not None:
            # built later, from its parent's answer; its reservation counts now
            if budget is not None and spec.reserve:
                if spec.reserve > budget:
                    out.unavailable[spec.name] = (
                        f"not sent: beyond the --max-requests budget of {max_requests} "
                        f"(probe {spec.name!r} needs up to {spec.reserve} request(s))"
                    )
                else:
                    budget -= spec.reserve
            continue
        pctx = ProbeContext(provider=provider, random=random.Random(f"{seed}:{spec.name}"))
        try:
            requests = spec.build(pctx)
        except Exception as exc:
            out.broken[spec.name] = _broken(spec, exc)
            continue
        budget = _admit(spec, requests, budget, out, max_requests, planned)
    return planned


def _parent_failure(provider: Provider, exchanges: Sequence[Exchange]) -> tuple[str, bool]:
    """Why none of ``exchanges`` can be built on, and whether that is the target's choice
    (a clean 4xx refusal)."""
    for ex in exchanges:
        if ex.error is not None:
            return (f"{ex.error.kind.value}: {ex.error.message}", False)
    for ex in exchanges:
        if ex.status is not None and 400 <= ex.status < 500:
            message = provider.decode_error(ex.status, ex.body or b"").message
            why = f": {message[:200]}" if message else ""
            return (f"refused with HTTP {ex.status}{why}", True)
    status = exchanges[0].status if exchanges else None
    return (f"answered HTTP {status}" if exchanges else "no request was made", False)


def plan_dependants(
    provider: Provider,
    ready: Sequence[ProbeSpec],
    *,
    budget: int | None,
    max_requests: int | None,
    seed: int,
    out: Collected,
    hung_on: str | None,
) -> list[_Planned]:
    """Build the requests of probes whose parents have been answered (one wave).

    A dependant whose parent was not sent, could not be built, failed or was refused is
    not sent: its checks are skipped with the parent's reason (a skip by design when the
    parent's was, or when the target refused the parent cleanly). A builder that raises
    :class:`Skipped` (the parent's answer gives it nothing to build on) is not sent either.
    """
    planned: list[_Planned] = []
    for spec in sorted(ready, key=lambda s: (s.priority, s.name)):
        parent = spec.after
        assert parent is not None
        if spec.name in out.unavailable or not _gate(provider, spec, out):
            continue  # the first wave's planning cut it already
        built_on = f"not sent: probe {spec.name!r} is built from the answer of probe {parent!r}"
        if hung_on is not None:
            out.unavailable[spec.name] = (
                f"not judged: the target hung on probe {hung_on!r}, "
                "so the remaining probes were not sent"
            )
            continue
        if parent in out.broken:
            out.unavailable[spec.name] = f"{built_on}, which could not be built"
            continue
        if parent in out.unavailable:
            out.unavailable[spec.name] = (
                f"{built_on}, which was not made ({out.unavailable[parent]})"
            )
            if parent in out.by_design:
                out.by_design.add(spec.name)
            continue
        exchanges = out.exchanges.get(parent, [])
        good = [
            ex for ex in exchanges
            if ex.error is None and ex.status is not None and 200 <= ex.status < 300
        ]  # fmt: skip
        if not good:
            why, refused = _parent_failure(provider, exchanges)
            out.unavailable[spec.name] = f"{built_on}, which got no usable answer ({why})"
            if refused:
                out.by_design.add(spec.name)
            continue
        pctx = ProbeContext(provider=provider, random=random.Random(f"{seed}:{spec.name}"))
        try:
            requests = spec.build(pctx, good)
        except Skipped as exc:
            out.unavailable[spec.name] = exc.detail
            if isinstance(exc, Refused):
                out.by_design.add(spec.name)
            continue
        except Exception as exc:
            out.broken[spec.name] = _broken(spec, exc)
            continue
        budget = _admit(spec, requests, budget, out, max_requests, planned)
    return planned


def _waves(probes: Sequence[ProbeSpec], out: Collected) -> list[list[ProbeSpec]]:
    """The dependent probes in waves: each wave's parents are in an earlier wave (or are
    independent probes). A probe whose parent is not among ``probes``, or that depends on
    itself through others, is broken."""
    names = {spec.name for spec in probes}
    settled = {spec.name for spec in probes if spec.after is None}
    pending = [spec for spec in probes if spec.after is not None]
    waves: list[list[ProbeSpec]] = []
    while pending:
        ready = [spec for spec in pending if spec.after in settled]
        if not ready:
            for spec in pending:
                missing = spec.after not in names
                out.broken[spec.name] = (
                    f"probe {spec.name!r} is built from probe {spec.after!r}, which "
                    + ("is not among the probes to send" if missing else "depends on it in turn")
                )
            break
        waves.append(ready)
        settled.update(spec.name for spec in ready)
        pending = [spec for spec in pending if spec not in ready]
    return waves


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

    Independent probes go first; probes sent ``after`` another follow in dependency waves,
    each built from its parent's answer, within what is left of ``max_requests``.

    ``on_planned(n)`` is told how many requests will be sent at most (again, with the new
    total, when a wave of dependent probes adds requests), ``on_exchange`` is called after
    each one (for progress displays). A request answered 429 (rate limited) is sent again
    up to ``rate_limit_retries`` times, after its ``Retry-After`` (at most
    ``min(timeout_hint, 10)`` s); the retries count as requests sent. ``key_variable``
    names where the key came from, for the line of a :class:`TargetMisconfigured`.
    """
    out = Collected()
    waves = _waves(probes, out)
    planned = plan(provider, probes, max_requests=max_requests, seed=seed, out=out)
    jobs = [(item.spec, preq) for item in planned for preq in item.requests]
    total = len(jobs)
    if on_planned is not None:
        on_planned(total)
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
            "params": plain_params(preq.params),
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

    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def bounded(pos: int) -> None:
        async with semaphore:
            await run(pos)

    def settle() -> None:
        """File the wave's exchanges under their probes (and why any are missing)."""
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
            for name in {spec.name for spec, _ in jobs}:
                reasons = [r for r in map(why_unavailable, out.exchanges.get(name, ())) if r]
                if reasons:
                    del out.exchanges[name]
                    out.unavailable[name] = reasons[0]

    if jobs:
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
        await asyncio.gather(*(bounded(pos) for pos in range(1, len(jobs))))
        settle()

    spent = sum(len(item.requests) for item in planned)
    for wave in waves:
        used = max(spent, out.requests_sent)
        budget = None if max_requests is None else max(0, max_requests - used)
        refused = [spec for spec in wave if spec.requires in out.refused]
        for spec in refused:
            out.unavailable[spec.name] = (
                f"not sent: {out.refused[str(spec.requires)]} (probe {spec.name!r} needs "
                f"{spec.requires})"
            )
            out.by_design.add(spec.name)
        wave_planned = plan_dependants(
            provider,
            [spec for spec in wave if spec not in refused],
            budget=budget,
            max_requests=max_requests,
            seed=seed,
            out=out,
            hung_on=state.hung_on,
        )
        jobs = [(item.spec, preq) for item in wave_planned for preq in item.requests]
        if not jobs:
            continue
        spent += len(jobs)
        total += len(jobs)
        if on_planned is not None:
            on_planned(total)
        for item in wave_planned:
            out.exchanges[item.spec.name] = []
        results = [None] * len(jobs)
        await asyncio.gather(*(bounded(pos) for pos in range(len(jobs))))
        settle()
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
