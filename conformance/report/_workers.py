"""What the reports show of a bench step's ``workers`` block (a master with Locust workers).

A bench spread over worker processes or machines records, per step, how many workers were
expected, how many connected and reported their last results, and each worker's status.
A worker that was lost (its last results did not arrive) or an expected worker that never
connected means the load was not what was asked: the reports mark it as a failure. A
worker whose status is ``unknown`` comes from a partial result rebuilt from a snapshot
(the master ended before the worker's last results could arrive).

Reads result dictionaries only; a result without the block shows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.report import _format as fmt

__all__ = ["WorkerRow", "WorkersView", "counts_text", "workers_line", "workers_view"]


@dataclass
class WorkerRow:
    """One worker of a step: who, what it sent, and whether it counts as a failure."""

    worker_id: str
    host: str
    status: str
    reason: str
    requests: int | None
    failures: int | None
    bad: bool


@dataclass
class WorkersView:
    """The workers of one bench step."""

    expected: int | None
    connected: int | None
    reported: int | None
    never_connected: int
    rows: list[WorkerRow]

    @property
    def lost(self) -> list[WorkerRow]:
        """The workers whose last results did not arrive."""
        return [r for r in self.rows if r.status == "lost"]

    @property
    def bad(self) -> bool:
        """A worker was lost or an expected one never connected: the step's load fell short."""
        return bool(self.lost) or self.never_connected > 0


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def workers_view(data: dict[str, Any]) -> WorkersView | None:
    """The workers of one step (``None`` when the step has no ``workers`` block)."""
    block = data.get("workers")
    if not isinstance(block, dict):
        return None
    rows = []
    for entry in block.get("per_worker") or []:
        if not isinstance(entry, dict):
            continue
        status = str(entry.get("status") or "unknown")
        rows.append(
            WorkerRow(
                worker_id=str(entry.get("id") or "?"),
                host=str(entry.get("host") or ""),
                status=status,
                reason=str(entry.get("reason") or ""),
                requests=_int(entry.get("requests")),
                failures=_int(entry.get("failures")),
                bad=status == "lost",
            )
        )
    return WorkersView(
        expected=_int(block.get("expected")),
        connected=_int(block.get("connected")),
        reported=_int(block.get("reported")),
        never_connected=_int(block.get("never_connected")) or 0,
        rows=rows,
    )


def counts_text(view: WorkersView) -> str:
    """``"2 expected, 2 connected, 1 reported"`` (n/a for a missing count)."""
    return (
        f"{fmt.fmt_num(view.expected)} expected, {fmt.fmt_num(view.connected)} connected, "
        f"{fmt.fmt_num(view.reported)} reported"
    )


def workers_line(view: WorkersView) -> str:
    """One plain line: the counts, then each lost worker with its reason, and those that
    never connected (plain text: the caller escapes it for its format)."""
    parts = [f"workers {counts_text(view)}"]
    for row in view.lost:
        parts.append(f"lost {row.worker_id}: {row.reason or 'no reason recorded'}")
    if view.never_connected:
        parts.append(
            f"{view.never_connected} of {fmt.fmt_num(view.expected)} expected workers "
            "never connected"
        )
    unknown = [r.worker_id for r in view.rows if r.status == "unknown"]
    if unknown:
        parts.append(f"last results unknown for {', '.join(unknown)} (the master ended early)")
    return "; ".join(parts)
