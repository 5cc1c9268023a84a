"""The versioned result file of ``conformance check`` (``--json``).

The shape is a contract (see design.md): fields may be added, never renamed::

    {"version": 2, "kind": "check", "provider": "openai", "base_url": "...", "model": "...",
     "checks": [{"id", "title", "severity", "status", "detail", "evidence", ...}],
     "summary": {"passed": 0, "failed": 0, "warned": 0, "skipped": 0, "error": 0}}

Beyond the contract the file carries ``harness_version``, ``started_at`` (ISO 8601 UTC),
``duration_s``, ``target`` (facts about the run: replayed or live, requests sent, limits)
and, per check, ``category``, ``description``, ``source`` and ``duration_ms``; a skipped
check says whether it was skipped ``by_design`` (the feature is not documented, or the
target refused it cleanly). ``coverage`` says how much was judged: ``{"checks",
"applicable", "judged", "skipped_by_design", "not_judged", "ratio"}`` (see
:func:`coverage_of`), and, written by ``check``, ``min`` (its ``--min-coverage``) and
``enough`` (whether the ratio reached it).

Version 2 adds the basis of each verdict (:mod:`conformance.checks.basis`): per check
``basis`` (``document``, ``openai`` or ``http``) and ``basis_ref`` (the cited section of
the provider's document, or the check's source), and at the top ``verdicts``, the two
answers side by side (see :func:`verdicts_of`)::

    "verdicts": {
      "document": {"status": "passed" | "failed" | "not_judged", "judged", "failed", "warned",
                   "error"},
      "openai": {"status": "compatible" | "partly_compatible" | "incompatible" | "not_judged",
                 "judged",
                 "warned", "failed": {"sdk": n, "client": n, "cosmetic": n},
                 "beyond_document": {"sdk": n, ...}, "strict": bool}}

The run fails (exit 1) on a failure of the document or of HTTP, on a failure that breaks
the official SDK whatever its basis, and on any failure under ``--strict-openai``; the
other failures beyond the document are reported as compatibility findings.

A version 1 file is still read: its checks had no basis and are all ``document``, which
is how version 1 judged them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import secrets as secrets_module
from conformance._version import __version__
from conformance.checks.registry import Severity, Status

__all__ = [
    "DEFAULT_MIN_COVERAGE",
    "EXIT_THIN",
    "READABLE_VERSIONS",
    "RESULT_VERSION",
    "CheckResult",
    "CheckRun",
    "coverage_line",
    "coverage_of",
    "load_check_run",
    "reported_only",
    "scrub",
    "verdicts_of",
]

RESULT_VERSION = 2
#: the result versions :meth:`CheckRun.from_dict` reads
READABLE_VERSIONS: frozenset[int] = frozenset({1, 2})
#: the bases judged as conformance to the provider's document (the first verdict)
DOCUMENT_BASES: frozenset[str] = frozenset({"document", "http"})
_STATUSES: tuple[Status, ...] = (
    Status.PASSED,
    Status.FAILED,
    Status.WARNED,
    Status.SKIPPED,
    Status.ERROR,
)


@dataclass(slots=True)
class CheckResult:
    """The verdict of one check in one run."""

    id: str
    title: str
    severity: Severity
    status: Status
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    category: str = ""
    description: str = ""
    source: str = ""
    duration_ms: float = 0.0
    #: a skip by design: the profile does not document the feature, or the target refused
    #: it cleanly; such a skip does not count against the run's coverage
    by_design: bool = False
    #: on what grounds the check judged this target: ``document`` (its provider's
    #: document states the rule), ``openai`` (an OpenAI-compatibility finding) or
    #: ``http`` (see :mod:`conformance.checks.basis`)
    basis: str = "document"
    #: the section of the provider's document cited, or the check's source
    basis_ref: str = ""
    #: the check judges no optional feature, or one the provider's document offers;
    #: ``False`` for a feature the profile sends though its document never states it
    #: (WeAI's streaming): breaking it is then a compatibility finding, even where it
    #: breaks the official SDK, and fails the run only with ``--strict-openai``
    feature_documented: bool = True

    @property
    def is_problem(self) -> bool:
        """A verdict that is not a pass (``failed`` or ``error``), whatever its basis."""
        return self.status in (Status.FAILED, Status.ERROR)

    def blocks(self, *, strict_openai: bool = False) -> bool:
        """Whether this verdict fails the run: an error, a failure of the document or of
        HTTP, or a failure that breaks the official SDK in a feature the document offers
        (:attr:`feature_documented`); other OpenAI-compatibility failures only with
        ``strict_openai``."""
        if self.status is Status.ERROR:
            return True
        if self.status is not Status.FAILED:
            return False
        finding = _compatibility_finding(self.basis, self.severity, self.feature_documented)
        return strict_openai or not finding

    @property
    def judged(self) -> bool:
        """The check reached a verdict on the target (passed, failed or warned)."""
        return self.status in (Status.PASSED, Status.FAILED, Status.WARNED)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status.value,
            "detail": self.detail,
            "evidence": self.evidence,
            "category": self.category or self.id.split(".", 1)[0],
            "description": self.description,
            "source": self.source,
            "duration_ms": round(self.duration_ms, 3),
            "basis": self.basis,
            "basis_ref": self.basis_ref,
        }
        if self.status is Status.SKIPPED:
            data["by_design"] = self.by_design
        if not self.feature_documented:
            data["feature_documented"] = False
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            id=str(data["id"]),
            title=str(data.get("title", "")),
            severity=Severity(data.get("severity", Severity.CLIENT)),
            status=Status(data["status"]),
            detail=str(data.get("detail", "")),
            evidence=dict(data.get("evidence") or {}),
            category=str(data.get("category", "")),
            description=str(data.get("description", "")),
            source=str(data.get("source", "")),
            duration_ms=float(data.get("duration_ms", 0.0)),
            by_design=bool(data.get("by_design", False)),
            basis=str(data.get("basis") or "document"),
            basis_ref=str(data.get("basis_ref") or data.get("source") or ""),
            feature_documented=data.get("feature_documented", True) is not False,
        )


#: the coverage below which ``check`` does not pass (``--min-coverage``)
DEFAULT_MIN_COVERAGE = 0.5
#: the exit code of a run that judged less than its ``min_coverage``
EXIT_THIN = 3


def coverage_of(checks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """How much of a run was judged, from its checks' dictionaries.

    ``applicable`` is every check minus the skips by design (a feature the profile does
    not document, or that the target refused cleanly); ``judged`` is the checks that
    reached a verdict (passed, failed or warned); ``ratio`` = judged / applicable (0
    when nothing is applicable: a run that judged nothing proves nothing). A skip for
    missing evidence (an absent exchange or cassette, a request that failed, the
    budget) and an ``error`` lower the ratio.
    """
    items = list(checks)
    by_design = sum(1 for c in items if c.get("status") == "skipped" and c.get("by_design"))
    judged = sum(1 for c in items if c.get("status") in ("passed", "failed", "warned"))
    applicable = len(items) - by_design
    return {
        "checks": len(items),
        "applicable": applicable,
        "judged": judged,
        "skipped_by_design": by_design,
        "not_judged": applicable - judged,
        "ratio": round(judged / applicable, 4) if applicable else 0.0,
    }


def reported_only(item: Mapping[str, Any], *, strict_openai: bool = False) -> bool:
    """Whether a check's dictionary is a failed OpenAI-compatibility check that does not
    fail the run: basis ``openai``, not breaking the official SDK (or breaking it only in
    a feature the provider's document does not offer), without ``strict_openai``. It is
    reported as a compatibility finding."""
    return (
        not strict_openai
        and item.get("status") == "failed"
        and _compatibility_finding(
            item.get("basis"), item.get("severity"), item.get("feature_documented") is not False
        )
    )


def _compatibility_finding(basis: object, severity: object, feature_documented: bool) -> bool:
    """Whether a failure with these fields is only an OpenAI-compatibility finding (it
    fails the run only under ``--strict-openai``): basis ``openai``, and not breaking the
    official SDK in a feature the provider's document offers. The one rule behind
    :meth:`CheckResult.blocks` and :func:`reported_only`."""
    breaks_sdk = severity == Severity.SDK.value and feature_documented
    return basis == "openai" and not breaks_sdk


def verdicts_of(
    checks: Iterable[Mapping[str, Any]], *, strict_openai: bool = False
) -> dict[str, Any]:
    """The two verdicts of a run, from its checks' dictionaries.

    ``document``: conformance to the provider's own document (and to HTTP and SSE), over
    the checks of basis ``document`` and ``http``: ``failed`` when one of them failed or
    errored, else ``passed`` (``not_judged`` when none reached a verdict). ``openai``: compatibility with OpenAI clients, over every
    check: the failures by severity (``failed``), those beyond the provider's document
    (basis ``openai``, ``beyond_document``), and ``status``, the worst severity failed:
    ``incompatible`` (the official SDK breaks), ``partly_compatible`` (common clients
    do), ``compatible`` (at most cosmetic), ``not_judged`` (nothing was). A check without a basis (a version 1 result)
    counts as ``document``.
    """
    items = list(checks)
    judged = ("passed", "failed", "warned")
    own = [c for c in items if str(c.get("basis") or "document") in DOCUMENT_BASES]

    def count(group: list[Mapping[str, Any]], *statuses: str) -> int:
        return sum(1 for c in group if c.get("status") in statuses)

    def by_severity(group: list[Mapping[str, Any]]) -> dict[str, int]:
        return {
            severity.value: sum(
                1 for c in group if c.get("status") == "failed" and c.get("severity") == severity
            )
            for severity in Severity
        }

    failed = by_severity(items)
    beyond = by_severity([c for c in items if c not in own])
    if not count(items, *judged, "error"):
        compat = "not_judged"
    elif failed[Severity.SDK.value]:
        compat = "incompatible"
    elif failed[Severity.CLIENT.value]:
        compat = "partly_compatible"
    else:
        compat = "compatible"
    return {
        "document": {
            "status": (
                "failed"
                if count(own, "failed", "error")
                else "passed"
                if count(own, *judged)
                else "not_judged"
            ),
            "judged": count(own, *judged),
            "failed": count(own, "failed"),
            "warned": count(own, "warned"),
            "error": count(own, "error"),
        },
        "openai": {
            "status": compat,
            "judged": count(items, *judged),
            "failed": failed,
            "beyond_document": beyond,
            "warned": count(items, "warned"),
            "strict": strict_openai,
        },
    }


def coverage_line(coverage: Mapping[str, Any]) -> str:
    """The coverage in words: "judged 4 of 57 applicable checks (7%), below --min-coverage
    50%" (the console summary and the JUnit case say it this way)."""
    if not coverage:
        return "coverage unknown"
    line = (
        f"judged {coverage.get('judged', 0)} of {coverage.get('applicable', 0)} "
        f"applicable checks ({float(coverage.get('ratio', 0.0)):.0%})"
    )
    if coverage.get("skipped_by_design"):
        line += f", {coverage['skipped_by_design']} skipped by design"
    if not coverage.get("enough", True):
        line += f", below --min-coverage {float(coverage.get('min', 0.0)):.0%}"
    return line


@dataclass(slots=True)
class CheckRun:
    """Every verdict of one ``check`` run against one target."""

    provider: str
    base_url: str
    model: str
    checks: list[CheckResult] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration_s: float = 0.0
    #: facts about the run: mode (live/replay/embedded), requests sent, timeout, budget...
    target: dict[str, Any] = field(default_factory=dict)
    harness_version: str = __version__
    #: the share of applicable checks that must be judged for the run to pass
    min_coverage: float = DEFAULT_MIN_COVERAGE
    #: every OpenAI-compatibility failure fails the run, not only those that break the
    #: official SDK (``--strict-openai``)
    strict_openai: bool = False

    def coverage(self) -> dict[str, Any]:
        """How much of the run was judged (see :func:`coverage_of`), with ``min`` (the
        floor) and ``enough`` (whether the ratio reached it)."""
        data = coverage_of(result.to_dict() for result in self.checks)
        data["min"] = self.min_coverage
        data["enough"] = self.min_coverage <= 0 or data["ratio"] >= self.min_coverage
        return data

    @property
    def covered(self) -> bool:
        """Whether the run judged at least ``min_coverage`` of its applicable checks."""
        return bool(self.coverage()["enough"])

    def summary(self) -> dict[str, int]:
        """How many checks ended in each status (every status present, possibly 0)."""
        counts = {status.value: 0 for status in _STATUSES}
        for result in self.checks:
            counts[result.status.value] += 1
        return counts

    def verdicts(self) -> dict[str, Any]:
        """The document verdict and the OpenAI-compatibility verdict (:func:`verdicts_of`)."""
        return verdicts_of(
            (result.to_dict() for result in self.checks), strict_openai=self.strict_openai
        )

    @property
    def passed(self) -> bool:
        """No check failed the run (see :meth:`CheckResult.blocks`; warnings, skips and
        compatibility findings that do not break the SDK allowed)."""
        return not any(result.blocks(strict_openai=self.strict_openai) for result in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when every check passed (warnings allowed) and enough was judged; 1 when a
        check failed or errored; 3 when too little was judged (see :meth:`exit_code_for`)."""
        return self.exit_code_for(Severity.COSMETIC)

    def exit_code_for(self, fail_on: Severity | str = Severity.COSMETIC) -> int:
        """1 when a check that fails the run (:meth:`CheckResult.blocks`: a violation of
        the document or of HTTP, anything that breaks the official SDK, any
        OpenAI-compatibility failure under :attr:`strict_openai`) of severity ``fail_on``
        or worse failed, or any check errored; otherwise :data:`EXIT_THIN` (3) when less
        than ``min_coverage`` of the applicable checks was judged; otherwise 0.

        ``fail_on="client"`` lets a CI job tolerate cosmetic deviations while still
        failing on anything that breaks the official SDK or common clients. A failure
        wins over thin coverage: what was judged and failed is the more useful news.
        """
        order = list(Severity)
        limit = order.index(Severity(fail_on))
        for result in self.checks:
            if not result.blocks(strict_openai=self.strict_openai):
                continue
            if Status(result.status) == Status.ERROR:
                return 1
            if order.index(Severity(result.severity)) <= limit:
                return 1
        return 0 if self.covered else EXIT_THIN

    def by_id(self) -> dict[str, CheckResult]:
        return {result.id: result for result in self.checks}

    def to_dict(self, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """The JSON document; any of ``secrets`` found in any string is masked."""
        data = {
            "version": RESULT_VERSION,
            "kind": "check",
            "harness_version": self.harness_version,
            "started_at": self.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "duration_s": round(self.duration_s, 3),
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "target": self.target,
            "checks": [result.to_dict() for result in self.checks],
            "summary": self.summary(),
            "coverage": self.coverage(),
            "verdicts": self.verdicts(),
        }
        cleaned: dict[str, Any] = scrub(data, secrets)
        return cleaned

    def to_json(self, secrets: Iterable[str] = ()) -> str:
        return json.dumps(self.to_dict(secrets), indent=2, ensure_ascii=False) + "\n"

    def write_json(self, path: str | Path, secrets: Iterable[str] = ()) -> Path:
        """Write the result file (parent directories are created)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_json(secrets), encoding="utf-8")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckRun:
        if data.get("kind", "check") != "check":
            raise ValueError(f"not a check result file (kind={data.get('kind')!r})")
        if int(data.get("version", 0)) not in READABLE_VERSIONS:
            raise ValueError(f"unsupported check result version {data.get('version')!r}")
        started = str(data.get("started_at") or "")
        return cls(
            provider=str(data.get("provider", "")),
            base_url=str(data.get("base_url", "")),
            model=str(data.get("model", "")),
            checks=[CheckResult.from_dict(item) for item in data.get("checks", [])],
            started_at=(
                datetime.fromisoformat(started.replace("Z", "+00:00"))
                if started
                else datetime.now(UTC)
            ),
            duration_s=float(data.get("duration_s", 0.0)),
            target=dict(data.get("target") or {}),
            harness_version=str(data.get("harness_version", "")),
            min_coverage=float(dict(data.get("coverage") or {}).get("min", DEFAULT_MIN_COVERAGE)),
            strict_openai=bool(
                dict(dict(data.get("verdicts") or {}).get("openai") or {}).get("strict", False)
            ),
        )


def load_check_run(path: str | Path) -> CheckRun:
    """Read a ``check --json`` file (``ValueError`` when it is not one)."""
    return CheckRun.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def scrub(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` with every spelling of a secret replaced by ``<redacted>`` (the rules are
    :mod:`conformance.secrets`)."""
    return secrets_module.scrub(value, secrets)
