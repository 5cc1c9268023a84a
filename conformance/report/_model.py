"""What the report shows, computed from result dictionaries.

These small view objects hold everything the templates need, so the templates hold no
logic beyond loops and formatting: targets and their labels, the conformance matrix,
the verdict per target, the evidence of each failure, and the runs of a bench result.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from conformance.report._format import as_float, fmt_duration, fmt_num, fmt_ratio, truncate
from conformance.report._load import SEVERITIES, STATUSES
from conformance.wire.json_bounded import parse_json_bounded

#: Longest piece of evidence text shown; the rest is summarised.
EVIDENCE_LIMIT = 6000

#: What a failure of each severity breaks, in the user's words.
SEVERITY_TEXT = {
    "sdk": "breaks the official SDK",
    "client": "breaks common clients",
    "cosmetic": "cosmetic",
}
SEVERITY_LABEL = {"sdk": "SDK", "client": "Client", "cosmetic": "Cosmetic"}
FAILING = ("failed", "error")


@dataclass(frozen=True)
class Target:
    """One system under test as a column of the report."""

    label: str
    provider: str
    model: str
    base_url: str
    anchor: str


@dataclass(frozen=True)
class EvidencePart:
    """One labelled piece of evidence: a heading, key/value rows and a preformatted body."""

    title: str
    line: str = ""
    rows: tuple[tuple[str, str], ...] = ()
    body: str = ""


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


@dataclass(frozen=True)
class Verdict:
    """The headline for one target: how compatible it is, and the counts behind it."""

    level: str  # "pass" | "cosmetic" | "incomplete" | "client" | "sdk"
    label: str
    text: str
    counts: dict[str, int]
    failed_by_severity: dict[str, int]


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


def slug(text: str) -> str:
    """A lowercase identifier safe for an HTML id."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def target_labels(results: Sequence[dict[str, Any]]) -> list[Target]:
    """Short, distinct labels for the targets of ``results``.

    The label is ``provider · model``; when two results share it, the host of the base
    URL is added, then the load (for bench results), then a number.
    """
    labels = []
    for r in results:
        provider = str(r.get("provider") or "?")
        model = str(r.get("model") or "")
        labels.append(f"{provider} · {model}" if model else provider)

    def host(r: dict[str, Any]) -> str:
        return urlsplit(str(r.get("base_url") or "")).netloc

    def where(r: dict[str, Any]) -> str:
        parts = urlsplit(str(r.get("base_url") or ""))
        return f"{parts.netloc}{parts.path}".rstrip("/")

    def load(r: dict[str, Any]) -> str:
        if r.get("kind") != "bench":
            return ""
        users, rate = (r.get("load") or {}).get("users"), (r.get("load") or {}).get("rate")
        if r.get("steps") or isinstance(users, list) or isinstance(rate, list):
            return "sweep"
        return _step_label(r.get("load") or {})

    # For each group of equal labels, add the first detail that tells them all apart: the
    # load (bench runs), the host, then host and path; else the most telling one and a number.
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    for label, idx in groups.items():
        if len(idx) < 2:
            continue
        best: list[str] = []
        for extra in (load, host, where):
            values = [extra(results[i]) for i in idx]
            if len(set(values)) > len(set(best)):
                best = values
            if len(set(values)) == len(values) and all(values):
                break
        if len(set(best)) > 1:
            for i, value in zip(idx, best, strict=True):
                labels[i] = f"{label} · {value}" if value else label
    counts = Counter(labels)
    seen: Counter[str] = Counter()
    out = []
    for i, (r, label) in enumerate(zip(results, labels, strict=True)):
        if counts[label] > 1:
            seen[label] += 1
            label = f"{label} (#{seen[label]})"
        out.append(
            Target(
                label=label,
                provider=str(r.get("provider") or ""),
                model=str(r.get("model") or ""),
                base_url=str(r.get("base_url") or ""),
                anchor=f"t{i}-{slug(label)}",
            )
        )
    return out


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
    return Verdict(level, label, text, counts, by_sev)


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
    )


def evidence_parts(evidence: dict[str, Any]) -> tuple[EvidencePart, ...]:
    """Evidence as labelled parts: the request, the response, the offending event, the rest.

    Every string here came from a server or a recording and is untrusted; the templates
    escape it (autoescape) and it is cut to a readable length.
    """
    parts = []
    rest = dict(evidence)
    request = rest.pop("request", None)
    if request is not None:
        parts.append(_http_part("Request", request, first=("method", "url")))
    response = rest.pop("response", None)
    if response is not None:
        parts.append(_http_part("Response", response, first=("status", "reason")))
    event = rest.pop("event", None)
    if event is not None:
        parts.append(_event_part(event))
    facts: list[tuple[str, str]] = []
    for key, value in rest.items():
        name = key.replace("_", " ").capitalize()
        if _is_short(value):
            facts.append((name, value if isinstance(value, str) else json.dumps(value)))
        else:
            parts.append(EvidencePart(title=name, body=_pretty(value)))
    if facts:
        parts.append(EvidencePart(title="Other facts", rows=tuple(facts)))
    return tuple(parts)


def _is_short(value: Any) -> bool:
    """A scalar that reads well in a key/value row (no block of its own)."""
    if isinstance(value, str):
        return len(value) <= 160 and "\n" not in value
    return value is None or isinstance(value, bool | int | float)


def _http_part(title: str, value: Any, *, first: tuple[str, str]) -> EvidencePart:
    """A request or response: a first line, headers as rows, the body below."""
    if not isinstance(value, dict):
        return EvidencePart(title=title, body=_pretty(value))
    rest = dict(value)
    words = [str(rest.pop(k)) for k in first if rest.get(k) is not None]
    if title == "Response" and words:
        words[0] = f"HTTP {words[0]}"
    line = " ".join(words)
    headers = rest.pop("headers", None)
    rows: list[tuple[str, str]] = []
    if isinstance(headers, dict):
        rows = [(str(k), truncate(str(v), 500)) for k, v in headers.items()]
    elif isinstance(headers, list):
        for h in headers:
            if isinstance(h, list | tuple) and len(h) == 2:
                rows.append((str(h[0]), truncate(str(h[1]), 500)))
    body = rest.pop("body", None)
    if body is None:
        body = rest.pop("body_excerpt", None)
    facts = [line] if line else []
    if isinstance(rest.get("events"), int):
        facts.append(f"{rest.pop('events')} SSE events")
    if isinstance(rest.get("body_bytes"), int):
        facts.append(f"{rest.pop('body_bytes'):,} bytes")
    error = rest.pop("error", None)
    if isinstance(error, dict):
        kind, message, after = error.get("kind"), error.get("message"), error.get("after_s")
        text = "transport error"
        if kind:
            text += f" {kind}"
        if isinstance(after, int | float):
            text += f" after {after:g} s"
        if message:
            text += f": {message}"
        facts.append(truncate(text, 500))
    elif error is not None:
        facts.append(truncate(f"error: {error}", 500))
    for key in [k for k, v in rest.items() if _is_short(v)]:
        facts.append(f"{key} {rest.pop(key)}")
    text = _pretty_body(body) if body not in (None, "") else ""
    if rest:
        extra = _pretty(rest)
        text = f"{text}\n\n{extra}" if text else extra
    return EvidencePart(title=title, line=" · ".join(facts), rows=tuple(rows), body=text)


def _event_part(event: Any) -> EvidencePart:
    """The offending SSE event: where it was in the stream, and its text."""
    if not isinstance(event, dict):
        return EvidencePart(title="Offending SSE event", body=_pretty(event))
    rest = dict(event)
    text = rest.pop("raw", None)
    if text is None:
        text = rest.pop("data", None)
    index, total = rest.pop("index", None), rest.pop("of", None)
    where = []
    if isinstance(index, int):
        where.append(f"event {index}" + (f" of {total}" if isinstance(total, int) else ""))
        where.append("counting from 0")
    where += [f"{k} {v}" for k, v in rest.items() if _is_short(v)]
    leftovers = {k: v for k, v in rest.items() if not _is_short(v)}
    body = _pretty_body(text) if text is not None else ""
    if leftovers:
        body = f"{body}\n\n{_pretty(leftovers)}" if body else _pretty(leftovers)
    return EvidencePart(title="Offending SSE event", line=", ".join(where), body=body)


def _pretty_body(body: Any) -> str:
    """A body as text; a JSON document is indented so it can be read."""
    if not isinstance(body, str):
        return _pretty(body)
    stripped = body.strip()
    if stripped[:1] in ("{", "[") and len(stripped) < 50_000:
        try:
            # evidence quotes the target's bytes: parsed within a depth limit
            return truncate(
                json.dumps(parse_json_bounded(stripped), indent=2, ensure_ascii=False),
                EVIDENCE_LIMIT,
            )
        except (ValueError, RecursionError):
            pass
    return truncate(body, EVIDENCE_LIMIT)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return truncate(value, EVIDENCE_LIMIT)
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return truncate(text, EVIDENCE_LIMIT)


# --- bench -----------------------------------------------------------------------------


@dataclass
class BenchRun:
    """One load level of a bench result (the whole result, or one step of a sweep)."""

    label: str
    load: dict[str, Any]
    metrics: dict[str, Any]
    samples: dict[str, list[float]]
    timeseries: list[dict[str, Any]]
    warmup_s: float | None
    data: dict[str, Any]


@dataclass
class BenchView:
    """One bench result as the performance section shows it."""

    target: Target
    result: dict[str, Any]
    runs: list[BenchRun]
    sweep_axis: str | None  # "users" | "rate" | None
    facts: list[tuple[str, str]]
    notes: list[str]


def load_label(load: dict[str, Any]) -> str:
    """The load model in words: ``"8 users (closed loop)"`` or ``"4 req/s (open loop)"``."""
    users, rate = load.get("users"), load.get("rate")
    if rate is not None and not isinstance(rate, list):
        arrival = load.get("arrival")
        how = (
            f"open loop, {arrival} arrivals"
            if isinstance(arrival, str) and arrival
            else "open loop"
        )
        return f"{fmt_num(rate)} req/s ({how})"
    if users is not None and not isinstance(users, list):
        return f"{fmt_num(users)} user{'s' if users != 1 else ''} (closed loop)"
    if isinstance(rate, list):
        return "sweep over rate " + ", ".join(fmt_num(x) for x in rate) + " req/s (open loop)"
    if isinstance(users, list):
        return "sweep over " + ", ".join(fmt_num(x) for x in users) + " users (closed loop)"
    return "unspecified load"


def result_load_label(result: dict[str, Any]) -> str:
    """The load model of a whole bench result; for a sweep, the levels of its steps."""
    steps = result.get("steps") or []
    if len(steps) > 1:
        axis = sweep_axis(bench_runs(result))
        if axis is not None:
            levels = ", ".join(fmt_num((s.get("load") or {}).get(axis)) for s in steps)
            if axis == "rate":
                return f"sweep over {levels} req/s (open loop)"
            return f"sweep over {levels} users (closed loop)"
    return load_label(result.get("load") or {})


def bench_runs(result: dict[str, Any]) -> list[BenchRun]:
    """The load levels of a bench result: its steps for a sweep, else the result itself."""
    steps = result.get("steps") or []
    sources = steps if steps else [result]
    runs = []
    for s in sources:
        load = s.get("load") or {}
        warmup = s.get("warmup_s", result.get("warmup_s"))
        runs.append(
            BenchRun(
                label=_step_label(load),
                load=load,
                metrics=s.get("metrics") or {},
                samples={k: v for k, v in (s.get("samples") or {}).items() if isinstance(v, list)},
                timeseries=list(s.get("timeseries") or []),
                warmup_s=float(warmup) if isinstance(warmup, int | float) else None,
                data=s,
            )
        )
    return runs


def _step_label(load: dict[str, Any]) -> str:
    rate, users = load.get("rate"), load.get("users")
    if rate is not None and not isinstance(rate, list):
        return f"{fmt_num(rate)} req/s"
    if users is not None and not isinstance(users, list):
        return f"{fmt_num(users)} user{'s' if users != 1 else ''}"
    return "run"


def sweep_axis(runs: Sequence[BenchRun]) -> str | None:
    """Which load parameter a sweep varies (``"users"`` or ``"rate"``), or None."""
    if len(runs) < 2:
        return None
    rates = [r.load.get("rate") for r in runs]
    if all(isinstance(x, int | float) for x in rates) and len(set(rates)) > 1:
        return "rate"
    users = [r.load.get("users") for r in runs]
    if all(isinstance(x, int | float) for x in users) and len(set(users)) > 1:
        return "users"
    return None


def bench_view(result: dict[str, Any], target: Target) -> BenchView:
    """The runs, facts and caveats of one bench result."""
    runs = bench_runs(result)
    load = result.get("load") or {}
    stream = result.get("stream")
    facts = [
        ("Target", target.label),
        ("Base URL", str(result.get("base_url") or "n/a")),
        ("Load", result_load_label(result)),
        ("Streaming", "yes" if stream else ("no" if stream is False else "n/a")),
        ("Duration", fmt_duration(load.get("duration_s", result.get("duration_s")))),
        (
            "Warm-up",
            f"{fmt_duration(result.get('warmup_s'))}, excluded from the numbers"
            if result.get("warmup_s")
            else "none",
        ),
    ]
    notes = []
    if result.get("partial"):
        notes.append(
            "This run did not finish: the result is partial (stopped early or a worker was lost)."
        )
    if result.get("usage_fallback"):
        why = (
            "Wetrocloud reports only the tokens used in all (`tokens`, prompt included)"
            if result.get("provider") == "wetrocloud"
            else "The server did not report a completion token count"
        )
        notes.append(
            f"{why}: output tokens were counted by the harness from the "
            + ("stream" if stream is not False else "response text")
            + ", so TPOT and token throughput are estimates."
        )
    for note in result.get("notes") or []:
        if isinstance(note, str) and note:
            notes.append(f"Note from the run: {note}")
    if stream is False:
        notes.append(
            "Non-streaming run: TTFT and ITL are not measured; E2E is the full response time."
        )
    return BenchView(
        target=target,
        result=result,
        runs=runs,
        sweep_axis=sweep_axis(runs),
        facts=facts,
        notes=notes,
    )


# --- failure and coverage ----------------------------------------------------------------

#: Words a result may use for its own verdict, read as a pass or a failure.
_PASS_WORDS = frozenset({"pass", "passed", "ok", "success", "succeeded", "green"})
_FAIL_WORDS = frozenset({"fail", "failed", "failure", "error", "red", "incomplete"})


def _count(value: Any) -> int | None:
    v = as_float(value)
    return None if v is None or v < 0 else int(v)


def own_verdict(data: dict[str, Any]) -> bool | None:
    """The verdict a result (or a sweep step) states about itself: pass, fail, or unknown.

    Read tolerantly, since writers may say it as a word (``"verdict": "failed"``), a
    boolean (``"passed": false``) or an object (``{"status": "fail", ...}``).
    """
    value = data.get("verdict")
    if isinstance(value, dict):
        for key in ("passed", "ok"):
            if isinstance(value.get(key), bool):
                return bool(value[key])
        value = value.get("status") or value.get("verdict") or value.get("level")
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _PASS_WORDS:
            return True
        if word in _FAIL_WORDS:
            return False
    passed = data.get("passed")
    return passed if isinstance(passed, bool) else None


@dataclass(frozen=True)
class RunHealth:
    """How many requests of one load level succeeded and failed, and how they failed.

    ``level`` is ``"ok"`` (nothing failed), ``"unknown"`` (the result holds no request
    counts), ``"degraded"`` (some failed, within what the run itself accepted),
    ``"partial"`` (some failed) or ``"failed"`` (no request succeeded, or none was
    measured at all).
    """

    label: str
    requests: int | None
    failed: int | None
    succeeded: int | None
    failure_rate: float | None
    kinds: tuple[tuple[str, int], ...]
    ok_rps: float | None
    failed_rps: float | None
    stated: bool | None
    level: str
    #: the reason the run's own verdict gives, when it failed (``verdict.reason``)
    reason: str | None = None

    @property
    def bad(self) -> bool:
        """True when this level must not look fine: requests failed or none succeeded."""
        return self.level in ("partial", "failed")

    @property
    def kinds_text(self) -> str:
        """The failure kinds, most frequent first: ``"http_4xx 120, read_timeout 3"``."""
        return ", ".join(f"{k} {n:,}" for k, n in self.kinds)

    @property
    def text(self) -> str:
        """One line in the user's words: what share failed and how."""
        if self.requests is None and self.level == "unknown":
            return "the result holds no request counts"
        if not self.requests:
            return self.reason or "no request was measured"
        how = f" ({self.kinds_text})" if self.kinds else ""
        if not self.succeeded:
            return f"no request succeeded: {self.requests:,} of {self.requests:,} failed{how}"
        if self.failed:
            rate = fmt_ratio(self.failure_rate)
            return f"{self.failed:,} of {self.requests:,} requests failed ({rate}){how}"
        return f"all {self.requests:,} requests succeeded"


def run_health(run: BenchRun) -> RunHealth:
    """Successes and failures of one load level, from what its result holds.

    Reads ``metrics.requests`` and ``metrics.failures`` (every writer has them), the
    failure kinds from ``errors`` (or ``failure_kinds``), and, when a newer writer adds
    them, ``metrics.successful_requests``, ``metrics.failed_requests``,
    ``metrics.failure_rate``, ``metrics.successful_requests_per_s``,
    ``metrics.failed_requests_per_s`` and the step's own ``verdict``.
    """
    m, data = run.metrics, run.data
    requests = _count(m.get("requests"))
    failed = _count(m.get("failed_requests"))
    if failed is None:
        failed = _count(m.get("failures"))
    succeeded = _count(m.get("successful_requests"))
    if requests is None and succeeded is not None and failed is not None:
        requests = succeeded + failed
    if failed is None and requests is not None and succeeded is not None:
        failed = max(0, requests - succeeded)
    if succeeded is None and requests is not None:
        succeeded = max(0, requests - (failed or 0))
    if failed is None and requests is not None:
        failed = 0
    rate = as_float(m.get("failure_rate"))
    if rate is None and requests:
        rate = (failed or 0) / requests
    raw = data.get("failure_kinds")
    if not isinstance(raw, dict):
        raw = data.get("errors")
    kinds = sorted(
        ((str(k), int(v)) for k, v in (raw or {}).items() if as_float(v)),
        key=lambda kv: (-kv[1], kv[0]),
    )
    rps = as_float(m.get("requests_per_s"))
    ok_rps = as_float(m.get("successful_requests_per_s"))
    if ok_rps is None and rps is not None:
        # older writers: requests/s counted failed requests too; take their share off
        ok_rps = rps if not failed else (rps * (1.0 - rate) if rate is not None else None)
    failed_rps = as_float(m.get("failed_requests_per_s"))
    if (
        failed_rps is None
        and rps is not None
        and ok_rps is not None
        and "successful_requests" not in m
    ):
        # today's writers: requests/s counts every completed request, failed or not
        failed_rps = max(0.0, rps - ok_rps)
    stated = own_verdict(data)
    said = data.get("verdict")
    reason = said.get("reason") if isinstance(said, dict) else None
    if requests is None and stated is not False:
        level = "unknown"  # no counts at all: neither a success nor a failure to show
    elif not requests or not succeeded:
        level = "failed"
    elif failed:
        level = "degraded" if stated is True else "partial"
    else:
        level = "failed" if stated is False else "ok"
    return RunHealth(
        label=run.label,
        requests=requests,
        failed=failed,
        succeeded=succeeded,
        failure_rate=rate,
        kinds=tuple(kinds),
        ok_rps=ok_rps,
        failed_rps=failed_rps,
        stated=stated,
        level=level,
        reason=reason if isinstance(reason, str) and reason else None,
    )


@dataclass(frozen=True)
class BenchHealth:
    """The headline of a bench result: the worst of its load levels."""

    level: str  # "ok" | "unknown" | "degraded" | "partial" | "failed"
    label: str
    text: str
    runs: tuple[RunHealth, ...]

    @property
    def bad(self) -> bool:
        """True when the result must show red."""
        return self.level in ("partial", "failed")


_LEVEL_RANK = {"ok": 0, "unknown": 1, "degraded": 2, "partial": 3, "failed": 4}


def bench_health(result: dict[str, Any]) -> BenchHealth:
    """Whether a bench result's requests succeeded, level by level, and its headline."""
    runs = tuple(run_health(r) for r in bench_runs(result))
    stated = own_verdict(result)
    worst = max(runs, key=lambda h: _LEVEL_RANK[h.level]) if runs else None
    level = worst.level if worst is not None else "failed"
    if stated is False and level in ("ok", "degraded"):
        level = "partial"
    sweep = len(runs) > 1
    bad_steps = [h for h in runs if h.bad]
    if level == "ok":
        label, text = (
            "Passed",
            (runs[0].text if not sweep else "every request of every step succeeded"),
        )
    elif level == "unknown":
        label, text = "Not counted", "the result holds no request counts"
    elif level == "degraded":
        label = "Passed with failures"
        text = "; ".join(f"{h.label}: {h.text}" if sweep else h.text for h in runs if h.failed)
    else:
        every_step_failed = all(h.level == "failed" for h in runs)
        label = "Failed" if every_step_failed else "Partly failed"
        if sweep:
            text = "; ".join(f"{h.label}: {h.text}" for h in bad_steps) or "the run says it failed"
        else:
            text = runs[0].text if runs else "no measurements"
            if stated is False and runs and not runs[0].bad:
                text = runs[0].reason or "the run says it failed"
    return BenchHealth(level, label, text, runs)


@dataclass(frozen=True)
class Coverage:
    """How many of a check result's checks were actually judged (not skipped)."""

    judged: int
    total: int
    floor: float | None
    met: bool | None

    @property
    def share(self) -> float | None:
        """Judged over total (None when there were no checks)."""
        return self.judged / self.total if self.total else None

    @property
    def thin(self) -> bool:
        """Too little was judged to call the target compatible.

        Below the floor the run states (``coverage`` written by ``check``), or, without
        one, when more checks were skipped than judged.
        """
        if self.met is not None:
            return not self.met
        share = self.share
        if share is None:
            return True
        return share < (self.floor if self.floor is not None else 0.5)


def coverage(result: dict[str, Any]) -> Coverage:
    """The coverage of a check result: its ``coverage`` object when written, else counted.

    Judged checks reached a verdict (passed, failed or warned); the total is the
    applicable checks, that is every check but the skips by design (a skipped check
    marked ``by_design``: a feature the profile does not document, or a clean refusal).
    ``check`` writes ``{"judged", "applicable", "ratio", "min", "enough", ...}``
    (:func:`conformance.results.coverage_of`); a result without it (written before
    coverage was recorded) is counted from its checks the same way.
    """
    checks = [c for c in result.get("checks", []) if isinstance(c, dict)]
    judged = sum(1 for c in checks if c.get("status") in ("passed", "failed", "warned"))
    total = sum(1 for c in checks if not (c.get("status") == "skipped" and c.get("by_design")))
    floor: float | None = None
    met: bool | None = None
    raw = result.get("coverage")
    if isinstance(raw, dict):
        j, t = _count(raw.get("judged")), _count(raw.get("applicable"))
        if j is not None and t is not None and t >= j:
            judged, total = j, t
        floor = as_float(raw.get("min"))
        if isinstance(raw.get("enough"), bool):
            met = raw["enough"]
    return Coverage(judged, total, floor, met)
