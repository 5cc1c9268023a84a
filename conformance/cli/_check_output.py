"""Console output of ``conformance check``: the progress display and the summary.

Everything printed comes from the result document after secrets were scrubbed from it;
the progress display scrubs the few strings it shows itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from conformance.engine import Progress as EngineProgress
from conformance.results import CheckResult, coverage_line, reported_only, scrub
from conformance.wire.exchange import Exchange

__all__ = ["RichProgress", "configuration_hints", "print_summary"]

_SEVERITIES = ("sdk", "client", "cosmetic")
_STATUSES = ("passed", "failed", "warned", "skipped", "error")
_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "warned": "yellow",
    "skipped": "dim",
    "error": "bold magenta",
}
_MEANING = {
    "sdk": "breaks the official SDK",
    "client": "breaks common clients",
    "cosmetic": "cosmetic",
}


class RichProgress(EngineProgress):
    """Two bars on stderr: requests sent and checks judged (transient)."""

    def __init__(self, console: Console, *, enabled: bool, secrets: Sequence[str]) -> None:
        self._secrets = list(secrets)
        self._progress: Progress | None = None
        if enabled and console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                console=console,
                transient=True,
            )
        self._requests: TaskID | None = None
        self._checks: TaskID | None = None

    def __enter__(self) -> RichProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def planned(self, requests: int, checks: int) -> None:
        if self._progress is None:
            return
        if self._requests is not None:
            # a wave of probes built from earlier answers adds requests
            self._progress.update(self._requests, total=max(requests, 1))
            return
        self._requests = self._progress.add_task("requests", total=max(requests, 1), last="")
        self._checks = self._progress.add_task("checks  ", total=max(checks, 1), last="")

    def exchanged(self, exchange: Exchange) -> None:
        if self._progress is not None and self._requests is not None:
            status = exchange.status if exchange.error is None else exchange.error.kind.value
            last = scrub(f"{exchange.probe} -> {status}", self._secrets)
            self._progress.update(self._requests, advance=1, last=last)

    def judged(self, result: CheckResult) -> None:
        if self._progress is not None and self._checks is not None:
            self._progress.update(self._checks, advance=1, last=f"{result.id}: {result.status}")


def _count_table(checks: list[dict[str, Any]]) -> Table:
    table = Table(title="Checks by severity", title_justify="left", show_lines=False)
    table.add_column("severity")
    for status in _STATUSES:
        table.add_column(status, justify="right", style=_STYLE[status])
    for severity in _SEVERITIES:
        row = [c for c in checks if c.get("severity") == severity]
        counts = [sum(1 for c in row if c.get("status") == s) for s in _STATUSES]
        table.add_row(
            f"{severity} ({_MEANING[severity]})",
            *[str(n) if n else "-" for n in counts],
        )
    return table


_COMPAT_WORDS = {
    "not_judged": "NOT JUDGED",
    "compatible": "COMPATIBLE",
    "partly_compatible": "PARTLY COMPATIBLE",
    "incompatible": "INCOMPATIBLE",
}
_COMPAT_STYLE = {
    "not_judged": "yellow",
    "compatible": "green",
    "partly_compatible": "yellow",
    "incompatible": "bold red",
}


def _verdict_table(document: dict[str, Any]) -> Table | None:
    """The two verdicts side by side: the provider's document (and HTTP), and OpenAI-client
    compatibility by severity; ``None`` for a result without verdicts."""
    verdicts = document.get("verdicts")
    if not isinstance(verdicts, dict):
        return None
    own = dict(verdicts.get("document") or {})
    compat = dict(verdicts.get("openai") or {})
    failed = dict(compat.get("failed") or {})
    beyond = dict(compat.get("beyond_document") or {})
    table = Table(title="Verdicts", title_justify="left")
    table.add_column("")
    table.add_column(f"{document.get('provider')}'s document (+ HTTP/SSE)")
    table.add_column("OpenAI-client compatibility")
    status = str(own.get("status", ""))
    compat_status = str(compat.get("status", ""))
    # too little judged: what did not fail is not a pass either
    thin = not dict(document.get("coverage") or {}).get("enough", True)
    own_text = status.replace("_", " ").upper()
    compat_text = _COMPAT_WORDS.get(compat_status, compat_status)
    if thin and status == "passed":
        own_text, status = "INCONCLUSIVE", "not_judged"
    if thin and compat_status == "compatible":
        compat_text, compat_status = "INCONCLUSIVE", "not_judged"
    table.add_row(
        "verdict",
        Text(own_text, style={"passed": "green", "failed": "bold red"}.get(status, "yellow")),
        Text(compat_text, style=_COMPAT_STYLE.get(compat_status, "")),
    )
    table.add_row("judged", str(own.get("judged", 0)), str(compat.get("judged", 0)))
    table.add_row(
        "failed",
        str(own.get("failed", 0)),
        ", ".join(f"{failed.get(s, 0)} {s}" for s in _SEVERITIES),
    )
    if any(beyond.values()):
        table.add_row(
            "beyond the document",
            "",
            ", ".join(f"{beyond.get(s, 0)} {s}" for s in _SEVERITIES),
        )
    table.add_row("warned", str(own.get("warned", 0)), str(compat.get("warned", 0)))
    if any(beyond.values()) and not compat.get("strict"):
        table.caption = (
            "failures beyond the document are compatibility findings: they fail the run "
            "when they break the official SDK in a feature the document offers, the "
            "others only with --strict-openai"
        )
    return table


def print_summary(
    console: Console, document: dict[str, Any], *, elapsed: float, verbose: bool
) -> None:
    """The verdicts: a table by severity, then failures, errors and warnings with detail."""
    checks: list[dict[str, Any]] = list(document.get("checks", []))
    target = document.get("target", {})
    console.print(
        Text(
            f"{document.get('provider')} at {document.get('base_url')} "
            f"(model {document.get('model')}, {target.get('mode', 'live')})",
            style="bold",
        ),
        soft_wrap=True,
    )
    for capability, why in dict(target.get("refused_capabilities") or {}).items():
        console.print(Text(f"adapted: {why} ({capability} checks skipped)"), soft_wrap=True)
    for note in target.get("notes") or []:
        console.print(Text(f"note: {note}"), soft_wrap=True)
    console.print(_count_table(checks))
    table = _verdict_table(document)
    if table is not None:
        console.print(table)
    order = {s: i for i, s in enumerate(_SEVERITIES)}
    strict = bool(dict(dict(document.get("verdicts") or {}).get("openai") or {}).get("strict"))
    problems = sorted(
        (c for c in checks if c.get("status") in ("failed", "error")),
        key=lambda c: (
            reported_only(c, strict_openai=strict),
            order.get(c.get("severity", ""), 9),
            c["id"],
        ),
    )
    for item in problems:
        finding = reported_only(item, strict_openai=strict)
        label = "FINDING" if finding else item["status"].upper()
        line = Text()
        line.append(f"{label:7} ", style="yellow" if finding else _STYLE[item["status"]])
        line.append(f"[{item.get('severity')}, {item.get('basis', 'document')}] ", style="bold")
        line.append(f"{item['id']}", style="bold")
        line.append(f"  {item.get('title', '')}\n        {item.get('detail', '')}")
        console.print(line, soft_wrap=True)
    for item in (c for c in checks if c.get("status") == "warned"):
        line = Text()
        line.append("WARNED  ", style=_STYLE["warned"])
        line.append(f"[{item.get('basis', 'document')}] {item['id']}  {item.get('detail', '')}")
        console.print(line, soft_wrap=True)
    if verbose:
        skipped = [c for c in checks if c.get("status") == "skipped"]
        reasons: dict[str, int] = {}
        for item in skipped:
            reasons[str(item.get("detail", ""))] = reasons.get(str(item.get("detail", "")), 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:8]:
            console.print(Text(f"skipped {n:3}  {reason}", style="dim"), soft_wrap=True)
    for hint in configuration_hints(document):
        console.print(Text(f"hint: {hint}", style="bold"), soft_wrap=True)
    summary = document.get("summary", {})
    coverage = document.get("coverage") or {}
    verdict = _verdict(document, coverage)
    parts = ", ".join(f"{summary.get(s, 0)} {s}" for s in _STATUSES)
    style = {"PASSED": "passed", "FAILED": "failed", "INCONCLUSIVE": "warned"}[verdict]
    console.print(
        Text(
            f"{verdict}: {len(checks)} checks ({parts}) in {elapsed:.1f} s, "
            f"{len(target.get('probes') or ())} probes, "
            f"{target.get('requests_sent', 0)} requests; {coverage_line(coverage)}",
            style=_STYLE[style],
        ),
        soft_wrap=True,
    )


def _verdict(document: dict[str, Any], coverage: dict[str, Any]) -> str:
    """FAILED (a check that fails the run failed, or one errored), INCONCLUSIVE (too
    little judged), PASSED (compatibility findings that do not fail the run allowed)."""
    strict = bool(dict(dict(document.get("verdicts") or {}).get("openai") or {}).get("strict"))
    failed = any(
        c.get("status") in ("failed", "error") and not reported_only(c, strict_openai=strict)
        for c in document.get("checks", [])
    )
    if failed:
        return "FAILED"
    if coverage and not coverage.get("enough", True):
        return "INCONCLUSIVE"
    return "PASSED"


def configuration_hints(document: dict[str, Any]) -> list[str]:
    """What to fix when the plain request itself was refused in a way that usually means
    the command line is wrong (a base URL without ``/v1``, a missing or wrong key), not
    the server: the failures stay failures, the hint says where to look first.

    Live and embedded runs stop before the probes on such a refusal (exit 2, see
    :mod:`conformance.engine._diagnose`), so this concerns replayed cassettes, and runs
    in which the diagnosis found the target at fault (its notes say why)."""
    if (document.get("target") or {}).get("notes"):
        return []
    plain = next(
        (
            c
            for c in document.get("checks", [])
            if c.get("id") == "robustness.valid_request_succeeds"
        ),
        None,
    )
    if plain is None or plain.get("status") != "failed":
        return []
    evidence = plain.get("evidence") or {}
    status = (evidence.get("response") or {}).get("status")
    url = str((evidence.get("request") or {}).get("url") or document.get("base_url") or "")
    target = document.get("target") or {}
    var = target.get("api_key_env") or "the key variable"
    if status in (404, 405):
        base = str(document.get("base_url") or "").partition("?")[0].rstrip("/")
        also = ""
        if target.get("dialect") == "openai" and not base.endswith("/v1"):
            also = f" (OpenAI-compatible servers usually serve under /v1: try {base}/v1)"
        return [f"the plain request to {url} was answered HTTP {status}: check --base-url{also}"]
    if status in (401, 403):
        if target.get("api_key_set") is False:
            return [
                f"the plain request was answered HTTP {status} and no key was sent: "
                f"export the key as ${var}, or name its variable with --api-key-env"
            ]
        return [f"the plain request was answered HTTP {status}: check the key in ${var}"]
    return []
