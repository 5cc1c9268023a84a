"""What the conformance section shows: the matrix of checks by target, the verdict per
target, and the failures with their evidence, sorted by severity.

These small view objects hold everything the templates need, so the templates hold no
logic beyond loops and formatting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.report._coverage import coverage
from conformance.report._evidence import EvidencePart, evidence_parts
from conformance.report._fields import own_verdict
from conformance.report._load import SEVERITIES, STATUSES
from conformance.report._targets import Target, slug, target_labels

#: What a failure of each severity breaks, in the user's words.
SEVERITY_TEXT = {
    "sdk": "breaks the official SDK",
    "client": "breaks common clients",
    "cosmetic": "cosmetic",
}
SEVERITY_LABEL = {"sdk": "SDK", "client": "Client", "cosmetic": "Cosmetic"}
FAILING = ("failed", "error")


@dataclass(frozen=True)
class CheckView:
    """One check's outcome for one target."""

    id: str
    title: str
    severity: str
    status: str
    detail: str
    description: str
    category: str
    evidence: tuple[EvidencePart, ...]
    anchor: str
    #: ``document``, ``openai`` (beyond the provider's document) or ``http``
    basis: str = "document"
    #: the cited section of the provider's document, or the check's source
    basis_ref: str = ""

    @property
    def finding(self) -> bool:
        """A failure beyond the provider's document: an OpenAI-compatibility finding."""
        return self.basis == "openai" and self.status == "failed"


@dataclass(frozen=True)
class DocumentVerdict:
    """Whether a target does what its provider's document (and HTTP) says."""

    level: str  # "pass" | "fail" | "none"
    label: str
    text: str


@dataclass(frozen=True)
class Verdict:
    """The headline for one target: how compatible it is, and the counts behind it."""

    level: str  # "pass" | "cosmetic" | "incomplete" | "client" | "sdk"
    label: str
    text: str
    counts: dict[str, int]
    failed_by_severity: dict[str, int]
    #: the other verdict: conformance to the provider's own document
    document: DocumentVerdict | None = None
    #: failures beyond the provider's document (basis ``openai``), by severity
    beyond_document: dict[str, int] = field(default_factory=dict)


@dataclass
class MatrixRow:
    """One check across every target (``None`` where a target did not run it)."""

    id: str
    title: str
    severity: str
    category: str
    cells: list[CheckView | None]


@dataclass
class ConformanceView:
    """Everything the conformance section shows."""

    targets: list[Target]
    verdicts: list[Verdict]
    rows: list[MatrixRow]
    failures: list[tuple[Target, list[CheckView]]]
    #: rows worth reading first: a failure, error or warning for some target
    attention: list[MatrixRow] = field(default_factory=list)
    #: rows where every target that ran the check passed or skipped it
    quiet: list[MatrixRow] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


def check_counts(result: dict[str, Any]) -> dict[str, int]:
    """How many checks ended in each status (recomputed from the checks themselves)."""
    counts = dict.fromkeys(STATUSES, 0)
    for c in result.get("checks", []):
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return counts


def verdict(result: dict[str, Any]) -> Verdict:
    """The headline verdict of one check result.

    A failed (or errored) SDK-severity check makes the target incompatible; a failed
    client-severity check makes it partly compatible; checks that could not run make the
    verdict inconclusive, and so does thin coverage (more checks skipped than judged, or
    below the floor the result's ``coverage`` states) or a result that says it did not
    pass; cosmetic failures leave it compatible with issues.
    """
    counts = check_counts(result)
    by_sev = dict.fromkeys(SEVERITIES, 0)
    for c in result.get("checks", []):
        if c["status"] == "failed":
            by_sev[c["severity"]] += 1
    errors = counts["error"]
    cover = coverage(result)
    if by_sev["sdk"]:
        level, label = "sdk", "Incompatible"
        text = f"{_plural(by_sev['sdk'], 'failure')} {_verb(by_sev['sdk'])} the official SDK"
    elif by_sev["client"]:
        level, label = "client", "Partly compatible"
        text = f"{_plural(by_sev['client'], 'failure')} {_verb(by_sev['client'])} common clients"
    elif errors:
        level, label = "incomplete", "Inconclusive"
        text = f"{_plural(errors, 'check')} could not be completed"
    elif cover.thin or own_verdict(result) is False:
        level, label = "incomplete", "Inconclusive"
        text = f"judged only {cover.judged} of {cover.total} applicable checks"
        if cover.floor is not None:
            text += f" (the floor is {cover.floor:.0%})"
        if not cover.thin:
            text = "the run did not pass"
    elif by_sev["cosmetic"]:
        level, label = "cosmetic", "Compatible"
        text = f"with {_plural(by_sev['cosmetic'], 'cosmetic issue')}"
    elif counts["passed"] == 0:
        level, label = "incomplete", "Inconclusive"
        text = "no check passed"
    else:
        level, label = "pass", "Compatible"
        text = f"all {_plural(counts['passed'], 'check')} passed"
    extras = []
    if errors and level != "incomplete":
        extras.append(f"{_plural(errors, 'check')} could not be completed")
    if counts["warned"]:
        extras.append(_plural(counts["warned"], "warning"))
    if cover.total and cover.judged < cover.total and "judged" not in text:
        extras.append(f"judged {cover.judged} of {cover.total} applicable")
    if extras:
        text = f"{text}; {', '.join(extras)}"
    beyond = dict.fromkeys(SEVERITIES, 0)
    for c in result.get("checks", []):
        if c["status"] == "failed" and c.get("basis") == "openai":
            beyond[c["severity"]] += 1
    return Verdict(level, label, text, counts, by_sev, document_verdict(result), beyond)


def document_verdict(result: dict[str, Any]) -> DocumentVerdict:
    """Conformance to the provider's own document: the checks whose basis is the document
    or HTTP (every check of a result written before checks had a basis)."""
    own = [
        c
        for c in result.get("checks", [])
        if (c.get("basis") or "document") in ("document", "http")
    ]
    provider = str(result.get("provider") or "the provider")
    judged = sum(1 for c in own if c.get("status") in ("passed", "failed", "warned"))
    bad = sum(1 for c in own if c.get("status") in FAILING)
    if bad:
        return DocumentVerdict(
            "fail",
            "Breaks its document",
            f"{_plural(bad, 'check')} of the {provider} document or HTTP failed ({judged} judged)",
        )
    if not judged:
        return DocumentVerdict("none", "Not judged", "no check of its document was judged")
    if coverage(result).thin:
        return DocumentVerdict(
            "none",
            "Inconclusive",
            f"none of {_plural(judged, 'judged check')} of the {provider} document and HTTP "
            "failed, but too little of the run was judged",
        )
    return DocumentVerdict(
        "pass",
        "Follows its document",
        f"all {_plural(judged, 'judged check')} of the {provider} document and HTTP passed",
    )


def _verb(n: int) -> str:
    return "that breaks" if n == 1 else "that break"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def conformance_view(results: Sequence[dict[str, Any]]) -> ConformanceView:
    """The matrix of checks by target, verdicts, and failures sorted by severity."""
    targets = target_labels(results)
    by_target: list[dict[str, CheckView]] = []
    meta: dict[str, tuple[str, str, str]] = {}
    for t, r in zip(targets, results, strict=True):
        views = {}
        for c in r.get("checks", []):
            view = check_view(c, t)
            views[view.id] = view
            meta.setdefault(view.id, (view.title, view.severity, view.category))
        by_target.append(views)

    rows = []
    for cid, (title, severity, category) in meta.items():
        cells = [views.get(cid) for views in by_target]
        rows.append(MatrixRow(cid, title, severity, category, cells))
    rows.sort(key=lambda row: (_row_rank(row), SEVERITIES.index(row.severity), row.id))

    failures = []
    for t, views in zip(targets, by_target, strict=True):
        listed = [v for v in views.values() if v.status in ("failed", "error", "warned")]
        listed.sort(
            key=lambda v: (
                0 if v.status in FAILING else 1,
                SEVERITIES.index(v.severity),
                v.id,
            )
        )
        failures.append((t, listed))
    attention = [r for r in rows if _needs_attention(r)]
    quiet = [r for r in rows if not _needs_attention(r)]
    return ConformanceView(
        targets=targets,
        verdicts=[verdict(r) for r in results],
        rows=rows,
        attention=attention,
        quiet=quiet,
        failures=failures,
        results=list(results),
    )


def _needs_attention(row: MatrixRow) -> bool:
    """A failure, error or warning for some target (passes and skips are quiet)."""
    return any(c is not None and c.status in ("failed", "error", "warned") for c in row.cells)


def _row_rank(row: MatrixRow) -> int:
    """Rows with a failure anywhere come first, then warnings, then the rest."""
    statuses = {c.status for c in row.cells if c is not None}
    if statuses & set(FAILING):
        return 0
    if "warned" in statuses:
        return 1
    return 2


def check_view(check: dict[str, Any], target: Target) -> CheckView:
    """One check entry of a result file, ready to show."""
    cid = str(check["id"])
    evidence = check.get("evidence") or {}
    return CheckView(
        id=cid,
        title=str(check.get("title") or cid),
        severity=str(check["severity"]),
        status=str(check["status"]),
        detail=str(check.get("detail") or ""),
        description=str(check.get("description") or ""),
        category=str(check.get("category") or cid.split(".", 1)[0]),
        evidence=evidence_parts(evidence) if isinstance(evidence, dict) else (),
        anchor=f"{target.anchor}-{slug(cid)}",
        basis=str(check.get("basis") or "document"),
        basis_ref=str(check.get("basis_ref") or check.get("source") or ""),
    )
