"""Apply checks to collected exchanges and turn every outcome into a :class:`CheckResult`."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence

from conformance.checks.registry import CheckContext, CheckSpec, Outcome, Refused, Status
from conformance.engine._collect import Collected
from conformance.providers.base import Provider
from conformance.results import CheckResult

__all__ = ["evaluate", "evaluate_one"]

_TRACEBACK_FRAMES = 6


def evaluate_one(spec: CheckSpec, provider: Provider, collected: Collected) -> CheckResult:
    """Run one check; never raises (a crash in the check becomes status ``error``)."""
    started = time.perf_counter()
    result = CheckResult(
        id=spec.id,
        title=spec.title,
        severity=spec.severity,
        status=Status.PASSED,
        category=spec.category,
        description=spec.description,
        source=spec.source,
    )
    if spec.requires in collected.refused:
        result.status = Status.SKIPPED
        result.detail = f"not judged: {collected.refused[spec.requires]}"
        result.by_design = True
    elif spec.requires and not getattr(provider.capabilities, spec.requires):
        result.status = Status.SKIPPED
        result.detail = f"not documented by {provider.name}: {spec.requires}"
        result.by_design = True
    else:
        ctx = CheckContext(
            spec=spec,
            provider=provider,
            exchanges={name: tuple(exs) for name, exs in collected.exchanges.items()},
            unavailable=collected.unavailable,
            broken=collected.broken,
        )
        try:
            detail = spec.func(ctx)
            result.detail = detail if isinstance(detail, str) else ""
        except Outcome as outcome:
            status = outcome.status
            if spec.warn_only and status is Status.FAILED:
                status = Status.WARNED
            result.status = status
            result.detail = outcome.detail
            result.evidence = outcome.evidence
            if status is Status.SKIPPED:
                result.by_design = _skipped_by_design(spec, collected, outcome, ctx.refusals)
        except Exception as exc:
            result.status = Status.ERROR
            result.detail = f"the check itself crashed: {type(exc).__name__}: {exc}"
            frames = traceback.format_exception(exc)
            result.evidence = {"traceback": "".join(frames[-_TRACEBACK_FRAMES:])[-4000:]}
    result.duration_ms = (time.perf_counter() - started) * 1000.0
    return result


def _skipped_by_design(
    spec: CheckSpec, collected: Collected, outcome: Outcome, refusals: list[str]
) -> bool:
    """Whether a skip is the profile's or the target's choice, not missing evidence: the
    target refused the feature cleanly (the skip reports a refusal, possibly in the
    check's own words), or a probe the check reads was not sent because its capability
    is undocumented or refused (the skip then carries that probe's reason).
    """
    if isinstance(outcome, Refused) or any(r in outcome.detail for r in refusals):
        return True
    reasons = {
        collected.unavailable.get(name) for name in spec.probes if name in collected.by_design
    }
    return outcome.detail in reasons


def evaluate(
    specs: Sequence[CheckSpec], provider: Provider, collected: Collected
) -> list[CheckResult]:
    """Every check's verdict, in the order of ``specs``."""
    return [evaluate_one(spec, provider, collected) for spec in specs]
