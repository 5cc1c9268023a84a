"""Whether a bench result's requests succeeded, load level by load level, and its headline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.report._bench_runs import BenchRun, bench_runs
from conformance.report._fields import count_of, own_verdict
from conformance.report._format import as_float, fmt_ratio


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
    requests = count_of(m.get("requests"))
    failed = count_of(m.get("failed_requests"))
    if failed is None:
        failed = count_of(m.get("failures"))
    succeeded = count_of(m.get("successful_requests"))
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
