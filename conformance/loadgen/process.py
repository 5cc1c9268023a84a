"""What one load-generating process shares between its users: options, targets, the window.

Every Locust process (the single local one, the master, each worker) keeps one
:class:`ProcessState`. Its users take their prepared :class:`~conformance.loadgen.target.Target`
and the run's options from it and record each request in its aggregate
(:class:`~conformance.metrics.RunAggregate`, exact timings); the measuring window and the
run's wall-clock marks live here too. What is written out is in
:mod:`~conformance.loadgen.output`; the Locust event hooks in :mod:`~conformance.loadgen.plugin`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner

from conformance.errors import ConfigError
from conformance.loadgen.locust_stats import LocustStats
from conformance.loadgen.options import LoadOptions
from conformance.loadgen.prompts import load_prompts, synthetic_prompts
from conformance.loadgen.target import Target
from conformance.metrics import RequestTiming, RunAggregate, Window

__all__ = ["SYNTHETIC_PROMPTS", "ProcessState", "current_state", "process_state"]

log = logging.getLogger("conformance.loadgen")

#: how many synthetic prompts are encoded up front (sent round robin)
SYNTHETIC_PROMPTS = 256


class ProcessState:
    """What one load-generating process shares between its users."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.options = LoadOptions.from_parsed(environment.parsed_options)
        self.aggregate = RunAggregate(seed=self.options.seed)
        self.window = Window(time.time(), self.options.warmup_s, self.run_time())
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
        #: on a master: how long each worker counted completions (its last delta says)
        self.worker_windows: dict[str, float] = {}
        #: the prepared targets, by (provider, streamed, base URL)
        self.targets: dict[tuple[str, bool, str], Target] = {}
        self._drivers = 0
        self._stats = LocustStats(environment.events.request.fire)
        self._errors_logged: set[str] = set()

    # -- configuration ---------------------------------------------------------------

    def parsed(self, name: str, default: Any = None) -> Any:
        """A parsed command-line option (``default`` when absent or unset)."""
        parsed = self.environment.parsed_options
        value = getattr(parsed, name, None) if parsed is not None else None
        return default if value is None else value

    def run_time(self) -> float | None:
        """The run's duration in seconds (``None``: until stopped)."""
        hidden = self.parsed("load_run_time")
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
        target = self.targets.get(key)
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
                stream_usage=opts.stream_usage,
                conversations=conversations,
                api_key=opts.api_key(profile.api_key_env),
            )
            self.targets[key] = target
        return target

    def driver_slot(self) -> tuple[int, int]:
        """(index, count) of an open-loop driver among all drivers of the run."""
        local = self._drivers
        self._drivers += 1
        runner = self.environment.runner
        worker = (
            int(getattr(runner, "worker_index", 0) or 0) if isinstance(runner, WorkerRunner) else 0
        )
        processes = max(1, int(self.parsed("load_worker_count", 1)))
        drivers = max(1, int(self.parsed("load_users", 0) or self.parsed("num_users", 1) or 1))
        return (worker + local * processes) % drivers, drivers

    def log_error(self, message: str) -> None:
        """Log a configuration problem once."""
        if message not in self._errors_logged:
            self._errors_logged.add(message)
            log.error(message)

    # -- the run ------------------------------------------------------------------------

    def start(self) -> None:
        """The load starts: a fresh aggregate and window, the clocks read anew."""
        now = time.time()
        self.started_wall = now
        self.stopped_wall = None
        self.stopping_wall = None
        self.aggregate = RunAggregate(seed=self.options.seed)
        self.window = Window(now, self.options.warmup_s, self.run_time())
        self.cpu_start = time.process_time()
        self.finals = set()
        self.worker_windows = {}

    def stopping(self) -> None:
        """The load stops (no new request from now on): the window ends here.

        The window ends when the load stops, not when the last in-flight request drains:
        a window that ends on a completion always holds one more completion per user than
        a window of the same length placed at random (requests/s read 2-4 % high at 1 user).
        """
        if self.started_wall is None or self.stopping_wall is not None:
            return
        now = time.time()
        self.stopping_wall = now
        if self.window.end is None or now < self.window.end:
            self.window.end = now

    def own_window_s(self) -> float:
        """How long this process counted completions: from the end of its warm-up to the
        end of its window (now, if the load has not begun to stop)."""
        end = self.window.end if self.window.end is not None else time.time()
        return max(0.0, min(end, time.time()) - self.window.measure_from)

    def add_cpu(self) -> None:
        """Count this process's CPU time since the load started."""
        self.aggregate.cpu_s += time.process_time() - self.cpu_start

    # -- recording ---------------------------------------------------------------------

    def record(
        self, target: Target, timing: RequestTiming, send_wall: float, done_wall: float, size: int
    ) -> None:
        """Record one request and show it in Locust's own statistics."""
        self.aggregate.record(timing, send_wall, done_wall, self.window)
        self._stats.report(target.name, timing, send_wall, done_wall, size)

    def take_delta(self) -> dict[str, Any]:
        """Everything recorded since the last call, as sent to the master."""
        delta = self.aggregate.to_wire()
        self.aggregate = RunAggregate(seed=self.options.seed)
        return delta


_STATE: ProcessState | None = None


def process_state(environment: Environment) -> ProcessState:
    """This process's state (created on first use)."""
    global _STATE
    if _STATE is None or _STATE.environment is not environment:
        _STATE = ProcessState(environment)
    return _STATE


def current_state() -> ProcessState | None:
    """This process's state if one was made (``None`` before Locust's init)."""
    return _STATE
