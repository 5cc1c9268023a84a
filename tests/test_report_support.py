"""Shared helpers for the report tests (no tests of its own): sample result files and synthetic results."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data" / "results"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one sample result file from tests/data/results/."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def all_checks() -> list[dict[str, Any]]:
    """The four check results (nebulablock, openai reference, weai, wetrocloud)."""
    return [
        sample(f"check_{n}.json") for n in ("nebulablock", "openai_reference", "weai", "wetrocloud")
    ]


def synthetic_bench(
    ttft: np.ndarray,
    e2e: np.ndarray | None = None,
    *,
    users: int = 8,
    stream: bool = True,
    with_samples: bool = True,
    provider: str = "openai",
    model: str = "m",
) -> dict[str, Any]:
    """A minimal bench result whose metrics are computed from the given per-request values."""
    e2e = ttft * 10 if e2e is None else e2e

    def pcts(v: np.ndarray) -> dict[str, float]:
        return {
            "mean": float(v.mean()),
            "p50": float(np.percentile(v, 50)),
            "p90": float(np.percentile(v, 90)),
            "p99": float(np.percentile(v, 99)),
        }

    result: dict[str, Any] = {
        "version": 1,
        "kind": "bench",
        "provider": provider,
        "base_url": "http://127.0.0.1:9/v1",
        "model": model,
        "stream": stream,
        "load": {"users": users, "rate": None, "duration_s": 30},
        "metrics": {
            "requests": len(ttft),
            "failures": 0,
            "requests_per_s": len(ttft) / 30,
            "output_tokens_per_s": 100.0,
            "ttft_ms": pcts(ttft),
            "e2e_ms": pcts(e2e),
        },
    }
    if with_samples:
        result["samples"] = {"ttft_ms": ttft.tolist(), "e2e_ms": e2e.tolist()}
    return result


def with_evidence(
    result: dict[str, Any], evidence: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A copy of ``result`` whose first check failed with the given evidence and fields."""
    out = copy.deepcopy(result)
    out["checks"][0].update({"status": "failed", "evidence": evidence, **fields})
    return out


def _summary(values: np.ndarray) -> dict[str, Any]:
    """A latency block as the harness writes it (every statistic None when empty)."""
    if not len(values):
        return {"mean": None, "p50": None, "p90": None, "p99": None, "count": 0}
    return {
        "mean": round(float(values.mean()), 3),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p90": round(float(np.percentile(values, 90)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "count": len(values),
    }


def bench_step(
    *,
    users: int = 8,
    requests: int = 120,
    failures: int = 0,
    kinds: dict[str, int] | None = None,
    warmup_s: float = 2.0,
    duration_s: float = 12.0,
    seed: int = 0,
    idle_warmup: bool = False,
    gap_samples: bool = False,
) -> dict[str, Any]:
    """One load level shaped like ``bench --json`` today, with ``failures`` failed requests.

    Only what the harness writes now (no successful/failed split, no verdict): the report
    must derive those. ``idle_warmup`` leaves the warm-up seconds out of the time series,
    as the harness does when nothing completed in them. ``gap_samples`` adds every
    inter-token gap as ``samples.itl_gap_ms`` (``samples.itl_ms`` holds per-request means).
    """
    rng = np.random.default_rng(seed)
    ok = requests - failures
    ttft = 40 + rng.gamma(4.0, 5.0, ok)
    per_req_gaps = [rng.gamma(9.0, 1.1, 60) for _ in range(ok)]
    gaps = np.concatenate(per_req_gaps) if ok else np.array([])
    e2e = ttft + np.array([g.sum() for g in per_req_gaps]) if ok else np.array([])
    itl_means = np.array([g.mean() for g in per_req_gaps]) if ok else np.array([])
    window = duration_s - warmup_s
    seconds = int(duration_s)
    ts = []
    per_s_ok = ok / max(window, 1.0)
    per_s_fail = failures / max(window, 1.0)
    for t in range(seconds):
        in_warmup = t < warmup_s
        if in_warmup and idle_warmup:
            continue
        n_ok = round(per_s_ok * (0.5 if in_warmup else 1.0))
        n_fail = round(per_s_fail * (0.5 if in_warmup else 1.0))
        ts.append(
            {
                "t_s": t,
                "requests": n_ok + n_fail,
                "failures": n_fail,
                "output_tokens": n_ok * 60,
                "ttft_p50_ms": round(float(np.median(ttft)), 3) if ok else None,
                "e2e_p50_ms": round(float(np.median(e2e)), 3) if ok else None,
            }
        )
    samples: dict[str, list[float]] = {
        "ttft_ms": [round(float(v), 3) for v in ttft],
        "e2e_ms": [round(float(v), 3) for v in e2e],
        "itl_ms": [round(float(v), 3) for v in itl_means],
        "tpot_ms": [round(float(v), 3) for v in itl_means],
    }
    if gap_samples:
        samples["itl_gap_ms"] = [round(float(v), 3) for v in gaps]
    return {
        "load": {"users": users, "rate": None, "duration_s": duration_s, "model": "closed"},
        "warmup_s": warmup_s,
        "window_s": window,
        "metrics": {
            "requests": requests,
            "failures": failures,
            # today's requests_per_s counts every completed request, failed or not
            "requests_per_s": round(requests / window, 3),
            "successful_requests_per_s": round(ok / window, 3),
            "output_tokens_per_s": round(ok * 60 / window, 3),
            "ttft_ms": _summary(ttft),
            "itl_ms": _summary(gaps),
            "tpot_ms": _summary(itl_means),
            "e2e_ms": _summary(e2e),
            "output_tokens": ok * 60,
            "warmup_requests": 0 if idle_warmup else 4,
            "window_requests": requests,
        },
        "errors": dict(
            kinds if kinds is not None else ({"http_4xx": failures} if failures else {})
        ),
        "timeseries": ts,
        "samples": samples,
    }


def failing_bench(**step: Any) -> dict[str, Any]:
    """A single-run bench result (defaults: 120 requests, every one refused with a 4xx)."""
    step.setdefault("failures", step.get("requests", 120))
    body = bench_step(**step)
    return {
        "version": 1,
        "kind": "bench",
        "provider": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "m",
        "stream": True,
        "partial": False,
        "harness_version": "0.1.0",
        "started_at": "2026-12-04T12:00:00Z",
        "duration_s": body["load"]["duration_s"],
        "notes": [],
        **body,
    }


def sweep_bench(levels: dict[int, int], *, requests: int = 120, **step: Any) -> dict[str, Any]:
    """A users sweep: ``levels`` maps each step's users to its failed requests."""
    steps = [
        bench_step(users=u, requests=requests, failures=f, seed=k, **step)
        for k, (u, f) in enumerate(levels.items())
    ]
    out = failing_bench(requests=requests, failures=0)
    last = steps[-1]
    errors: dict[str, int] = {}
    for s in steps:
        for kind, n in s["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    out.update(
        {
            "load": {**last["load"], "users": list(levels)},
            "metrics": last["metrics"],
            "samples": last["samples"],
            "timeseries": last["timeseries"],
            "errors": errors,
            "steps": steps,
        }
    )
    return out
