"""The load generator's own accuracy and cost, measured against the reference backend.

    python benchmarks/perf.py                 # what ``tox -e perf`` runs
    python benchmarks/perf.py --duration 30 --json benchmarks/out/perf.json

Every row is one ``conformance bench`` run (the embedded backend with TTFT 50 ms, ITL
10 ms, 32 tokens per answer) and reports:

- TTFT and ITL error: the harness's p50 minus the truth, with the backend's own lateness
  (``GET /stats``) taken off (the ``calibration`` block of the bench result);
- achieved requests/s against the ideal ``users / (TTFT + 31 ITL)`` for closed loops, or
  against the asked rate for open loops, with the schedule delay p99;
- client CPU milliseconds per request (CPU time of the Locust processes during the run).

The numbers depend on the machine and on whatever else runs on it: run it on a quiet
machine and read the figures as the harness's error bound there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conformance.loadgen.runner import BenchSpec, run_bench

TTFT_MS = 50.0
ITL_MS = 10.0
TOKENS = 32


def _ideal(users: int) -> float:
    return users / ((TTFT_MS + (TOKENS - 1) * ITL_MS) / 1000.0)


def _row(label: str, result: dict[str, Any], ideal: float) -> dict[str, Any]:
    m = result["metrics"]
    cal = result.get("calibration") or {}
    delay = (m.get("schedule_delay_ms") or {}).get("p99")
    return {
        "run": label,
        "workers": result["load"]["workers"],
        "ttft_err_p50_ms": (cal.get("ttft_error_ms") or {}).get("p50"),
        "itl_err_p50_ms": (cal.get("itl_error_ms") or {}).get("p50"),
        "req_per_s": m["requests_per_s"],
        "ideal_req_per_s": round(ideal, 2),
        "of_ideal": round(m["requests_per_s"] / ideal, 4) if ideal else None,
        "cpu_ms_per_req": result["client"]["cpu_ms_per_request"],
        "sched_delay_p99_ms": delay,
        "failures": m["failures"],
        "partial": result["partial"],
    }


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds left out per run")
    parser.add_argument("--users", default="1,64,256", help="closed-loop stream counts")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop rate, requests/s")
    parser.add_argument("--workers", default="1,2", help="Locust worker processes to try")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    users = [int(u) for u in args.users.split(",") if u]
    workers = [int(w) for w in args.workers.split(",") if w]
    rows: list[dict[str, Any]] = []
    common = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "max_tokens": TOKENS,
        "ttft_ms": TTFT_MS,
        "itl_ms": ITL_MS,
        "stream": True,
    }
    for w in workers:
        for u in users:
            result = run_bench(BenchSpec(users=[u], workers=w, **common))  # type: ignore[arg-type]
            rows.append(_row(f"closed {u} streams", result, _ideal(u)))
            print(f"  done: closed {u} streams, {w} worker(s)", file=sys.stderr)
        result = run_bench(BenchSpec(rates=[args.rate], workers=w, **common))  # type: ignore[arg-type]
        rows.append(_row(f"open {args.rate:g} req/s", result, args.rate))
        print(f"  done: open {args.rate:g} req/s, {w} worker(s)", file=sys.stderr)
    header = (
        f"{'run':<20} {'wk':>2} {'TTFT err':>9} {'ITL err':>8} {'req/s':>8} {'ideal':>8} "
        f"{'% ideal':>8} {'CPU ms/req':>10} {'sched p99':>9}"
    )
    print(
        "TTFT 50 ms, ITL 10 ms, 32 tokens; errors are p50 minus truth minus backend lateness (ms)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['run']:<20} {r['workers']:>2} {_fmt(r['ttft_err_p50_ms'], '+9.2f')} "
            f"{_fmt(r['itl_err_p50_ms'], '+8.2f')} {r['req_per_s']:>8.1f} "
            f"{r['ideal_req_per_s']:>8.1f} {_fmt(r['of_ideal'] and r['of_ideal'] * 100, '7.1f')}% "
            f"{_fmt(r['cpu_ms_per_req'], '10.3f')} {_fmt(r['sched_delay_p99_ms'], '9.2f')}"
            + ("  (partial)" if r["partial"] else "")
            + (f"  ({r['failures']} failed)" if r["failures"] else "")
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
