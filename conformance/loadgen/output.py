"""What the master (or the single local process) writes: the result, snapshots, progress.

``--result-json`` is rewritten every few seconds while the run goes on, marked partial
(a snapshot of the raw aggregate, turned into a result by
:func:`~conformance.loadgen.result.result_from_snapshot` in another process), and a last
time when it ends, judged: an interrupted or crashed run still leaves what it measured.
Beside it, a small progress file is rewritten every second for the live progress line.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent
import orjson
from locust.env import Environment
from locust.runners import MasterRunner

from conformance.loadgen import workers as worker_roster
from conformance.loadgen.process import ProcessState, process_state
from conformance.loadgen.result import (
    build_result,
    progress_path,
    write_bytes_atomic,
    write_json_atomic,
)
from conformance.loadgen.verdict import judge

if TYPE_CHECKING:
    from conformance.providers import Provider

__all__ = [
    "SNAPSHOT_EVERY_S",
    "progress",
    "result",
    "snapshot_bytes",
    "snapshot_loop",
    "write_progress",
    "write_result",
]

log = logging.getLogger("conformance.loadgen")

#: seconds between snapshots of everything measured (a crash of the master loses at most this)
SNAPSHOT_EVERY_S = 5


def _meta(state: ProcessState, *, final: bool) -> dict[str, Any] | None:
    """The keyword arguments of :func:`build_result` other than the aggregate."""
    if state.started_wall is None:
        return None
    opts = state.options
    environment = state.environment
    now = state.stopped_wall if state.stopped_wall is not None else time.time()
    run_time = state.run_time()
    began = min(state.created_wall, state.started_wall)
    stopped_early = run_time is not None and (now - began) < run_time - 1.0
    users = state.parsed("num_users")
    open_loop = opts.rate > 0 and any(
        cls.__name__ == "OpenLoopUser" for cls in environment.user_classes
    )
    stream: bool | None = opts.stream
    provider: Provider | None = None
    for target in state.targets.values():
        stream = target.stream
        provider = target.provider
    if provider is None:  # no user prepared a target yet: the profile the options name
        from conformance.providers import get_provider

        provider = get_provider(
            opts.provider or "openai", base_url=environment.host, model=opts.model
        )
    notes = []
    if len({(t.provider.name, t.stream) for t in state.targets.values()}) > 1:
        stream = None
        notes.append("several user classes ran together: the metrics aggregate all of them")
    if state.worker_lost:
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
        "workers": int(state.parsed("load_worker_count", 1) or 1),
        "duration_s": run_time,
        "warmup_s": opts.warmup_s,
        "started_wall": state.started_wall,
        "stopped_wall": now,
        "stopping_wall": state.stopping_wall,
        "partial": (not final) or state.worker_lost or stopped_early,
        "true_ttft_ms": opts.true_ttft_ms,
        "true_itl_ms": opts.true_itl_ms,
        "notes": notes,
        "worker_windows_s": sorted(state.worker_windows.values()),
    }


def result(state: ProcessState) -> dict[str, Any] | None:
    """The finished bench result, judged (``None`` before the run started)."""
    meta = _meta(state, final=True)
    if meta is None:
        return None
    data = build_result(state.aggregate, **meta)
    worker_roster.annotate(state.environment, data, state.stopping_wall)
    judge(data, state.options.max_failure_rate)
    return data


def progress(state: ProcessState) -> dict[str, Any] | None:
    """A few figures for a progress line (cheap: counters and one percentile)."""
    if state.started_wall is None:
        return None
    agg = state.aggregate
    elapsed = time.time() - state.started_wall
    warm = state.options.warmup_s
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


def snapshot_bytes(state: ProcessState) -> bytes | None:
    """Everything measured so far, as JSON, made in small steps between other greenlets.

    The raw aggregate (encoded histograms, samples) with the result's metadata and, on a
    master, its roster of workers (``workers``);
    :func:`conformance.loadgen.result.result_from_snapshot` turns it into a partial
    bench result in another process. The samples are serialised one list at a time,
    yielding in between, so no step holds the event loop for long.
    """
    meta = _meta(state, final=False)
    if meta is None:
        return None
    pause = lambda: gevent.sleep(0)  # noqa: E731
    raw = state.aggregate.to_wire(pause=pause)
    # read with the aggregate's counts, no pause between: the workers' sum to the run's
    workers = worker_roster.snapshot_block(state.environment)
    samples = {}
    for name, wire in raw["samples"].items():
        samples[name] = orjson.Fragment(orjson.dumps(wire))
        pause()
    raw["samples"] = samples
    snapshot: dict[str, Any] = {"final": False, "snapshot": True, "meta": meta, "raw": raw}
    if workers is not None:
        snapshot["workers"] = workers
    return orjson.dumps(snapshot)


def write_result(state: ProcessState, *, final: bool) -> None:
    """Write the result (final) or a snapshot to ``--result-json`` (if given)."""
    path = state.options.result_json
    if not path:
        return
    if final:
        data = result(state)
        if data is not None:
            if data["verdict"]["status"] != "passed":
                # plain `locust -f ...` exits 1 too (conformance bench judges the file)
                state.environment.process_exit_code = 1
                state.log_error(f"bench failed: {data['verdict']['reason']}")
            data["final"] = True
            write_json_atomic(path, data)
            progress_path(path).unlink(missing_ok=True)
        return
    payload = snapshot_bytes(state)
    if payload is not None:
        write_bytes_atomic(path, payload)


def write_progress(state: ProcessState) -> None:
    """Write the progress figures beside ``--result-json`` (if given)."""
    path = state.options.result_json
    data = progress(state)
    if path and data is not None:
        write_bytes_atomic(progress_path(path), orjson.dumps(data))


def snapshot_loop(environment: Environment) -> None:
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
            write_progress(state)
            if tick % SNAPSHOT_EVERY_S == 0:
                write_result(state, final=False)
        except Exception:  # a snapshot must never stop the run
            log.exception("could not write the result snapshot")
