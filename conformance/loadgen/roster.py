"""Who measured what in a bench spread over several machines (Locust workers).

A master that waits for ``--expect-workers N`` keeps a :class:`Roster`: every worker
that connected, what each one sent (counts and full-resolution histograms, folded from
the same deltas the master merges into the run's totals) and whether its last delta,
sent when it stops, arrived. A worker that connected but did not deliver that last delta
(it stopped answering heartbeats, disconnected, or never reported back) is *lost*: its
last seconds of measurements are missing, and the bench step fails naming it
(:mod:`conformance.loadgen.verdict`).

Each worker may also write what it measured itself (:class:`Totals.worker_file`), so the
master's merge can be checked against the workers' own figures.

Plain computation over the delta dictionaries :meth:`conformance.metrics.RunAggregate.to_wire`
produces: no Locust, no I/O.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.metrics import LatencyHistogram
from conformance.metrics.definitions import DISTRIBUTIONS

__all__ = [
    "Roster",
    "Totals",
    "WorkerRecord",
    "as_of_snapshot",
    "encoded_histograms",
    "roster_path",
    "worker_host",
]

#: the counters a worker's record keeps (the ones a verdict or a reader needs)
_COUNTS = ("requests", "failures", "warmup_requests", "warmup_failures", "output_tokens")
#: each histogram's name in a result's ``metrics`` block (``ttft_ms``, ``tokens_per_chunk``)
_RESULT_KEYS = {d.name: d.result_key for d in DISTRIBUTIONS}


def roster_path(result_path: str | Path) -> Path:
    """Where a master lists the workers connected so far, beside its result file."""
    p = Path(result_path)
    return p.with_name(p.name + ".workers")


def worker_host(worker_id: str) -> str:
    """The host part of a Locust worker id (``<hostname>_<hex>``)."""
    host, sep, tail = worker_id.rpartition("_")
    return host if sep and host and tail.isalnum() else worker_id


def encoded_histograms(hists: dict[str, LatencyHistogram]) -> dict[str, str]:
    """The non-empty histograms, each in its compact encoded form (full resolution)."""
    return {name: hist.encode() for name, hist in hists.items() if hist.count}


@dataclass
class Totals:
    """Counts, failures by kind and histograms summed over deltas (one worker's, or a run's)."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    hists: dict[str, LatencyHistogram] = field(
        default_factory=lambda: {d.name: LatencyHistogram() for d in DISTRIBUTIONS}
    )
    cpu_s: float = 0.0
    deltas: int = 0

    def add(self, delta: dict[str, Any]) -> None:
        """Fold in one delta as :meth:`RunAggregate.to_wire` wrote it."""
        self.deltas += 1
        self.counts.update({k: int(v) for k, v in (delta.get("counts") or {}).items()})
        self.errors.update({k: int(v) for k, v in (delta.get("errors") or {}).items()})
        for name, text in (delta.get("hists") or {}).items():
            if name in self.hists and text:
                self.hists[name].merge(LatencyHistogram.decode(text))
        self.cpu_s += float(delta.get("cpu_s") or 0.0)

    def figures(self) -> dict[str, Any]:
        """Counts, failures by kind and the encoded histograms, as a result file holds them."""
        return {
            **{name: int(self.counts[name]) for name in _COUNTS},
            "errors": dict(sorted(self.errors.items())),
            "cpu_s": round(self.cpu_s, 4),
            "histograms": encoded_histograms(self.hists),
        }

    def worker_file(self, worker_id: str, master: str, *, final: bool) -> dict[str, Any]:
        """What one worker writes about itself (``conformance bench --worker --json``).

        ``final`` is true once the worker sent its last delta (the run ended for it);
        ``histograms`` hold every value it measured and sent to ``master``, in the encoded
        form the master's result uses, so the two can be merged and compared.
        """
        return {
            "version": 1,
            "kind": "bench-worker",
            "worker_id": worker_id,
            "host": worker_host(worker_id),
            "master": master,
            "final": final,
            "deltas_sent": self.deltas,
            **self.figures(),
            "metrics": {_RESULT_KEYS[n]: h.summary() for n, h in self.hists.items() if h.count},
        }


@dataclass
class WorkerRecord:
    """One worker as the master saw it."""

    worker_id: str
    connected_wall: float
    totals: Totals = field(default_factory=Totals)
    #: its last delta (sent when it stopped) arrived
    final: bool = False
    #: when that last delta arrived (the master's clock)
    final_wall: float | None = None
    #: why it is lost (``None`` while it is not)
    lost_reason: str | None = None
    #: its Locust state when the master last looked (``missing``: no heartbeat)
    last_state: str | None = None

    @property
    def status(self) -> str:
        """``reported`` (its last delta arrived), ``lost``, or ``running`` (still measuring)."""
        if self.final:
            return "reported"
        return "lost" if self.lost_reason is not None else "running"

    def entry(self) -> dict[str, Any]:
        """This worker's entry in the result's ``workers.per_worker`` list."""
        return {
            "id": self.worker_id,
            "host": worker_host(self.worker_id),
            "status": self.status,
            "reason": self.lost_reason,
            "reports": self.totals.deltas,
            **self.totals.figures(),
        }


@dataclass
class Roster:
    """The workers a master expected, and what became of each one."""

    expected: int
    workers: dict[str, WorkerRecord] = field(default_factory=dict)

    def connected(self, worker_id: str, wall: float | None = None) -> WorkerRecord:
        """A worker connected (or connected again: its record is kept)."""
        record = self.workers.get(worker_id)
        if record is None:
            record = WorkerRecord(worker_id, time.time() if wall is None else wall)
            self.workers[worker_id] = record
        return record

    def received(
        self, worker_id: str, delta: dict[str, Any], *, final: bool, wall: float | None = None
    ) -> None:
        """A worker's delta arrived (``final``: the last one, sent when it stopped)."""
        record = self.connected(worker_id)
        record.totals.add(delta)
        if final:
            record.final = True
            record.final_wall = time.time() if wall is None else wall
            record.lost_reason = None

    def restart(self) -> None:
        """A new run begins: every worker's figures start from zero."""
        for record in self.workers.values():
            record.totals = Totals()
            record.final = False
            record.final_wall = None
            record.lost_reason = None

    def lose(self, worker_id: str, reason: str) -> None:
        """Mark a worker lost (unless its last delta already arrived)."""
        record = self.connected(worker_id)
        if not record.final and record.lost_reason is None:
            record.lost_reason = reason

    def settle(self, present: dict[str, str], stopping_wall: float | None = None) -> None:
        """At the end of a run: every worker without its last delta is lost, and so is
        one whose last delta came before the run began to stop (``stopping_wall``): it
        left early (stopped or shut down), so the load was not what was asked, even
        though what it measured until then is kept.

        ``present`` maps the ids of the workers the master still knows to their Locust
        state (``missing`` when they stopped answering heartbeats); a worker no longer
        there is judged by the state it was last seen in.
        """
        for worker_id, record in self.workers.items():
            if record.lost_reason is not None:
                continue
            if record.final:
                early = stopping_wall is not None and (record.final_wall or 0.0) < stopping_wall
                if early:
                    record.final = False
                    record.lost_reason = (
                        "it stopped before the run ended; what it measured until then is kept"
                    )
                continue
            state = present.get(worker_id)
            if state is None and record.last_state == "missing":
                state = "missing"
            if state is None:
                reason = "it disconnected before sending its last results"
            elif state == "missing":
                reason = (
                    "it stopped answering heartbeats (process or host gone, or network cut); "
                    "its last results are missing"
                )
            else:
                reason = "its last results did not arrive within the drain time"
            record.lost_reason = reason

    @property
    def lost(self) -> list[WorkerRecord]:
        """The workers that were lost, in the order they connected."""
        return [r for r in self.workers.values() if r.lost_reason is not None]

    def block(self) -> dict[str, Any]:
        """The result's ``workers`` block.

        ``expected``: ``--expect-workers``; ``connected``: workers that joined the run;
        ``reported``: those whose last delta arrived; ``missing``: the ids of the lost
        ones (their last seconds of measurements are not in the result);
        ``never_connected``: expected workers that never joined; ``per_worker``: each
        worker's status, why it was lost, and what it sent (counts, histograms).
        """
        records = list(self.workers.values())
        return {
            "expected": self.expected,
            "connected": len(records),
            "reported": sum(1 for r in records if r.final),
            "missing": [r.worker_id for r in self.lost],
            "never_connected": max(0, self.expected - len(records)),
            "per_worker": [r.entry() for r in records],
        }


#: why a worker still running at the last snapshot has no known end
UNKNOWN_REASON = (
    "the master ended before this worker's last results could arrive; "
    "its figures are those of the last snapshot"
)


def as_of_snapshot(block: dict[str, Any]) -> dict[str, Any]:
    """The ``workers`` block of a partial result rebuilt from a snapshot (the master crashed).

    The snapshot holds the roster as the master last saw it: who had connected and what
    each had sent by then. A worker still measuring at that moment is neither reported
    nor known to be lost: its status becomes ``unknown``, with the reason. A worker whose
    last results had already arrived, or that was already lost, keeps its status.
    """
    out = dict(block)
    out["per_worker"] = [
        {**entry, "status": "unknown", "reason": UNKNOWN_REASON}
        if entry.get("status") == "running"
        else dict(entry)
        for entry in block.get("per_worker") or []
        if isinstance(entry, dict)
    ]
    out["as_of_snapshot"] = True
    return out
