"""Locust event hooks: options, per-process aggregation, worker-to-master merging, results.

Importing this module registers the hooks on Locust's global ``events`` (once per
process). Every load-generating process keeps one :class:`ProcessState`; its aggregate
holds exact timings (:class:`~conformance.metrics.RunAggregate`). Workers send it to the
master as deltas with every Locust stats report (``events.report_to_master`` /
``events.worker_report``) and once more when they stop (a ``conformance_stats`` message),
so the master holds everything by the time the run ends. The master (or the single local
process) rewrites ``--result-json`` every second while the run goes on, marked partial,
and a last time when it ends: an interrupted or crashed run still leaves what it measured.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import gevent
import orjson
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from conformance.errors import ConfigError
from conformance.loadgen.options import LoadOptions, add_arguments
from conformance.loadgen.prompts import load_prompts, synthetic_prompts
from conformance.loadgen.result import (
    build_result,
    progress_path,
    write_bytes_atomic,
    write_json_atomic,
)
from conformance.loadgen.target import Target
from conformance.loadgen.verdict import judge
from conformance.metrics import RequestTiming, RunAggregate, Window

__all__ = ["ProcessState", "process_state"]

log = logging.getLogger("conformance.loadgen")

#: how many synthetic prompts are encoded up front (sent round robin)
SYNTHETIC_PROMPTS = 256
#: message type of a worker's last delta
_FINAL_MESSAGE = "conformance_stats"
#: message type of the master's request to a worker: stop your users, send your last delta
_DRAIN_MESSAGE = "conformance_drain"


class _Failure(Exception):
    """A failed request as Locust's error table shows it: the error kind only."""


class ProcessState:
    """What one load-generating process shares between its users."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.options = LoadOptions.from_parsed(environment.parsed_options)
        self.aggregate = RunAggregate(seed=self.options.seed)
        self.window = Window(time.time(), self.options.warmup_s, self._run_time())
        #: when this process set up (Locust's run-time clock starts soon after, before
        #: test_start: what the run's start-up takes is not the run being cut short)
        self.created_wall = time.time()
        self.started_wall: float | None = None
        self.stopped_wall: float | None = None
        #: when the run began to stop (no new request after it): the end of the window
        self.stopping_wall: float | None = None
        self.worker_lost = False
        self.cpu_start = time.process_time()
        #: workers whose last delta (sent when they stop) has arrived
        self.finals: set[str] = set()
        self._targets: dict[tuple[str, bool, str], Target] = {}
        self._drivers = 0
        self._fire = environment.events.request.fire
        self._errors_logged: set[str] = set()

    # -- configuration ---------------------------------------------------------------

    def _parsed(self, name: str, default: Any = None) -> Any:
        parsed = self.environment.parsed_options
        value = getattr(parsed, name, None) if parsed is not None else None
        return default if value is None else value

    def _run_time(self) -> float | None:
        hidden = self._parsed("load_run_time")
        if hidden:
            return float(hidden)
        return self.options.run_time_s

    @property
    def drain_s(self) -> float:
        """How long in-flight requests may finish after the run stops."""
        return float(self.environment.stop_timeout or 0.0)

    def target(self, provider_name: str | None, stream: bool | None, host: str | None) -> Target:
        """The prepared target for a user class (built once per process)."""
        opts = self.options
        name = provider_name or opts.provider or "openai"
        streamed = opts.stream if stream is None else stream
        base = host or self.environment.host
        if not base:
            raise ConfigError("no target: give --host (the API's base URL)")
        key = (name, streamed, base)
        target = self._targets.get(key)
        if target is None:
            if opts.prompts_file:
                conversations = load_prompts(opts.prompts_file)
            else:
                conversations = synthetic_prompts(
                    opts.prompt_length, SYNTHETIC_PROMPTS, seed=opts.seed
                )
            from conformance.providers import get_provider

            profile = get_provider(name)
            target = Target(
                name,
                base,
                model=opts.model,
                stream=streamed,
                max_tokens=opts.max_tokens,
                length_param=opts.length_param,
                conversations=conversations,
                api_key=opts.api_key(profile.api_key_env),
            )
            self._targets[key] = target
        return target

    def driver_slot(self) -> tuple[int, int]:
        """(index, count) of an open-loop driver among all drivers of the run."""
        local = self._drivers
        self._drivers += 1
        runner = self.environment.runner
        worker = (
            int(getattr(runner, "worker_index", 0) or 0) if isinstance(runner, WorkerRunner) else 0
        )
        processes = max(1, int(self._parsed("load_worker_count", 1)))
        drivers = max(1, int(self._parsed("load_users", 0) or self._parsed("num_users", 1) or 1))
        return (worker + local * processes) % drivers, drivers

    def log_error(self, message: str) -> None:
        """Log a configuration problem once."""
        if message not in self._errors_logged:
            self._errors_logged.add(message)
            log.error(message)

    # -- recording ---------------------------------------------------------------------

    def record(
        self, target: Target, timing: RequestTiming, send_wall: float, done_wall: float, size: int
    ) -> None:
        """Record one request and show it in Locust's own statistics."""
        self.aggregate.record(timing, send_wall, done_wall, self.window)
        fire = self._fire
        name = target.name
        if timing.error is not None:
            elapsed = (done_wall - send_wall) * 1000.0
            fire(
                request_type="POST",
                name=name,
                response_time=elapsed,
                response_length=size,
                exception=_Failure(str(timing.error)),
                context={},
            )
            return
        e2e = timing.e2e_ns
        fire(
            request_type="POST",
            name=name,
            response_time=(e2e if e2e is not None else 0) / 1e6,
            response_length=size,
            exception=None,
            context={},
        )
        if timing.ttft_ns is not None:
            fire(
                request_type="TTFT",
                name=name,
                response_time=timing.ttft_ns / 1e6,
                response_length=0,
                exception=None,
                context={},
            )
        mean_itl = timing.mean_itl_ns
        if mean_itl is not None:
            fire(
                request_type="ITL",
                name=name,
                response_time=mean_itl / 1e6,
                response_length=0,
                exception=None,
                context={},
            )
        tpot = timing.tpot_ns
        if tpot is not None:
            fire(
                request_type="TPOT",
                name=name,
                response_time=tpot / 1e6,
                response_length=0,
                exception=None,
                context={},
            )

    def take_delta(self) -> dict[str, Any]:
        """Everything recorded since the last call, as sent to the master."""
        delta = self.aggregate.to_wire()
        self.aggregate = RunAggregate(seed=self.options.seed)
        return delta

    # -- results (master or local process) ------------------------------------------------

    def _meta(self, *, final: bool) -> dict[str, Any] | None:
        """The keyword arguments of :func:`build_result` other than the aggregate."""
        if self.started_wall is None:
            return None
        opts = self.options
        now = self.stopped_wall if self.stopped_wall is not None else time.time()
        run_time = self._run_time()
        began = min(self.created_wall, self.started_wall)
        stopped_early = run_time is not None and (now - began) < run_time - 1.0
        users = self._parsed("num_users")
        from conformance.providers import get_provider

        provider = get_provider(
            opts.provider or "openai", base_url=self.environment.host, model=opts.model
        )
        open_loop = opts.rate > 0 and any(
            cls.__name__ == "OpenLoopUser" for cls in self.environment.user_classes
        )
        stream: bool | None = opts.stream
        for target in self._targets.values():
            stream = target.stream
            provider = target.provider
        notes = []
        if len({(t.provider.name, t.stream) for t in self._targets.values()}) > 1:
            stream = None
            notes.append("several user classes ran together: the metrics aggregate all of them")
        if self.worker_lost:
            notes.append("a worker process was lost during the run; its last seconds are missing")
        if final and stopped_early:
            notes.append("the run was stopped before its duration")
        return {
            "provider": provider.name,
            "base_url": provider.base_url,
            "model": provider.model,
            "stream": stream,
            "users": int(users) if users is not None else None,
            "rate": opts.rate if open_loop else None,
            "arrival": str(opts.arrival) if open_loop else None,
            "workers": int(self._parsed("load_worker_count", 1) or 1),
            "duration_s": run_time,
            "warmup_s": opts.warmup_s,
            "started_wall": self.started_wall,
            "stopped_wall": now,
            "stopping_wall": self.stopping_wall,
            "partial": (not final) or self.worker_lost or stopped_early,
            "true_ttft_ms": opts.true_ttft_ms,
            "true_itl_ms": opts.true_itl_ms,
            "notes": notes,
        }

    def result(self) -> dict[str, Any] | None:
        """The finished bench result, judged (``None`` before the run started)."""
        meta = self._meta(final=True)
        if meta is None:
            return None
        data = build_result(self.aggregate, **meta)
        judge(data, self.options.max_failure_rate)
        return data

    def progress(self) -> dict[str, Any] | None:
        """A few figures for a progress line (cheap: counters and one percentile)."""
        if self.started_wall is None:
            return None
        agg = self.aggregate
        elapsed = time.time() - self.started_wall
        warm = self.options.warmup_s
        window = max(elapsed - warm, 1e-9)
        counts = agg.counts
        succeeded = counts["window_requests"] - counts["window_failures"]
        return {
            "elapsed_s": round(elapsed, 3),
            "requests": counts["requests"],
            "failures": counts["failures"],
            "warmup_requests": counts["warmup_requests"],
            # throughput counts successful requests only
            "requests_per_s": round(succeeded / window, 3) if elapsed > warm else 0.0,
            "output_tokens_per_s": round(counts["window_output_tokens"] / window, 3)
            if elapsed > warm
            else 0.0,
            "ttft_p50_ms": agg.hists["ttft"].percentile_ms(50),
        }

    def snapshot_bytes(self) -> bytes | None:
        """Everything measured so far, as JSON, made in small steps between other greenlets.

        The raw aggregate (encoded histograms, samples) with the result's metadata;
        :func:`conformance.loadgen.result.result_from_snapshot` turns it into a partial
        bench result in another process. The samples are serialised one list at a time,
        yielding in between, so no step holds the event loop for long.
        """
        meta = self._meta(final=False)
        if meta is None:
            return None
        pause = lambda: gevent.sleep(0)  # noqa: E731
        raw = self.aggregate.to_wire(pause=pause)
        samples = {}
        for name, wire in raw["samples"].items():
            samples[name] = orjson.Fragment(orjson.dumps(wire))
            pause()
        raw["samples"] = samples
        return orjson.dumps({"final": False, "snapshot": True, "meta": meta, "raw": raw})

    def write(self, *, final: bool) -> None:
        """Write the result (final) or a snapshot to ``--result-json`` (if given)."""
        path = self.options.result_json
        if not path:
            return
        if final:
            data = self.result()
            if data is not None:
                if data["verdict"]["status"] != "passed":
                    # plain `locust -f ...` exits 1 too (conformance bench judges the file)
                    self.environment.process_exit_code = 1
                    self.log_error(f"bench failed: {data['verdict']['reason']}")
                data["final"] = True
                write_json_atomic(path, data)
                progress_path(path).unlink(missing_ok=True)
            return
        payload = self.snapshot_bytes()
        if payload is not None:
            write_bytes_atomic(path, payload)

    def write_progress(self) -> None:
        """Write the progress figures beside ``--result-json`` (if given)."""
        path = self.options.result_json
        data = self.progress()
        if path and data is not None:
            write_bytes_atomic(progress_path(path), orjson.dumps(data))


_STATE: ProcessState | None = None


def process_state(environment: Environment) -> ProcessState:
    """This process's state (created on first use)."""
    global _STATE
    if _STATE is None or _STATE.environment is not environment:
        _STATE = ProcessState(environment)
    return _STATE


# -- Locust hooks ---------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    add_arguments(parser)
    import argparse

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
        gevent.spawn(_snapshots, environment)
    # The event loop caches "now" between iterations, and none has run since gevent was
    # imported: Locust's --run-time timer, created right after this, would count the
    # seconds of start-up (imports, prompt encoding) as run time and end the run early.
    gevent.get_hub().loop.update_now()


def _on_final_message(environment: Environment, msg: Any, **_kw: Any) -> None:
    state = process_state(environment)
    state.aggregate.merge_wire(msg.data)
    state.finals.add(str(msg.node_id))


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
    if _STATE is not None:
        data["conformance"] = _STATE.take_delta()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if _STATE is not None and "conformance" in data:
        _STATE.aggregate.merge_wire(data["conformance"])


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    # A full garbage collection walks every object Locust and gevent hold (60 ms and
    # more, a stall every arrival and stream would see). Collect once now and freeze
    # the survivors, so collections during the run only look at what the run creates.
    gc.collect()
    gc.freeze()
    state = process_state(environment)
    now = time.time()
    state.started_wall = now
    state.stopped_wall = None
    state.stopping_wall = None
    state.aggregate = RunAggregate(seed=state.options.seed)
    state.window = Window(now, state.options.warmup_s, state._run_time())
    state.cpu_start = time.process_time()
    state.finals = set()


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_kw: Any) -> None:
    # The window ends when the load stops, not when the last in-flight request drains:
    # a window that ends on a completion always holds one more completion per user than
    # a window of the same length placed at random (requests/s read 2-4 % high at 1 user).
    state = process_state(environment)
    if state.started_wall is None or state.stopping_wall is not None:
        return
    now = time.time()
    state.stopping_wall = now
    if state.window.end is None or now < state.window.end:
        state.window.end = now


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    state = process_state(environment)
    runner = environment.runner
    state.aggregate.cpu_s += time.process_time() - state.cpu_start
    if isinstance(runner, WorkerRunner):
        runner.send_message(_FINAL_MESSAGE, state.take_delta())
        return
    state.stopped_wall = time.time()
    if isinstance(runner, MasterRunner):
        _await_finals(environment, runner, state)
    state.write(final=True)


@events.quit.add_listener
def _on_quit(**_kw: Any) -> None:
    state = _STATE
    if state is None or isinstance(state.environment.runner, WorkerRunner):
        return
    if state.stopped_wall is None:
        state.stopped_wall = time.time()
    state.write(final=True)


#: seconds between snapshots of everything measured (a crash of the master loses at most this)
SNAPSHOT_EVERY_S = 5


def _snapshots(environment: Environment) -> None:
    """While the run goes on: progress every second, a full snapshot every few seconds."""
    tick = 0
    while True:
        gevent.sleep(1.0)
        tick += 1
        state = process_state(environment)
        runner = environment.runner
        if isinstance(runner, MasterRunner) and runner.clients.missing:
            state.worker_lost = True
        if state.started_wall is None or state.stopped_wall is not None:
            continue
        try:
            state.write_progress()
            if tick % SNAPSHOT_EVERY_S == 0:
                state.write(final=False)
        except Exception:  # a snapshot must never stop the run
            log.exception("could not write the result snapshot")
