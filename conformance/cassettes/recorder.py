"""Recording a target: send the suites' probes live and write every exchange as a cassette.

::

    from conformance.cassettes import record
    from conformance.providers import get_provider

    recording = record(get_provider("openai", base_url=URL), api_key=KEY, out=Path("fx"))

The probes are exactly those ``conformance check`` sends (same selection, seed and
budget), so replaying the cassettes answers every request of a later check run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from conformance._version import __version__
from conformance.cassettes._errors import CassetteError
from conformance.cassettes._format import Cassette
from conformance.cassettes._io import Recording, existing_cassettes, write_recording
from conformance.cassettes.redact import Redactor
from conformance.cassettes.senders import RecordingSender
from conformance.providers.base import Provider


async def arecord(
    provider: Provider,
    *,
    out: Path,
    api_key: str | None = None,
    force: bool = False,
    timeout: float = 30.0,
    max_requests: int | None = 100,
    only: str | Sequence[str] | None = None,
    seed: int = 0,
    secrets: Sequence[str] = (),
) -> Recording:
    """Record ``provider``'s target into ``out`` (see :func:`record`)."""
    from conformance.engine import RunConfig, collect_exchanges
    from conformance.wire.client import WireClient

    existing = existing_cassettes(out)
    if existing and not force:  # refuse before sending anything
        raise CassetteError(
            f"{out} already holds {len(existing)} cassette file(s); pass --force to overwrite them"
        )
    all_secrets = tuple(s for s in (api_key, *secrets) if s)
    sender = RecordingSender(WireClient(timeout=timeout, secrets=all_secrets), api_key=api_key)
    config = RunConfig(
        provider=provider,
        api_key=api_key,
        timeout=timeout,
        max_requests=max_requests,
        only=only,
        seed=seed,
        mode="record",
        sender=sender,
    )
    try:
        collected = await collect_exchanges(config)
    finally:
        await sender.aclose()
    cassettes = [
        Cassette(
            probe=probe,
            exchanges=exchanges,
            provider=provider.name,
            base_url=provider.base_url,
            model=provider.model,
        )
        for probe, exchanges in collected.exchanges.items()
        if exchanges
    ]
    return write_recording(
        out,
        cassettes,
        provider=provider.name,
        base_url=provider.base_url,
        model=provider.model,
        redactor=Redactor(all_secrets),
        force=force,
        extra={
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "harness_version": __version__,
            "seed": seed,
            "max_requests": max_requests,
            "requests": sum(len(c.exchanges) for c in cassettes),
            "probes_not_sent": dict(sorted(collected.unavailable.items())),
        },
    )


def record(
    provider: Provider,
    *,
    out: Path,
    api_key: str | None = None,
    force: bool = False,
    timeout: float = 30.0,
    max_requests: int | None = 100,
    only: str | Sequence[str] | None = None,
    seed: int = 0,
    secrets: Sequence[str] = (),
) -> Recording:
    """Send the suites' probes to ``provider``'s target and write them as cassettes.

    Every exchange is redacted (``api_key`` and ``secrets``) before it is written; a
    cassette in which a secret survived is refused rather than written. Raises
    :class:`CassetteError` (exit 2) when ``out`` already holds cassettes and ``force``
    is false, and :class:`conformance.engine.TargetUnreachable` when the target cannot
    be reached.
    """
    return asyncio.run(
        arecord(
            provider,
            out=out,
            api_key=api_key,
            force=force,
            timeout=timeout,
            max_requests=max_requests,
            only=only,
            seed=seed,
            secrets=secrets,
        )
    )
