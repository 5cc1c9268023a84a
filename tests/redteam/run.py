"""Run the engine against red-team cases concurrently; ``python -m tests.redteam.run [names]``."""

from __future__ import annotations

import asyncio
import sys
import time

from conformance.engine import RunConfig, arun_checks
from conformance.providers import get_provider
from conformance.results import CheckRun
from tests.redteam.catalog import CASES, Case, base_url, serve_catalog

__all__ = ["run_cases", "verdict"]


async def _run_one(root: str, case: Case, sem: asyncio.Semaphore) -> CheckRun:
    async with sem:
        provider = get_provider(case.provider, base_url=base_url(root, case))
        config = RunConfig(
            provider=provider, api_key=case.key, timeout=case.timeout, only=case.only, concurrency=4
        )
        return await arun_checks(config)


def run_cases(cases: list[Case], *, parallel: int = 6) -> dict[str, CheckRun]:
    """Every case's run, by case name (one server for all)."""

    async def main(root: str) -> list[CheckRun]:
        sem = asyncio.Semaphore(parallel)
        return await asyncio.gather(*(_run_one(root, c, sem) for c in cases))

    with serve_catalog(cases) as root:
        runs = asyncio.run(main(root))
    return {c.name: r for c, r in zip(cases, runs, strict=True)}


def verdict(case: Case, run: CheckRun) -> tuple[bool, list[str]]:
    """(as expected, the lines that explain it)."""
    by_id = {r.id: r for r in run.checks}
    bad = [r for r in run.checks if r.status.value in ("failed", "error")]
    lines = [
        f"{r.id} {r.status.value}: {r.detail[:200]}"
        for r in run.checks
        if r.status.value in ("failed", "error", "warned")
    ]
    if case.correct:
        return not bad, lines
    missing = [
        t for t in case.trips if t not in by_id or by_id[t].status.value not in ("failed", "warned")
    ]
    lines += [
        f"MISSED {t}: {by_id[t].status.value if t in by_id else 'not run'}"
        f" {by_id[t].detail[:200] if t in by_id else ''}"
        for t in missing
    ]
    return not missing, lines


if __name__ == "__main__":
    names = set(sys.argv[1:])
    chosen = [c for c in CASES if not names or c.name in names]
    t0 = time.perf_counter()
    runs = run_cases(chosen)
    for case in chosen:
        ok, lines = verdict(case, runs[case.name])
        kind = "correct" if case.correct else "broken"
        print(f"== {case.name} ({kind}) {'OK' if ok else 'WRONG'}")
        for line in lines:
            print("   ", line)
    print(f"{time.perf_counter() - t0:.1f} s")
