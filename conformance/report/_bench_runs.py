"""The load levels of a bench result (its steps for a sweep, else the result itself) and
the load model in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.report._format import fmt_num


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
                label=step_label(load),
                load=load,
                metrics=s.get("metrics") or {},
                samples={k: v for k, v in (s.get("samples") or {}).items() if isinstance(v, list)},
                timeseries=list(s.get("timeseries") or []),
                warmup_s=float(warmup) if isinstance(warmup, int | float) else None,
                data=s,
            )
        )
    return runs


def step_label(load: dict[str, Any]) -> str:
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
