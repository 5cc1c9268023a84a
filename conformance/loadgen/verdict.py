"""The bench's verdict: a run is green only when it measured successful requests.

A load run never passes on the strength of what it did not measure. Each step of a
bench (the whole run when there is one step) is judged on the requests sent after the
warm-up:

- **failed** when none of them succeeded (every request failed, or none was sent after
  the warm-up): there is nothing to report as latency or throughput;
- **failed** when the share that failed is above ``max_failure_rate``
  (:data:`DEFAULT_MAX_FAILURE_RATE` unless ``--max-failure-rate`` says otherwise): the
  figures then describe a target that refuses or drops part of the load, and a fast
  refusal makes latency look better than it is;
- **failed** when a worker of a bench spread over several machines was lost during the
  run, or an expected worker never joined (the result's ``workers`` block): its
  measurements are missing, so the figures are not the whole load; the reason names
  the worker;
- **passed** otherwise.

The verdict is a ``verdict`` object in every step's result and on top of the bench
result (for a sweep: failed when any step failed, the first failed step's reason)::

    {"status": "passed" | "failed", "reason": "one line" | null, "max_failure_rate": 0.01}

Pure computation over result dictionaries: no I/O, importable anywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_MAX_FAILURE_RATE",
    "failure_kinds_text",
    "judge",
    "judge_step",
    "lost_workers_text",
]

#: the share of failed requests above which a bench fails (1 in 100): a healthy target
#: under a load it can take fails almost never, and latency and throughput figures with
#: more failures than this describe the failures as much as the target
DEFAULT_MAX_FAILURE_RATE = 0.01


def failure_kinds_text(errors: dict[str, Any], limit: int = 4) -> str:
    """``http_401 x12, read_timeout x3``: the commonest failure kinds first."""
    counted = sorted(
        ((str(k), int(v)) for k, v in errors.items() if int(v) > 0), key=lambda kv: (-kv[1], kv[0])
    )
    text = ", ".join(f"{kind} x{count}" for kind, count in counted[:limit])
    if len(counted) > limit:
        text += f", {len(counted) - limit} more kinds"
    return text


def _kinds(errors: dict[str, Any]) -> str:
    text = failure_kinds_text(errors)
    return f": {text}" if text else ""


def lost_workers_text(workers: dict[str, Any] | None) -> str | None:
    """One line naming the lost and never-connected workers (``None`` when there are none)."""
    if not workers:
        return None
    parts = []
    for entry in workers.get("per_worker") or []:
        if entry.get("status") == "lost":
            parts.append(f"worker {entry.get('id')} was lost: {entry.get('reason')}")
    never = int(workers.get("never_connected") or 0)
    if never:
        parts.append(f"{never} of {workers.get('expected')} expected workers never connected")
    if not parts:
        return None
    return "; ".join(parts)


def judge_step(result: dict[str, Any], max_failure_rate: float) -> dict[str, Any]:
    """The verdict of one step (one load level) of a bench result."""
    lost = lost_workers_text(result.get("workers"))
    if lost is not None:
        return {"status": "failed", "reason": lost, "max_failure_rate": max_failure_rate}
    m = result["metrics"]
    requests = int(m.get("requests") or 0)
    failures = int(m.get("failures") or 0)
    succeeded = requests - failures
    reason: str | None = None
    if requests == 0:
        warm = int(m.get("warmup_requests") or 0)
        warm_failed = int(m.get("warmup_failures") or 0)
        if warm and warm_failed == warm:
            reason = (
                f"no request was sent after the warm-up, and all {warm} sent during it "
                f"failed{_kinds(result.get('warmup_errors') or {})}"
            )
        else:
            reason = (
                f"no request was sent after the warm-up ({warm} during it): nothing was "
                "measured; lengthen --duration or shorten --warmup"
            )
    elif succeeded <= 0:
        reason = f"no successful request: all {requests} failed{_kinds(result.get('errors') or {})}"
    else:
        rate = failures / requests
        if rate > max_failure_rate:
            reason = (
                f"failure rate {rate:.2%} ({failures} of {requests}) is above "
                f"--max-failure-rate {max_failure_rate:.2%}{_kinds(result.get('errors') or {})}"
            )
    return {
        "status": "failed" if reason else "passed",
        "reason": reason,
        "max_failure_rate": max_failure_rate,
    }


def _label(result: dict[str, Any]) -> str:
    load = result.get("load") or {}
    if load.get("rate"):
        return f"{float(load['rate']):g} req/s"
    return f"{load.get('users')} users"


def judge(result: dict[str, Any], max_failure_rate: float) -> dict[str, Any]:
    """Judge every step of ``result`` in place; return the overall verdict (also set).

    A sweep's steps (``result["steps"]``) each get their own ``verdict``; the top-level
    one is failed when any step failed, with the first failed step named in its reason.
    """
    steps = result.get("steps")
    if not steps:
        verdict = judge_step(result, max_failure_rate)
        result["verdict"] = verdict
        return verdict
    failed: list[str] = []
    for i, step in enumerate(steps, 1):
        step["verdict"] = judge_step(step, max_failure_rate)
        if step["verdict"]["status"] == "failed":
            failed.append(f"step {i}/{len(steps)} ({_label(step)}): {step['verdict']['reason']}")
    reason = None
    if failed:
        reason = failed[0]
        if len(failed) > 1:
            reason += f" (and {len(failed) - 1} more failed steps)"
    verdict = {
        "status": "failed" if failed else "passed",
        "reason": reason,
        "max_failure_rate": max_failure_rate,
        "failed_steps": len(failed),
    }
    result["verdict"] = verdict
    return verdict
