"""Apply checks to collected exchanges and turn every outcome into a :class:`CheckResult`.

No outcome is lost to a skip: a check that crashes is ``error`` (a harness bug, exit 1),
one that runs out of stack or memory on the target's answer is ``failed`` with the
exchanges it read as evidence, and the failure of a transport guard
(:data:`conformance.checks.robustness.GUARDS`) is added to a run whose ``--only`` did not
select it (:func:`guard_failures`).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence

from conformance.checks.basis import resolve_basis
from conformance.checks.evidence import exchange_evidence
from conformance.checks.registry import (
    CHECKS,
    CheckContext,
    CheckSpec,
    Outcome,
    Refused,
    Status,
)
from conformance.engine._collect import Collected
from conformance.providers.base import Provider
from conformance.results import CheckResult

__all__ = ["evaluate", "evaluate_one", "guard_failures"]

_TRACEBACK_FRAMES = 6


def evaluate_one(spec: CheckSpec, provider: Provider, collected: Collected) -> CheckResult:
    """Run one check; never raises (a crash in the check becomes status ``error``)."""
    started = time.perf_counter()
    resolved = resolve_basis(spec, provider)
    result = CheckResult(
        id=spec.id,
        title=spec.title,
        severity=spec.severity,
        status=Status.PASSED,
        category=spec.category,
        description=spec.description,
        source=spec.source,
        basis=resolved.basis.value,
        basis_ref=resolved.ref,
        feature_documented=spec.requires is None or provider.documents_feature(spec.requires),
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
        except (RecursionError, MemoryError) as exc:
            # the target's answer (too deep, too big) exhausted the harness: the target's
            # doing, so a failure, with what the check was reading
            result.status = Status.FAILED
            result.detail = (
                f"judging the target's answers exhausted the harness ({type(exc).__name__}); "
                "a response is too deeply nested or too large for clients to handle"
            )
            result.evidence = _exhaustion_evidence(spec, collected, exc)
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


def _exhaustion_evidence(
    spec: CheckSpec, collected: Collected, exc: BaseException
) -> dict[str, object]:
    evidence: dict[str, object] = {"exception": f"{type(exc).__name__}: {str(exc)[:300]}"}
    for name in spec.probes:
        for ex in collected.exchanges.get(name, ())[:1]:
            evidence["exchange"] = exchange_evidence(ex, event=-1)
            return evidence
    return evidence


def guard_failures(
    selected: Sequence[CheckSpec], provider: Provider, collected: Collected
) -> list[CheckResult]:
    """The failures of transport guards that ``selected`` leaves out.

    With ``--only schema.*`` a gzip bomb, a redirect or JSON nested too deep would only
    make the selected checks skip ("not judged: the probe did not complete") and the run
    pass; the guards (cheap scans of the exchanges already collected) are evaluated too
    and a failure is added, saying it was not selected.
    """
    from conformance.checks.robustness import GUARDS

    chosen = {spec.id for spec in selected}
    added: list[CheckResult] = []
    for check_id in sorted(GUARDS - chosen):
        spec = CHECKS.get(check_id)
        if spec is None or not spec.applies_to(provider.dialect):
            continue
        result = evaluate_one(spec, provider, collected)
        if result.status is Status.FAILED:
            result.detail += " (judged although --only did not select it: transport trouble"
            result.detail += " must not pass as skipped checks)"
            added.append(result)
    return added
