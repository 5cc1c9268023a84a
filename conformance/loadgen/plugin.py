"""Locust event hooks: options, per-process aggregation, worker-to-master merging, results.

Importing this module registers the hooks on Locust's global ``events`` (once per
process). Every load-generating process keeps one
:class:`~conformance.loadgen.process.ProcessState`; its aggregate holds exact timings
(:class:`~conformance.metrics.RunAggregate`). Workers send it to the master as deltas
with every Locust stats report (``events.report_to_master`` / ``events.worker_report``)
and once more when they stop (a ``conformance_stats`` message), so the master holds
everything by the time the run ends. The master (or the single local process) writes
``--result-json`` while the run goes on and when it ends (:mod:`~conformance.loadgen.output`).
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from conformance.loadgen import workers as worker_roster
from conformance.loadgen.options import LoadOptions, add_arguments
from conformance.loadgen.output import snapshot_loop, write_result
from conformance.loadgen.process import ProcessState, current_state, process_state

__all__: list[str] = []  # importing the module is its use: it registers the hooks

#: message type of a worker's last delta
_FINAL_MESSAGE = "conformance_stats"
#: message type of the master's request to a worker: stop your users, send your last delta
_DRAIN_MESSAGE = "conformance_drain"


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    add_arguments(parser)
    for hidden in ("--load-worker-count", "--load-users", "--load-run-time"):
        parser.add_argument(hidden, type=float, default=None, help=argparse.SUPPRESS)


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    parsed = environment.parsed_options
    if parsed is not None and not isinstance(runner, WorkerRunner):
        # hand the numbers workers need but Locust does not send them
        workers = getattr(parsed, "processes", None) or getattr(parsed, "expect_workers", None)
        parsed.load_worker_count = (
            float(workers) if isinstance(runner, MasterRunner) and workers else 1.0
        )
        parsed.load_users = float(getattr(parsed, "num_users", 0) or 0) or None
        run_time = LoadOptions.from_parsed(parsed).run_time_s
        parsed.load_run_time = run_time
    state = process_state(environment)
    if isinstance(runner, MasterRunner):
        runner.register_message(_FINAL_MESSAGE, _on_final_message)
    if isinstance(runner, WorkerRunner):
        # handled on a greenlet of its own, so the worker still hears "quit" meanwhile
        runner.register_message(_DRAIN_MESSAGE, _on_drain_message, concurrent=True)
    if not isinstance(runner, WorkerRunner) and state.options.result_json:
        gevent.spawn(snapshot_loop, environment)
    # The event loop caches "now" between iterations, and none has run since gevent was
    # imported: Locust's --run-time timer, created right after this, would count the
    # seconds of start-up (imports, prompt encoding) as run time and end the run early.
    gevent.get_hub().loop.update_now()


def _on_final_message(environment: Environment, msg: Any, **_kw: Any) -> None:
    state = process_state(environment)
    state.aggregate.merge_wire(msg.data)
    state.finals.add(str(msg.node_id))
    window = msg.data.get("window_s") if isinstance(msg.data, dict) else None
    if isinstance(window, int | float):
        state.worker_windows[str(msg.node_id)] = float(window)
    worker_roster.master_received(msg.node_id, msg.data, final=True)


def _on_drain_message(environment: Environment, msg: Any, **_kw: Any) -> None:
    runner = environment.runner
    if runner is not None:
        runner.stop()  # drains the users, then test_stop sends the last delta


def _await_finals(environment: Environment, runner: MasterRunner, state: ProcessState) -> None:
    """Make sure every live worker drained its users and sent its last delta.

    A headless Locust master quits without telling its workers to stop first, and gives
    them half a second before it exits; workers that drain in-flight requests for longer
    would lose what they measured. So the master asks the workers that have not reported
    yet to stop, and waits for their last delta (at most the drain time plus a margin).
    """
    from locust.rpc import Message

    live = {c.id for c in runner.clients.all if c.state != "missing"}
    pending = live - state.finals
    for client_id in pending:
        runner.server.send_to_client(Message(_DRAIN_MESSAGE, None, client_id))
    deadline = time.monotonic() + state.drain_s + 10.0
    while live - state.finals and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if live - state.finals:
        state.worker_lost = True


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    state = current_state()
    if state is not None:
        delta = data["conformance"] = state.take_delta()
        worker_roster.worker_sent(delta, final=False)


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    state = current_state()
    if state is not None and "conformance" in data:
        state.aggregate.merge_wire(data["conformance"])
        worker_roster.master_received(client_id, data["conformance"], final=False)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    # A full garbage collection walks every object Locust and gevent hold (60 ms and
    # more, a stall every arrival and stream would see). Collect once now and freeze
    # the survivors, so collections during the run only look at what the run creates.
    gc.collect()
    gc.freeze()
    state = process_state(environment)
    if isinstance(environment.runner, WorkerRunner):
        # a worker on another machine has its own command line: the master's options
        # (load shape, prompts, target) arrived with the spawn message that started this
        state.options = LoadOptions.from_parsed(environment.parsed_options)
    state.start()


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_kw: Any) -> None:
    process_state(environment).stopping()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    state = process_state(environment)
    runner = environment.runner
    state.add_cpu()
    if isinstance(runner, WorkerRunner):
        delta = state.take_delta()
        # the span this worker counted completions over (its own clock: only the length
        # travels), so the master divides by what was counted (result.measured_window_s)
        delta["window_s"] = state.own_window_s()
        runner.send_message(_FINAL_MESSAGE, delta)
        worker_roster.worker_sent(delta, final=True)
        return
    state.stopped_wall = time.time()
    if isinstance(runner, MasterRunner):
        _await_finals(environment, runner, state)
    write_result(state, final=True)


@events.quit.add_listener
def _on_quit(**_kw: Any) -> None:
    state = current_state()
    if state is None or isinstance(state.environment.runner, WorkerRunner):
        return
    if state.stopped_wall is None:
        state.stopped_wall = time.time()
    write_result(state, final=True)
