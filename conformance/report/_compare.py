"""Comparing results with a baseline: what changed, and whether it is more than noise.

Each current result is matched to a baseline with the same kind, provider, model,
streaming mode and load (users or rate; the run's length may differ). For conformance,
every check whose status changed is listed, newly failing ones first. For performance,
every percentile shows its change; a change is a regression only when the bootstrap
confidence interval of the difference (from per-request samples) lies entirely on the
worse side of zero *and* the change is at least ``min_change`` of the baseline. When no
samples exist, the change is shown and marked "not judged", never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.report._bench_runs import BenchRun, bench_runs
from conformance.report._check_views import FAILING
from conformance.report._format import as_float, fmt_duration
from conformance.report._metrics import distributions, rate
from conformance.report._run_health import run_health
from conformance.report._stats import MIN_SAMPLES, Interval, bootstrap_diff, clean
from conformance.report._targets import Target, target_labels

#: A percentile is judged only when at least this many values lie beyond it on each side
#: (p99 needs 500 samples): the bootstrap of an extreme percentile from a handful of
#: tail values is not trustworthy.
MIN_TAIL = 5
#: A change in the failure rate smaller than this (absolute) is never a regression.
MIN_FAILURE_RATE_CHANGE = 0.005

REGRESSED = "regressed"
IMPROVED = "improved"
UNCHANGED = "no significant change"
NOT_JUDGED = "not judged"


@dataclass(frozen=True)
class CheckChange:
    """A check whose status differs between the baseline and the current run."""

    target: str
    check_id: str
    title: str
    severity: str
    before: str | None
    after: str | None
    change: str  # "newly failing" | "newly passing" | "new check" | "removed" | "changed"

    @property
    def regression(self) -> bool:
        """True when a check that did not fail in the baseline fails now."""
        return self.change == "newly failing"


@dataclass(frozen=True)
class MetricChange:
    """One metric of one run compared with its baseline."""

    target: str
    run: str
    metric: str
    stat: str
    label: str
    unit: str
    baseline: float | None
    current: float | None
    higher_is_worse: bool
    verdict: str
    basis: str
    interval: Interval | None = None

    @property
    def delta(self) -> float | None:
        """Current minus baseline, in the metric's unit."""
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def rel(self) -> float | None:
        """The change relative to the baseline (0.1 is 10 % more)."""
        d = self.delta
        if d is None or not self.baseline:
            return None
        return d / abs(self.baseline)

    @property
    def regression(self) -> bool:
        """True when the metric got worse by more than noise and the threshold."""
        return self.verdict == REGRESSED


@dataclass
class Comparison:
    """The outcome of comparing current results with baselines."""

    check_changes: list[CheckChange] = field(default_factory=list)
    metric_changes: list[MetricChange] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.95
    min_change: float = 0.05

    @property
    def regressions(self) -> list[CheckChange | MetricChange]:
        """Newly failing checks, then metrics that regressed."""
        out: list[CheckChange | MetricChange] = [c for c in self.check_changes if c.regression]
        out.extend(m for m in self.metric_changes if m.regression)
        return out

    @property
    def regressed(self) -> bool:
        """True when anything regressed (what ``--fail-on-regression`` acts on)."""
        return bool(self.regressions)


def labels_for(results: Sequence[dict[str, Any]]) -> list[Target]:
    """Target labels for mixed results: check and bench results are labelled separately."""
    out: list[Target | None] = [None] * len(results)
    for kind in ("check", "bench"):
        idx = [i for i, r in enumerate(results) if r.get("kind") == kind]
        for i, t in zip(idx, target_labels([results[i] for i in idx]), strict=True):
            out[i] = t
    return [t if t is not None else target_labels([results[i]])[0] for i, t in enumerate(out)]


def match_key(result: dict[str, Any]) -> tuple[Any, ...]:
    """What must be equal for a baseline to match: kind, provider, model, and for bench
    results the streaming mode and the load model (closed-loop users or open-loop rate).

    Bench results that agree on these are then paired by the load levels they share
    (:func:`shared_levels`): a sweep over 1 and 8 users matches a baseline sweep over 1,
    8 and 32 users, and steps 1 and 8 are compared.
    """
    kind = result.get("kind")
    key: tuple[Any, ...] = (kind, result.get("provider"), result.get("model"))
    if kind == "bench":
        key += (result.get("stream"), _load_model(result))
    return key


def _load_model(result: dict[str, Any]) -> str:
    """``"rate"`` for an open-loop run (its users are an implementation detail), else ``"users"``."""
    load = result.get("load") or {}
    rate = load.get("rate")
    if rate is not None or any(
        (s.get("load") or {}).get("rate") is not None for s in result.get("steps") or []
    ):
        return "rate"
    return "users"


def shared_levels(current: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """The load levels (step labels) that both bench results ran, in the current order."""
    base = {r.label for r in bench_runs(baseline)}
    return [r.label for r in bench_runs(current) if r.label in base]


def compare(
    results: Sequence[dict[str, Any]],
    baselines: Sequence[dict[str, Any]] | None,
    *,
    confidence: float = 0.95,
    min_change: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Compare each result with its matching baseline.

    ``confidence`` is the level of the bootstrap interval; ``min_change`` the smallest
    relative change (0.05 = 5 %) worth flagging even when it is statistically clear.
    """
    comp = Comparison(confidence=confidence, min_change=min_change)
    if not baselines:
        return comp
    labels = labels_for(results)
    base_labels = labels_for(baselines)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for j, b in enumerate(baselines):
        groups.setdefault(match_key(b), []).append(j)
    used: set[int] = set()
    for i, r in enumerate(results):
        found = _pick_baseline(r, groups.get(match_key(r), []), baselines)
        if found is None:
            comp.notes.append(f"No baseline matches {labels[i].label} ({r.get('kind')}).")
            continue
        if found in used:
            comp.notes.append(
                f"{base_labels[found].label} ({r.get('kind')}) is the baseline of more than one result."
            )
        used.add(found)
        comp.pairs.append((i, found))
        b = baselines[found]
        if r.get("kind") == "check":
            comp.check_changes.extend(_check_changes(labels[i].label, b, r))
        else:
            comp.metric_changes.extend(
                _bench_changes(labels[i].label, b, r, comp, seed=seed + 7919 * i)
            )
    for key, idx in groups.items():
        if len(idx) > 1 and key[0] == "check":
            comp.notes.append(
                f"Two baselines match {base_labels[idx[-1]].label} (check); the later one given is used."
            )
    for j, b in enumerate(baselines):
        if j not in used:
            comp.notes.append(
                f"Baseline {base_labels[j].label} ({b.get('kind')}) matches no current result."
            )
    order = {"newly failing": 0, "newly passing": 1, "changed": 2, "new check": 3, "removed": 4}
    sev = {"sdk": 0, "client": 1, "cosmetic": 2}
    comp.check_changes.sort(key=lambda c: (order[c.change], sev.get(c.severity, 3), c.check_id))
    return comp


def _pick_baseline(
    result: dict[str, Any], candidates: list[int], baselines: Sequence[dict[str, Any]]
) -> int | None:
    """The baseline to compare ``result`` with, among those of the same match key.

    A check result takes the last one given. A bench result takes the one sharing the
    most load levels with it (the later one on a tie); none when no level is shared.
    """
    if not candidates:
        return None
    if result.get("kind") != "bench":
        return candidates[-1]
    best, best_n = None, 0
    for j in candidates:
        n = len(shared_levels(result, baselines[j]))
        if n and n >= best_n:
            best, best_n = j, n
    return best


def _check_changes(target: str, base: dict[str, Any], cur: dict[str, Any]) -> list[CheckChange]:
    before = {c["id"]: c for c in base.get("checks", [])}
    after = {c["id"]: c for c in cur.get("checks", [])}
    out = []
    for cid, c in after.items():
        old = before.get(cid)
        title, severity, status = str(c.get("title") or cid), str(c["severity"]), c["status"]
        if old is None:
            out.append(CheckChange(target, cid, title, severity, None, status, "new check"))
            continue
        was = old["status"]
        if was == status:
            continue
        if status in FAILING and was not in FAILING:
            change = "newly failing"
        elif was in FAILING and status not in FAILING:
            change = "newly passing" if status == "passed" else "changed"
        else:
            change = "changed"
        out.append(CheckChange(target, cid, title, severity, was, status, change))
    for cid, old in before.items():
        if cid not in after:
            title = str(old.get("title") or cid)
            out.append(
                CheckChange(
                    target, cid, title, str(old["severity"]), old["status"], None, "removed"
                )
            )
    return out


def _bench_changes(
    target: str, base: dict[str, Any], cur: dict[str, Any], comp: Comparison, *, seed: int
) -> list[MetricChange]:
    b_len = (base.get("load") or {}).get("duration_s")
    c_len = (cur.get("load") or {}).get("duration_s")
    if b_len is not None and c_len is not None and b_len != c_len:
        comp.notes.append(
            f"{target}: the baseline ran {fmt_duration(b_len)}, this run {fmt_duration(c_len)}; "
            "throughput and tail percentiles are less comparable."
        )
    base_runs = {r.label: r for r in bench_runs(base)}
    cur_runs = bench_runs(cur)
    out = []
    for n, run in enumerate(cur_runs):
        b = base_runs.get(run.label)
        if b is None:
            comp.notes.append(f"{target}: the baseline has no step at {run.label}; not compared.")
            continue
        out.extend(_run_changes(target, b, run, comp, seed=seed + 101 * n))
    mine = {r.label for r in cur_runs}
    only_base = [label for label in base_runs if label not in mine]
    if only_base:
        comp.notes.append(
            f"{target}: the baseline also ran {', '.join(only_base)}; compared at the levels "
            f"both ran ({', '.join(r.label for r in cur_runs if r.label in base_runs)})."
        )
    return out


def _run_changes(
    target: str, base: BenchRun, cur: BenchRun, comp: Comparison, *, seed: int
) -> list[MetricChange]:
    out: list[MetricChange] = []
    for info in distributions(cur.data):
        metric = info.name
        # the percentiles compared (``p50`` is the quantile 0.5)
        percentiles = [(s, int(s[1:]) / 100) for s in info.compared if s.startswith("p")]
        if not percentiles:
            continue
        bm, cm = base.metrics.get(metric), cur.metrics.get(metric)
        if not isinstance(bm, dict) and not isinstance(cm, dict):
            continue
        bs, cs = base.samples.get(metric), cur.samples.get(metric)
        per_request = _PER_REQUEST_SUMMARY.get(metric)
        # judged on per-request values: the compared value is theirs too, never the
        # histogram of a different measure (see _PER_REQUEST_SUMMARY)
        from_samples = per_request is not None and bool(bs) and bool(cs)
        label = f"{info.label} ({per_request})" if from_samples else info.label
        intervals = None
        basis = ""
        if bs is None or cs is None:
            basis = "no per-request samples: significance could not be judged"
        else:
            intervals = bootstrap_diff(
                bs, cs, [q for _, q in percentiles], confidence=comp.confidence, seed=seed
            )
            if intervals is None:
                basis = (
                    f"fewer than {MIN_SAMPLES} samples on a side: significance could not be judged"
                )
            else:
                basis = (
                    f"bootstrap {comp.confidence:.0%} CI from {len(clean(bs))} vs "
                    f"{len(clean(cs))} per-request samples"
                )
        for k, (stat, q) in enumerate(percentiles):
            bv = _stat(None if from_samples else bm, stat, bs, q)
            cv = _stat(None if from_samples else cm, stat, cs, q)
            if bv is None and cv is None:
                continue
            iv = intervals[k] if intervals is not None else None
            stat_basis = basis
            if iv is not None and bs is not None and cs is not None:
                n = min(len(clean(bs)), len(clean(cs)))
                if n * min(q, 1.0 - q) < MIN_TAIL:
                    # too few values beyond the percentile: its bootstrap is not trustworthy
                    iv = None
                    need = math.ceil(MIN_TAIL / min(q, 1.0 - q))
                    stat_basis = (
                        f"{n} samples are too few to judge {stat} (needs {need}): "
                        "significance could not be judged"
                    )
            out.append(
                _judge(
                    target,
                    cur.label,
                    metric,
                    stat,
                    f"{label} {stat}",
                    info.unit,
                    bv,
                    cv,
                    higher_is_worse=info.lower_is_better,
                    interval=iv,
                    basis=stat_basis,
                    min_change=comp.min_change,
                )
            )
    out.extend(_throughput_changes(target, base, cur, comp, seed=seed))
    return out


#: Metrics whose result block summarises a per-event histogram but whose samples hold one
#: summary per request. ``metrics.itl_ms`` is the histogram of every inter-token gap;
#: ``samples.itl_ms`` holds each request's mean gap, and ``samples.itl_gap_ms`` every gap
#: without saying which request it came from. Gaps within a request are correlated, so a
#: bootstrap treating each gap as independent makes the interval too narrow (a false
#: regression); a bootstrap over requests needs the gaps grouped by request, which no
#: result holds. So ITL is compared on the per-request mean gap: the value and its
#: interval both come from ``samples.itl_ms``, and the row says so. Without samples on
#: both sides the histogram's value is shown, not judged, as for every metric.
_PER_REQUEST_SUMMARY: dict[str, str] = {"itl_ms": "per-request mean gap"}


def _stat(block: Any, stat: str, samples: list[float] | None, q: float) -> float | None:
    if isinstance(block, dict):
        v = as_float(block.get(stat))
        if v is not None:
            return v
    if samples:
        arr = clean(samples)
        if len(arr):
            return float(np.quantile(arr, q))
    return None


def _throughput_changes(
    target: str, base: BenchRun, cur: BenchRun, comp: Comparison, *, seed: int
) -> list[MetricChange]:
    out: list[MetricChange | None] = []
    b_health, c_health = run_health(base), run_health(cur)
    for info in (rate(cur.data, "requests_per_s"), rate(cur.data, "output_tokens_per_s")):
        metric, label, unit = info.name, info.label, info.unit
        bucket_key = info.buckets or ""
        if metric == "requests_per_s":
            bv, cv = b_health.ok_rps, c_health.ok_rps
        else:
            bv, cv = as_float(base.metrics.get(metric)), as_float(cur.metrics.get(metric))
        if bv is None and cv is None:
            continue
        bb, cb = _buckets(base, bucket_key), _buckets(cur, bucket_key)
        iv = None
        if b_health.succeeded and c_health.requests and not c_health.succeeded:
            # nothing succeeded now, something did before: no statistics needed
            out.append(
                MetricChange(
                    target,
                    cur.label,
                    metric,
                    "",
                    label,
                    unit,
                    bv,
                    cv if cv is not None else 0.0,
                    info.lower_is_better,
                    REGRESSED,
                    "no request succeeded in this run; the baseline's did",
                )
            )
            continue
        if len(bb) >= 5 and len(cb) >= 5:
            # one value per second: short runs have few, so accept from 5 on each side
            res = bootstrap_diff(
                bb, cb, None, confidence=comp.confidence, seed=seed + 3, min_samples=5
            )
            iv = res[0] if res is not None else None
            basis = (
                f"bootstrap {comp.confidence:.0%} CI from {len(bb)} vs {len(cb)} one-second buckets"
            )
        else:
            basis = "no per-second timeseries: significance could not be judged"
        out.append(
            _judge(
                target,
                cur.label,
                metric,
                "",
                label,
                unit,
                bv,
                cv,
                higher_is_worse=info.lower_is_better,
                interval=iv,
                basis=basis,
                min_change=comp.min_change,
            )
        )
    out.append(_failure_change(target, base, cur, comp, seed=seed + 5))
    return [m for m in out if m is not None]


def _buckets(run: BenchRun, key: str) -> np.ndarray:
    """Per-second counts after warm-up, without the last (usually partial) bucket.

    ``key`` ``"successful"`` counts the successful completions of each second. Seconds
    in which nothing completed have no row in the result; they count as zero.
    """
    warm = run.warmup_s or 0.0
    if not math.isfinite(warm):
        warm = 0.0  # a result file may hold NaN (Python's json reads it): no warm-up known
    by_second: dict[int, float] = {}
    for b in run.timeseries:
        t = as_float(b.get("t_s"))
        if key == "successful":
            # requests that completed and did not fail (the harness counts both in "requests")
            n, f = as_float(b.get("requests")), as_float(b.get("failures")) or 0.0
            v = None if n is None else max(0.0, n - f)
        else:
            v = as_float(b.get(key))
        if t is None or v is None or not math.isfinite(t) or abs(t) > 1e7:
            continue
        by_second[round(t)] = by_second.get(round(t), 0.0) + v
    if not by_second:
        return np.asarray([], dtype=float)
    last = max(by_second)
    first = max(min(by_second), math.ceil(warm))
    return np.asarray([by_second.get(t, 0.0) for t in range(first, last)], dtype=float)


def _failure_change(
    target: str, base: BenchRun, cur: BenchRun, comp: Comparison, *, seed: int
) -> MetricChange | None:
    def counts(run: BenchRun) -> tuple[int, int] | None:
        n, f = as_float(run.metrics.get("requests")), as_float(run.metrics.get("failures"))
        if n is None or f is None or n <= 0:
            return None
        return int(n), int(f)

    bc, cc = counts(base), counts(cur)
    if bc is None or cc is None or (bc[1] == 0 and cc[1] == 0):
        return None  # nothing failed on either side: nothing to compare
    bv, cv = bc[1] / bc[0], cc[1] / cc[0]
    # Every request is a sample: a 0/1 outcome per request.
    ba = np.zeros(bc[0])
    ba[: bc[1]] = 1
    ca = np.zeros(cc[0])
    ca[: cc[1]] = 1
    res = bootstrap_diff(ba, ca, None, confidence=comp.confidence, seed=seed)
    iv = res[0] if res is not None else None
    basis = (
        f"bootstrap {comp.confidence:.0%} CI over {bc[0]} vs {cc[0]} requests"
        if iv is not None
        else "too few requests: significance could not be judged"
    )
    verdict = NOT_JUDGED
    if iv is not None:
        verdict = UNCHANGED
        if iv.low > 0 and cv - bv >= MIN_FAILURE_RATE_CHANGE:
            verdict = REGRESSED
        elif iv.high < 0 and bv - cv >= MIN_FAILURE_RATE_CHANGE:
            verdict = IMPROVED
    info = rate(cur.data, "failure_rate")
    return MetricChange(
        target,
        cur.label,
        info.name,
        "",
        info.label,
        info.unit,
        bv,
        cv,
        info.lower_is_better,
        verdict,
        basis,
        iv,
    )


def _judge(
    target: str,
    run: str,
    metric: str,
    stat: str,
    label: str,
    unit: str,
    bv: float | None,
    cv: float | None,
    *,
    higher_is_worse: bool,
    interval: Interval | None,
    basis: str,
    min_change: float,
) -> MetricChange:
    verdict = NOT_JUDGED
    if interval is not None and bv is not None and cv is not None:
        verdict = UNCHANGED
        rel = (cv - bv) / abs(bv) if bv else None
        big = rel is None or abs(rel) >= min_change
        worse = interval.low > 0 if higher_is_worse else interval.high < 0
        better = interval.high < 0 if higher_is_worse else interval.low > 0
        if worse and big and (cv - bv) * (1 if higher_is_worse else -1) > 0:
            verdict = REGRESSED
        elif better and big and (cv - bv) * (1 if higher_is_worse else -1) < 0:
            verdict = IMPROVED
    elif bv is None or cv is None:
        basis = "missing on one side"
    return MetricChange(
        target, run, metric, stat, label, unit, bv, cv, higher_is_worse, verdict, basis, interval
    )
