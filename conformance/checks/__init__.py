"""The check registry and the families of checks.

Import :func:`load_families` to register every built-in family; the registry API
(:func:`check`, :func:`probe`, the outcomes) is re-exported here for check authors::

    from conformance.checks import CheckContext, Failed, Severity, check
"""

from __future__ import annotations

import importlib

from conformance.checks.registry import (
    ALL_DIALECTS,
    CHECKS,
    PROBES,
    USE_DEFAULT_KEY,
    CheckContext,
    CheckFunc,
    CheckSpec,
    Errored,
    Failed,
    Outcome,
    ProbeContext,
    ProbeFunc,
    ProbeRequest,
    ProbeSpec,
    Refused,
    Severity,
    Skipped,
    Status,
    Warned,
    check,
    get_check,
    get_probe,
    probe,
    select_checks,
)

__all__ = [
    "ALL_DIALECTS",
    "CHECKS",
    "FAMILIES",
    "PROBES",
    "USE_DEFAULT_KEY",
    "CheckContext",
    "CheckFunc",
    "CheckSpec",
    "Errored",
    "Failed",
    "Outcome",
    "ProbeContext",
    "ProbeFunc",
    "ProbeRequest",
    "ProbeSpec",
    "Refused",
    "Severity",
    "Skipped",
    "Status",
    "Warned",
    "check",
    "get_check",
    "get_probe",
    "load_families",
    "probe",
    "select_checks",
]

#: the built-in family modules, in report order
FAMILIES: tuple[str, ...] = (
    "conformance.checks.probes",
    "conformance.checks.schema",
    "conformance.checks.framing",
    "conformance.checks.stream",
    "conformance.checks.semantics",
    "conformance.checks.stops",
    "conformance.checks.ranges",
    "conformance.checks.conversation",
    "conformance.checks.features",
    "conformance.checks.errors",
    "conformance.checks.auth",
    "conformance.checks.robustness",
    "conformance.checks.sdk",
    "conformance.checks.models",
    "conformance.checks.wetrocloud",
)

_loaded = False


def load_families() -> dict[str, CheckSpec]:
    """Import every built-in family (registering its checks and probes); idempotent.

    Every import error is raised, so a family is never silently missing from a run; a
    family module that does not exist (a misspelt or deleted entry in :data:`FAMILIES`)
    is a :class:`ModuleNotFoundError` that says so.
    """
    global _loaded
    if not _loaded:
        for name in FAMILIES:
            _import_family(name)
        _loaded = True
    return CHECKS


def _import_family(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the family exists; something it imports does not
        raise ModuleNotFoundError(
            f"the check family {name!r} listed in conformance.checks.FAMILIES does not "
            "exist: fix or remove the entry",
            name=name,
        ) from exc
