"""Do the cassettes still hold every request ``check`` would send?

When the check families gain a probe, or a probe changes its request, replaying old
cassettes silently skips the checks that need it ("not in the replayed cassettes").
:func:`uncovered_requests` plans the requests a ``check --replay`` run would send (same
selection, seed and budget as the engine) and lists the ones no cassette answers, so CI
can say "record the fixtures again" instead of quietly judging less. A probe built from
an earlier answer (``@probe(after=...)``) is found by replaying its parent's recorded
answer, as ``check --replay`` does.

:func:`documented_coverage` states how many verdicts the documented examples of a
directory carry on their own: "23 of the 80 judged checks rest only on documented
examples".
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.cassettes._io import CassetteSet
from conformance.cassettes.replay import ReplayRouter
from conformance.cassettes.senders import REPLAY_API_KEY

if TYPE_CHECKING:
    from conformance.checks.registry import ProbeSpec
    from conformance.providers.base import Provider


@dataclass(frozen=True, slots=True)
class Uncovered:
    """A request the harness sends that no cassette answers."""

    probe: str
    label: str
    #: the request, as the miss message describes it
    request: str

    def line(self) -> str:
        label = f" ({self.label})" if self.label else ""
        return f"+ probe {self.probe}{label}: {self.request}"


def uncovered_requests(
    cassettes: CassetteSet,
    provider_name: str,
    *,
    max_requests: int | None = 100,
    seed: int = 0,
) -> list[Uncovered]:
    """The requests ``check --provider NAME --replay`` would send that no cassette holds.

    The profile is aimed at the base URL and model the cassettes were recorded with, as
    ``check --replay`` does.
    """
    from conformance.checks import load_families, select_checks
    from conformance.engine import Collected, build_request, plan, probes_for
    from conformance.providers import get_provider

    load_families()
    provider = get_provider(
        provider_name,
        base_url=cassettes.meta("base_url"),
        model=cassettes.meta("model"),
    )
    router = ReplayRouter(cassettes, base_url=provider.base_url, api_key=REPLAY_API_KEY)
    probes = probes_for(select_checks(dialect=provider.dialect))
    # the engine's own planning: same order, capabilities, seeds and budget as check
    planned = plan(provider, probes, max_requests=max_requests, seed=seed, out=Collected())
    missing: list[Uncovered] = []
    for item in planned:
        for preq in item.requests:
            key = router.key_of(build_request(provider, preq, REPLAY_API_KEY))
            if router.match(key) is None:
                missing.append(Uncovered(item.spec.name, preq.label, key.describe()))
    if any(spec.after is not None for spec in probes):
        missing += _uncovered_dependants(cassettes, provider, probes, max_requests, seed)
    return missing


def _uncovered_dependants(
    cassettes: CassetteSet,
    provider: Provider,
    probes: Sequence[ProbeSpec],
    max_requests: int | None,
    seed: int,
) -> list[Uncovered]:
    """The requests of probes built from earlier answers that no cassette holds.

    Their requests depend on the recorded parent answers, so they are found the way
    ``check --replay`` finds them: the engine replays the cassettes, wave by wave.
    """
    from conformance.cassettes.senders import ReplaySender
    from conformance.engine import collect

    sender = ReplaySender(cassettes, base_url=provider.base_url)
    run = collect(
        provider,
        probes,
        sender,
        api_key=REPLAY_API_KEY,
        max_requests=max_requests,
        seed=seed,
        preflight=False,
        rate_limit_retries=0,
    )
    asyncio.run(_closing(sender, run))
    return [
        Uncovered(spec.name, "", sender.missed[spec.name])
        for spec in probes
        if spec.after is not None and spec.name in sender.missed
    ]


async def _closing(sender: Any, run: Coroutine[Any, Any, object]) -> None:
    try:
        await run
    finally:
        await sender.aclose()


@dataclass(frozen=True, slots=True)
class DocumentedCoverage:
    """How much of a check run the documented examples of a directory judge on their own.

    ``judged`` checks are judged when the documented examples are replayed alone (no
    recording): those verdicts rest only on the provider's document. ``judged_with_all``
    is what the whole directory (recordings too) judges.
    """

    examples: int
    judged: int
    applicable: int
    by_design: int
    judged_with_all: int
    #: of the ``judged`` checks, those whose basis is the provider's document (the rest
    #: are OpenAI-compatibility findings or HTTP rules, judged on the same examples)
    on_document: int = 0

    def line(self, root: Path) -> str:
        return (
            f"{root}: {self.judged} of the {self.judged_with_all} judged checks rest only on "
            f"documented examples, {self.on_document} of them on the basis of the document "
            f"({self.examples} example(s); replayed alone they judge {self.judged} of "
            f"{self.applicable} applicable checks, {self.by_design} skipped by design; the "
            "rest need requests the document does not show)"
        )


def documented_coverage(cassettes: CassetteSet, provider_name: str) -> DocumentedCoverage | None:
    """Replay the documented examples among ``cassettes`` alone, then all of them, and say
    how many checks each judges (``None`` when there is no documented example)."""
    documented = [c for c in cassettes.cassettes if c.source == "documented"]
    if not documented:
        return None
    alone = _judged(CassetteSet(documented, cassettes.indexes), provider_name)
    recorded = len(documented) < len(cassettes.cassettes)
    everything = _judged(cassettes, provider_name) if recorded else alone
    return DocumentedCoverage(
        examples=sum(len(c.exchanges) for c in documented),
        judged=alone["judged"],
        applicable=alone["applicable"],
        by_design=alone["skipped_by_design"],
        judged_with_all=everything["judged"],
        on_document=alone["on_document"],
    )


def _judged(cassettes: CassetteSet, provider_name: str) -> dict[str, int]:
    """The coverage counts of ``check --replay`` over ``cassettes``."""
    from conformance.cassettes.senders import ReplaySender
    from conformance.engine import RunConfig, run_checks
    from conformance.providers import get_provider

    provider = get_provider(
        provider_name, base_url=cassettes.meta("base_url"), model=cassettes.meta("model")
    )
    sender = ReplaySender(cassettes, base_url=provider.base_url)
    run = run_checks(
        RunConfig(provider=provider, api_key=REPLAY_API_KEY, sender=sender, mode="replay")
    )
    coverage = run.coverage()
    counts = {k: int(coverage[k]) for k in ("judged", "applicable", "skipped_by_design")}
    counts["on_document"] = sum(
        1
        for result in run.checks
        if result.basis == "document" and result.status.value in ("passed", "failed", "warned")
    )
    return counts
