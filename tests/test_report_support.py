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
