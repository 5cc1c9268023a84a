"""Locust hooks for a bench spread over processes or machines: the master's roster, a
worker's own record.

On the master (``--master``, or the local ``--processes``), a
:class:`~conformance.loadgen.roster.Roster` records every worker that connects, folds in
each delta it sends (beside the run's totals, which :mod:`conformance.loadgen.plugin`
keeps), watches Locust's heartbeats once a second and, when the run ends, marks every
worker whose last delta did not arrive as lost. :func:`annotate` adds the ``workers``
block to the master's result; the verdict fails a step that lost a worker.

On a worker, every delta it sends is also added to its own totals, written to
``--worker-result-json`` (when given) after each report, so what each machine measured
can be read beside what the master merged. The option is read when the worker starts,
before the master's options reach it.

Imports Locust: loaded by :mod:`conformance.loadgen.plugin` in load-generating processes
only.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from conformance.errors import ConfigError
from conformance.loadgen.options import LoadOptions
from conformance.loadgen.result import write_json_atomic
from conformance.loadgen.roster import Roster, Totals, roster_path

__all__ = ["annotate", "master_received", "snapshot_block", "worker_sent"]

log = logging.getLogger("conformance.loadgen")


class _Own:
    """What this worker sent to its master, and where it writes it."""

    def __init__(self, path: str | None, worker_id: str, master: str) -> None:
        self.path = path
        self.worker_id = worker_id
        self.master = master
        self.totals = Totals()
        self.final = False

    def add(self, delta: dict[str, Any], *, final: bool) -> None:
        if not self.path:
            return  # nobody reads it: spend no CPU on the load-generating process
        self.totals.add(delta)
        self.final = self.final or final
        self.write()

    def write(self) -> None:
        if self.path:
            data = self.totals.worker_file(self.worker_id, self.master, final=self.final)
            write_json_atomic(self.path, data)


_ROSTER: Roster | None = None
_OWN: _Own | None = None
#: the master's result file (the list of connected workers is kept beside it)
_RESULT_PATH: str | None = None


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--worker-result-json",
        default=None,
        help="on a worker: where it writes what it measured and sent to the master",
    )


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    global _ROSTER, _OWN, _RESULT_PATH
    runner = environment.runner
    parsed = environment.parsed_options
    if isinstance(runner, MasterRunner):
        expected = int(getattr(parsed, "expect_workers", 0) or 0)
        _ROSTER = Roster(expected)
        _RESULT_PATH = getattr(parsed, "result_json", None)
        gevent.spawn(_watch, runner, _ROSTER)
    elif isinstance(runner, WorkerRunner):
        path = getattr(parsed, "worker_result_json", None)
        master = f"{runner.master_host}:{runner.master_port}"
        _OWN = _Own(path, str(runner.client_id), master)
        # connected (Locust's worker connects before this event): say so in the file
        _OWN.write()


@events.worker_connect.add_listener
def _on_worker_connect(client_id: str, **_kw: Any) -> None:
    if _ROSTER is None:
        return
    _ROSTER.connected(str(client_id))
    if _RESULT_PATH:
        data = {"expected": _ROSTER.expected, "connected": sorted(_ROSTER.workers)}
        write_json_atomic(roster_path(_RESULT_PATH), data)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    if _ROSTER is not None and isinstance(environment.runner, MasterRunner):
        _ROSTER.restart()
    if _OWN is not None and isinstance(environment.runner, WorkerRunner):
        _OWN.totals = Totals()
        _OWN.final = False
        note = _missing_key(environment)
        if note is not None:
            log.warning(note)


def _missing_key(environment: Environment) -> str | None:
    """A warning when this worker's environment holds no key in the variable the master named."""
    from conformance.providers import get_provider

    options = LoadOptions.from_parsed(environment.parsed_options)
    try:
        var = options.api_key_env or get_provider(options.provider or "openai").api_key_env
    except ConfigError:  # an unknown provider is reported where the target is built
        return None
    if os.environ.get(var):
        return None
    return f"no key in ${var} on this worker: its requests are sent without credentials"


def _present(runner: MasterRunner) -> dict[str, str]:
    return {str(c.id): str(c.state) for c in runner.clients.all}


def _watch(runner: MasterRunner, roster: Roster) -> None:
    """Once a second: note (and log once) a worker that stopped answering heartbeats."""
    told: set[str] = set()
    while True:
        gevent.sleep(1.0)
        present = _present(runner)
        for worker_id, record in roster.workers.items():
            state = present.get(worker_id)
            record.last_state = state if state is not None else record.last_state
            if record.final or worker_id in told:
                continue
            if state == "missing" or state is None:
                told.add(worker_id)
                what = "stopped answering heartbeats" if state else "disconnected"
                log.error(f"worker {worker_id} {what} during the run: its results will be missing")


def master_received(client_id: str, delta: dict[str, Any], *, final: bool) -> None:
    """A worker's delta reached the master (``final``: its last one, sent when it stopped)."""
    if _ROSTER is not None:
        _ROSTER.received(str(client_id), delta, final=final)


def worker_sent(delta: dict[str, Any], *, final: bool) -> None:
    """This worker sent a delta to its master (``final``: its last one)."""
    if _OWN is not None:
        _OWN.add(delta, final=final)


def snapshot_block(environment: Environment) -> dict[str, Any] | None:
    """The master's roster as it stands now, for a snapshot (``None`` off a master).

    Nothing is settled: a worker still measuring is ``running``. Should the master crash,
    :func:`conformance.loadgen.roster.as_of_snapshot` turns it into the partial result's
    ``workers`` block, so the result still says which workers there were.
    """
    if _ROSTER is None or not isinstance(environment.runner, MasterRunner):
        return None
    return _ROSTER.block()


def annotate(environment: Environment, result: dict[str, Any], stopping_wall: float | None) -> None:
    """Add the ``workers`` block to the master's finished result (before it is judged).

    ``stopping_wall``: when the run began to stop; a worker whose last delta came before
    it left early.
    """
    runner = environment.runner
    if _ROSTER is None or not isinstance(runner, MasterRunner):
        return
    _ROSTER.settle(_present(runner), stopping_wall)
    result["workers"] = _ROSTER.block()
    lost = _ROSTER.lost
    if lost:
        result["partial"] = True
        for record in lost:
            result.setdefault("notes", []).append(
                f"worker {record.worker_id} was lost: {record.lost_reason}"
            )
