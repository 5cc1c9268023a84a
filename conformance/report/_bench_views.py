"""What the performance section shows of one bench result: its runs, facts and caveats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.report._bench_runs import BenchRun, bench_runs, result_load_label, sweep_axis
from conformance.report._format import fmt_duration
from conformance.report._targets import Target


@dataclass
class BenchView:
    """One bench result as the performance section shows it."""

    target: Target
    result: dict[str, Any]
    runs: list[BenchRun]
    sweep_axis: str | None  # "users" | "rate" | None
    facts: list[tuple[str, str]]
    notes: list[str]


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
