"""Per-run aggregation of request timings, mergeable across processes.

Each load-generating process keeps a :class:`RunAggregate`; workers send theirs to the
master as deltas (:meth:`RunAggregate.to_wire`, then start afresh) and the master folds
them in (:meth:`RunAggregate.merge_wire`). Nothing is rounded on the way: histograms keep
microseconds to three significant digits.

The measurement window is ``[start + warmup, end]``. Latency statistics (and the
``requests``/``failures`` counts) use every request *sent* after the warm-up, including
those that finish while the run drains; requests sent during the warm-up are counted
apart. Throughput (requests/s, output tokens/s) counts the *successful* requests that
*completed* inside the window, whenever they were sent, divided by its length; failed
requests have figures of their own (``failed_requests_per_s``, ``failure_rate``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from conformance.metrics import definitions
from conformance.metrics.histogram import LatencyHistogram, Summary, summarize_values
from conformance.metrics.reservoir import Reservoir
from conformance.metrics.timing import RequestTiming

__all__ = ["RunAggregate", "Window"]

#: per-request calibration errors kept as samples (signed, so not in histograms)
_CALIBRATION = ("ttft_error", "itl_error", "true_ttft", "true_itl")
_COUNTERS = (
    "requests",
    "failures",
    "warmup_requests",
    "warmup_failures",
    "window_requests",
    "window_failures",
    "window_output_tokens",
    "output_tokens",
    "usage_fallback",
    "over_capacity",
)


class Window:
    """The measurement window of one process, in wall-clock seconds (``time.time()``)."""

    __slots__ = ("end", "measure_from", "start")

    def __init__(self, start: float, warmup_s: float, duration_s: float | None) -> None:
        self.start = start
        self.measure_from = start + warmup_s
        self.end = None if duration_s is None else start + duration_s


class RunAggregate:
    """Counters, histograms, samples and a one-second time series for a run."""

    def __init__(self, *, sample_capacity: int = 5000, seed: int = 0) -> None:
        self.counts: Counter[str] = Counter()
        #: failures by kind (:attr:`RequestTiming.error_key`) after the warm-up
        self.errors: Counter[str] = Counter()
        #: the same for requests sent during the warm-up (left out of every statistic)
        self.warmup_errors: Counter[str] = Counter()
        #: the distributions and samples recorded, as declared in :mod:`.definitions`
        self.distributions = definitions.DISTRIBUTIONS
        self.sample_defs = definitions.SAMPLES
        self.hists: dict[str, LatencyHistogram] = {
            d.name: LatencyHistogram() for d in self.distributions
        }
        names = [s.name for s in self.sample_defs] + list(_CALIBRATION)
        self.samples: dict[str, Reservoir] = {
            n: Reservoir(sample_capacity, seed + i) for i, n in enumerate(names)
        }
        # what :meth:`record` does per request, resolved once: each figure's reader paired
        # with the histogram or sample it feeds (no name lookups per request)
        self._hist_feeds = tuple((d.record, self.hists[d.name]) for d in self.distributions)
        self._sample_feeds = tuple(
            (s.per_request, self.samples[s.name])
            for s in self.sample_defs
            if s.per_request is not None
        )
        self._every_feeds = tuple(
            (s.every_ns, self.samples[s.name]) for s in self.sample_defs if s.every_ns is not None
        )
        #: completion second (epoch) -> [requests, failures, output_tokens, ttft, e2e]
        self.series: dict[int, list[Any]] = {}
        self.first_send_wall: float | None = None
        self.last_done_wall: float | None = None
        #: CPU seconds the load-generating processes spent during the run (summed)
        self.cpu_s = 0.0
        #: encoded histograms of time-series rows that have not changed since
        self._encoded_rows: dict[int, tuple[str, str]] = {}
        self._seed = seed

    # -- recording -----------------------------------------------------------------

    def record(self, t: RequestTiming, send_wall: float, done_wall: float, window: Window) -> None:
        """Record one finished request that was sent at ``send_wall`` and ended at ``done_wall``."""
        if self.first_send_wall is None or send_wall < self.first_send_wall:
            self.first_send_wall = send_wall
        if self.last_done_wall is None or done_wall > self.last_done_wall:
            self.last_done_wall = done_wall
        ok = t.error is None
        second = int(done_wall)
        self._encoded_rows.pop(second, None)
        row = self.series.get(second)
        if row is None:
            row = self.series[second] = [0, 0, 0, LatencyHistogram(2), LatencyHistogram(2)]
        row[0] += 1
        if not ok:
            row[1] += 1
        else:
            row[2] += t.output_tokens
            if t.ttft_ns is not None:
                row[3].record_ns(t.ttft_ns)
            if t.e2e_ns is not None:
                row[4].record_ns(t.e2e_ns)
        counts = self.counts
        # throughput: what completed inside the window, whenever it was sent
        in_window = done_wall >= window.measure_from and (
            window.end is None or done_wall <= window.end
        )
        if in_window:
            counts["window_requests"] += 1
            if ok:
                counts["window_output_tokens"] += t.output_tokens
            else:
                counts["window_failures"] += 1
        # latency: what was sent after the warm-up
        if send_wall < window.measure_from:
            counts["warmup_requests"] += 1
            if not ok:
                counts["warmup_failures"] += 1
                self.warmup_errors[t.error_key or ""] += 1
            return
        counts["requests"] += 1
        if not ok:
            counts["failures"] += 1
            self.errors[t.error_key or ""] += 1
            return
        counts["output_tokens"] += t.output_tokens
        if t.usage_fallback:
            counts["usage_fallback"] += 1
        for read, hist in self._hist_feeds:
            values = read(t)
            if values:
                hist.record_many_ns(values)
        for per_request, sample in self._sample_feeds:
            value = per_request(t)
            if value is not None:
                sample.add(value)
        for every_ns, sample in self._every_feeds:
            every = every_ns(t)
            if every:
                # every value is offered; only those kept are converted (none, mostly, once full)
                sample.add_many(every, 1e-6)
        samples = self.samples
        if t.true_ttft_ms is not None and t.ttft_ns is not None:
            samples["true_ttft"].add(t.true_ttft_ms)
            samples["ttft_error"].add(t.ttft_ns / 1e6 - t.true_ttft_ms)
        if t.true_itl_ms is not None and t.itl_ns:
            samples["true_itl"].add(t.true_itl_ms)
            samples["itl_error"].add(sum(t.itl_ns) / len(t.itl_ns) / 1e6 - t.true_itl_ms)

    def record_over_capacity(self) -> None:
        """An open-loop arrival that was not sent because the in-flight cap was reached."""
        self.counts["over_capacity"] += 1

    # -- merging ----------------------------------------------------------------------

    def to_wire(self, pause: Callable[[], None] | None = None) -> dict[str, Any]:
        """A JSON-ready form of everything recorded (sent from a worker to the master).

        ``pause`` is called between the pieces of work, so that a cooperative caller
        (a gevent greenlet) can let others run while a large aggregate is encoded.
        """
        step = pause or (lambda: None)
        hists = {}
        for n, h in self.hists.items():
            if h.count:
                hists[n] = h.encode()
                step()
        series = {}
        for sec, row in self.series.items():
            enc = self._encoded_rows.get(sec)
            if enc is None:
                enc = self._encoded_rows[sec] = (row[3].encode(), row[4].encode())
            series[str(sec)] = [row[0], row[1], row[2], enc[0], enc[1]]
        step()
        return {
            "counts": dict(self.counts),
            "errors": dict(self.errors),
            "warmup_errors": dict(self.warmup_errors),
            "hists": hists,
            "samples": {n: r.to_wire() for n, r in self.samples.items() if r.seen},
            "series": series,
            "first_send_wall": self.first_send_wall,
            "last_done_wall": self.last_done_wall,
            "cpu_s": self.cpu_s,
        }

    def merge_wire(self, data: dict[str, Any]) -> None:
        """Fold in what :meth:`to_wire` produced in another process."""
        self.counts.update({k: int(v) for k, v in data.get("counts", {}).items()})
        self.errors.update({k: int(v) for k, v in data.get("errors", {}).items()})
        self.warmup_errors.update({k: int(v) for k, v in data.get("warmup_errors", {}).items()})
        for name, text in data.get("hists", {}).items():
            if name in self.hists:
                self.hists[name].merge(LatencyHistogram.decode(text))
        for name, wire in data.get("samples", {}).items():
            mine = self.samples.get(name)
            if mine is not None:
                mine.merge(Reservoir.from_wire(wire, mine.capacity, self._seed))
        for sec_text, (req, fail, tok, ttft, e2e) in data.get("series", {}).items():
            sec = int(sec_text)
            self._encoded_rows.pop(sec, None)
            row = self.series.get(sec)
            if row is None:
                row = self.series[sec] = [0, 0, 0, LatencyHistogram(2), LatencyHistogram(2)]
            row[0] += req
            row[1] += fail
            row[2] += tok
            row[3].merge(LatencyHistogram.decode(ttft, 2))
            row[4].merge(LatencyHistogram.decode(e2e, 2))
        self.cpu_s += float(data.get("cpu_s") or 0.0)
        first, last = data.get("first_send_wall"), data.get("last_done_wall")
        if first is not None and (self.first_send_wall is None or first < self.first_send_wall):
            self.first_send_wall = first
        if last is not None and (self.last_done_wall is None or last > self.last_done_wall):
            self.last_done_wall = last

    def merge(self, other: RunAggregate) -> None:
        """Fold in another aggregate of this process."""
        self.merge_wire(other.to_wire())

    # -- results ------------------------------------------------------------------------

    def metrics_block(self, window_s: float, *, open_loop: bool) -> dict[str, Any]:
        """The ``metrics`` object of the bench result for a window of ``window_s`` seconds.

        Throughput counts successful requests only: ``requests_per_s`` (and its explicit
        twin ``successful_requests_per_s``) and ``output_tokens_per_s``. Failed requests
        have ``failed_requests_per_s``, ``failed_requests`` and ``failure_rate``
        (failed / sent after the warm-up; ``None`` when none was sent).
        """
        c = self.counts
        window_s = max(window_s, 1e-9)
        succeeded_in_window = c["window_requests"] - c["window_failures"]
        out: dict[str, Any] = {
            "requests": c["requests"],
            "failures": c["failures"],
            "successful_requests": c["requests"] - c["failures"],
            "failed_requests": c["failures"],
            "failure_rate": round(c["failures"] / c["requests"], 6) if c["requests"] else None,
            "requests_per_s": round(succeeded_in_window / window_s, 3),
            "failed_requests_per_s": round(c["window_failures"] / window_s, 3),
            "output_tokens_per_s": round(c["window_output_tokens"] / window_s, 3),
        }
        for d in self.distributions:
            if not d.open_loop_only:
                out[d.result_key] = self.hists[d.name].summary()
        out |= {
            "successful_requests_per_s": round(succeeded_in_window / window_s, 3),
            "output_tokens": c["output_tokens"],
            "warmup_requests": c["warmup_requests"],
            "warmup_failures": c["warmup_failures"],
            "window_requests": c["window_requests"],
            "usage_fallback_requests": c["usage_fallback"],
        }
        if open_loop:
            for d in self.distributions:
                if d.open_loop_only:
                    out[d.result_key] = self.hists[d.name].summary()
            out["over_capacity"] = c["over_capacity"]
        return out

    def calibration_samples(self) -> dict[str, Summary]:
        """Summaries of the per-request truth and error samples (empty when none)."""
        return {n: summarize_values(self.samples[n].values) for n in _CALIBRATION}

    def sample_values(self) -> dict[str, list[float]]:
        """The samples, in ms, rounded to the microsecond (``itl_gap_ms``: every gap)."""
        return {
            f"{s.name}_ms": [round(v, 3) for v in self.samples[s.name].values]
            for s in self.sample_defs
        }

    def timeseries(self, start_wall: float) -> list[dict[str, Any]]:
        """One row per second of completions, ``t_s`` counted from ``start_wall``.

        ``requests`` counts every completion of that second, ``successful`` and
        ``failures`` split it (throughput over time is the ``successful`` column).
        """
        rows = []
        base = int(start_wall)
        for sec in sorted(self.series):
            req, fail, tok, ttft, e2e = self.series[sec]
            rows.append(
                {
                    "t_s": sec - base,
                    "requests": req,
                    "successful": req - fail,
                    "failures": fail,
                    "output_tokens": tok,
                    "ttft_p50_ms": ttft.percentile_ms(50),
                    "e2e_p50_ms": e2e.percentile_ms(50),
                }
            )
        return rows
