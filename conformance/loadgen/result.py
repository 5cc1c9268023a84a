"""The bench result file (``bench --json``): building it from a run's aggregate.

The shape follows the contract in the design notes (``version``, ``provider``,
``base_url``, ``model``, ``stream``, ``load``, ``metrics``) plus ``kind``,
``harness_version``, ``started_at``, ``duration_s`` and the extras this module documents
on :func:`build_result`. Nothing here does I/O except :func:`write_json_atomic`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from conformance._version import __version__
from conformance.loadgen.roster import as_of_snapshot, encoded_histograms
from conformance.metrics import RunAggregate, Summary, definitions

__all__ = [
    "apply_server_lateness",
    "build_result",
    "measured_window_s",
    "progress_path",
    "result_from_snapshot",
    "write_bytes_atomic",
    "write_json_atomic",
]

_STATS = ("mean", "p50", "p90", "p99")


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _minus(summary: Summary, value: float | None) -> dict[str, float | None]:
    """``summary`` statistic by statistic, minus ``value`` (``None`` stays ``None``)."""
    out: dict[str, float | None] = {}
    for key in _STATS:
        v = summary.get(key)
        out[key] = None if v is None or value is None else round(v - value, 3)
    return out


def _calibration(
    agg: RunAggregate, metrics: dict[str, Any], true_ttft: float | None, true_itl: float | None
) -> dict[str, Any] | None:
    """Measured minus true, before the server's own lateness is taken off."""
    cal = agg.calibration_samples()
    per_request = bool(cal["ttft_error"]["count"])
    if true_ttft is None and per_request:
        true_ttft = cal["true_ttft"]["mean"]
    if true_itl is None and cal["itl_error"]["count"]:
        true_itl = cal["true_itl"]["mean"]
    if true_ttft is None and true_itl is None:
        return None
    if per_request:
        ttft_err = {k: cal["ttft_error"][k] for k in _STATS}
        itl_err = {k: cal["itl_error"][k] for k in _STATS}
        # requests carried the reference backend's per-request timing headers
        source = "per-request truth headers (X-Conformance-TTFT-Ms / X-Conformance-ITL-Ms)"
    else:
        ttft_err = _minus(metrics["ttft_ms"], true_ttft)
        itl_err = _minus(metrics["itl_ms"], true_itl)
        source = "configured truth"
    return {
        "true_ttft_ms": true_ttft,
        "true_itl_ms": true_itl,
        "ttft_error_ms": ttft_err,
        "itl_error_ms": itl_err,
        "raw_ttft_error_ms": dict(ttft_err),
        "raw_itl_error_ms": dict(itl_err),
        "server_lateness_ms": None,
        "source": source,
    }


def measured_window_s(
    started_wall: float,
    stopped_wall: float,
    *,
    duration_s: float | None,
    warmup_s: float,
    stopping_wall: float | None = None,
    worker_windows_s: Sequence[float] = (),
) -> float:
    """How long the requests/s and tokens/s of a run were counted for, in seconds.

    A single process counts completions from the end of its warm-up to the moment the
    load began to stop (``stopping_wall``), at most ``duration_s`` after it started: the
    window is that span. A master counts nothing itself: each worker counts over its own
    window, which opens when the master's start reaches it and closes when the master's
    stop does; the start travels further (the spawn message, then the users), so every
    worker's window is shorter than the master's by tens of milliseconds, more on a busy
    or distant machine. Dividing the workers' counts by the master's span would read the
    rate low (by a whole round of completions when the users run in step), so when the
    workers reported their windows (``worker_windows_s``) the window is their mean (the
    users are spread evenly over the workers).
    """
    if worker_windows_s:
        return max(0.0, sum(worker_windows_s) / len(worker_windows_s))
    elapsed = max(0.0, stopped_wall - started_wall)
    end = elapsed if duration_s is None else min(duration_s, elapsed)
    if stopping_wall is not None:
        # completions after the load began to stop are left out (the drain is not load)
        end = min(end, max(0.0, stopping_wall - started_wall))
    return max(end - warmup_s, 0.0)


def build_result(
    agg: RunAggregate,
    *,
    provider: str,
    base_url: str,
    model: str,
    stream: bool | None,
    users: int | None,
    rate: float | None,
    arrival: str | None,
    workers: int,
    duration_s: float | None,
    warmup_s: float,
    started_wall: float,
    stopped_wall: float,
    partial: bool,
    stopping_wall: float | None = None,
    true_ttft_ms: float | None = None,
    true_itl_ms: float | None = None,
    notes: list[str] | None = None,
    worker_windows_s: Sequence[float] = (),
) -> dict[str, Any]:
    """The bench result of one run (one step of a sweep).

    Beyond the contract: ``partial`` (the run was cut short: interrupted, a worker lost,
    or the load process killed), ``warmup_s`` (left out of every statistic),
    ``errors`` (failures after the warm-up by kind: ``http_<status>`` for a non-2xx
    answer, else an :class:`~conformance.metrics.FailureKind` value such as
    ``read_timeout``), ``warmup_errors`` (the same for the warm-up), ``usage_fallback``
    (some requests' output tokens were counted because the server sent no usage),
    ``verdict`` (added by :mod:`conformance.loadgen.verdict`), ``calibration`` (measurement error against
    a target of known timing, else ``None``), ``timeseries`` (one row per second of
    completions) and ``samples`` (uniform samples of at most 5000 values each, in
    ms: ``ttft_ms``, ``e2e_ms``, ``tpot_ms`` and ``itl_ms`` per request, ``itl_ms``
    holding each request's mean gap; ``itl_gap_ms`` every inter-token gap of every
    successful request sent after the warm-up, the values ``metrics.itl_ms`` summarises),
    ``histograms`` (every non-empty full-resolution histogram behind ``metrics``, by name
    such as ``ttft`` or ``itl``, in the compact encoded form
    :meth:`~conformance.metrics.LatencyHistogram.decode` reads: results of several runs or
    machines merge exactly) and, from a master that waited for workers, ``workers``
    (:meth:`conformance.loadgen.roster.Roster.block`). Requests/s and output tokens/s count
    successful requests only (failed ones: ``failed_requests_per_s``) and are over the
    measurement window: from the end of the warm-up to the moment the run began
    to stop (``stopping_wall``; requests that complete while it drains are not counted);
    for a master, the mean of the windows its workers counted over (``worker_windows_s``,
    see :func:`measured_window_s`).
    ``metric_definitions`` is the metrics table (:mod:`conformance.metrics.definitions`)
    the report and the baseline comparison read: label, unit and direction of each metric.
    """
    elapsed = max(0.0, stopped_wall - started_wall)
    window_s = measured_window_s(
        started_wall,
        stopped_wall,
        duration_s=duration_s,
        warmup_s=warmup_s,
        stopping_wall=stopping_wall,
        worker_windows_s=worker_windows_s,
    )
    open_loop = rate is not None and rate > 0
    metrics = agg.metrics_block(window_s, open_loop=open_loop)
    result: dict[str, Any] = {
        "version": 1,
        "kind": "bench",
        "provider": provider,
        "base_url": base_url,
        "model": model,
        "stream": stream,
        "load": {
            "users": users,
            "rate": rate if open_loop else None,
            "duration_s": duration_s,
            "arrival": arrival if open_loop else None,
            "workers": workers,
            "model": "open" if open_loop else "closed",
        },
        "metrics": metrics,
        "partial": partial,
        "warmup_s": warmup_s,
        "window_s": round(window_s, 3),
        "harness_version": __version__,
        "started_at": _iso(started_wall),
        "duration_s": round(elapsed, 3),
        "errors": dict(sorted(agg.errors.items())),
        "warmup_errors": dict(sorted(agg.warmup_errors.items())),
        "usage_fallback": metrics["usage_fallback_requests"] > 0,
        "calibration": _calibration(agg, metrics, true_ttft_ms, true_itl_ms),
        "timeseries": agg.timeseries(started_wall),
        "samples": agg.sample_values(),
        "histograms": encoded_histograms(agg.hists),
        "client": _client(agg),
        "notes": list(notes or []),
        "metric_definitions": definitions.result_block(),
    }
    return result


def _client(agg: RunAggregate) -> dict[str, Any]:
    """The load generator's own cost: CPU seconds of its processes during the run."""
    handled = agg.counts["requests"] + agg.counts["warmup_requests"]
    return {
        "cpu_s": round(agg.cpu_s, 4),
        "cpu_ms_per_request": round(agg.cpu_s * 1000.0 / handled, 4) if handled else None,
    }


def apply_server_lateness(result: dict[str, Any], stats: dict[str, Any]) -> None:
    """Take the reference backend's own lateness (``GET /stats``) off the TTFT error.

    The backend schedules token ``k`` at ``t_request + ttft + k * itl`` and records how
    late it actually sent it. The TTFT error is the measured TTFT minus the truth minus
    the first token's lateness, statistic by statistic (mean from mean, p50 from p50...).
    A constant lateness cancels out of the gaps between tokens, so the ITL error is the
    measured ITL minus the truth minus (ITL lateness - TTFT lateness) / (tokens - 1),
    which is close to zero and kept only for honesty.
    """
    cal = result.get("calibration")
    if not cal:
        return
    ttft_late = stats.get("ttft_lateness_ms") or {}
    itl_late = stats.get("itl_lateness_ms") or {}
    cal["server_lateness_ms"] = {"ttft": ttft_late, "itl": itl_late}
    raw = cal["raw_ttft_error_ms"]
    cal["ttft_error_ms"] = {
        k: None if raw.get(k) is None else round(raw[k] - (ttft_late.get(k) or 0.0), 3)
        for k in _STATS
    }
    metrics = result["metrics"]
    ok = metrics["requests"] - metrics["failures"]
    # gaps per request: the number of ITL values over the successful requests
    gaps = (metrics["itl_ms"].get("count") or 0) / ok if ok > 0 else 0.0
    drift = 0.0
    if gaps and itl_late.get("mean") is not None and ttft_late.get("mean") is not None:
        drift = (itl_late["mean"] - ttft_late["mean"]) / gaps
    raw_itl = cal["raw_itl_error_ms"]
    cal["itl_error_ms"] = {
        k: None if raw_itl.get(k) is None else round(raw_itl[k] - drift, 3) for k in _STATS
    }
    cal["itl_lateness_drift_ms"] = round(drift, 4)


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON so that a reader never sees half a file."""
    write_bytes_atomic(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))


def write_bytes_atomic(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=target.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode any other output gets
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; every other output follows umask
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def result_from_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The (partial) bench result from a snapshot a load process wrote while running.

    A master's snapshot also holds its roster: the result's ``workers`` block then says
    which workers there were and what each had sent, a worker still measuring at the
    snapshot marked ``unknown`` (:func:`~conformance.loadgen.roster.as_of_snapshot`).
    """
    agg = RunAggregate()
    agg.merge_wire(snapshot["raw"])
    meta = dict(snapshot["meta"])
    meta["partial"] = True
    data = build_result(agg, **meta)
    workers = snapshot.get("workers")
    if isinstance(workers, dict):
        data["workers"] = as_of_snapshot(workers)
    return data


def progress_path(result_path: str | Path) -> Path:
    """Where the one-line progress summary beside a result file is kept."""
    p = Path(result_path)
    return p.with_name(p.name + ".progress")
