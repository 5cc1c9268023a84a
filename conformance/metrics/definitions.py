"""The metrics of a bench run, declared once: the one place to add or change a metric.

Every reader of a metric takes it from here: the aggregate records and summarises the
:data:`DISTRIBUTIONS` and :data:`SAMPLES` from each request's timing, the bench result
file writes the table as its ``metric_definitions`` block (:func:`result_block`), and
the report and the baseline comparison read that block back from the result file (a
report reads results only; for a file written before the block existed it falls back
to this table).

Three kinds of figures:

- a :class:`Distribution` is recorded per successful request into a histogram and
  summarised as mean, p50, p90, p99, count, min and max under ``metrics.<result_key>``;
  the report shows it as a row of the latency table and compares its ``compared``
  percentiles with a baseline (bootstrap over ``samples.<result_key>`` when the run
  kept per-request samples of that name);
- a :class:`Sample` is a per-request value kept in a bounded uniform sample
  (``samples.<name>_ms``), for the bootstrap and the plots;
- a :class:`Rate` is a throughput or failure figure computed from the run's counters
  over the measurement window (its arithmetic lives in
  :meth:`conformance.metrics.aggregate.RunAggregate.metrics_block`); the table gives
  its label, unit, direction and how the comparison resamples it.

Order matters: the result file, the report rows and the comparison follow the order of
:data:`DISTRIBUTIONS`; each sample's seed is its position in :data:`SAMPLES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.metrics.timing import RequestTiming

__all__ = [
    "DISTRIBUTIONS",
    "RATES",
    "SAMPLES",
    "Distribution",
    "Rate",
    "Sample",
    "result_block",
]

#: The percentiles compared with a baseline, by default.
COMPARED_STATS = ("p50", "p90", "p99")


@dataclass(frozen=True)
class Distribution:
    """A per-request figure summarised as a distribution (a latency, or a ratio).

    ``record`` gives the values one successful request adds to the histogram, as
    integers in nanoseconds (a ratio is scaled so that 1.0 is 1 ms); an empty sequence
    adds nothing. ``compared`` lists the percentiles checked against a baseline (empty:
    never compared); ``lower_is_better`` says which way is a regression. ``in_table``
    makes it a row of the report's latency table (shown in ms). ``headline`` lists the
    statistics that get a column in the Markdown summary, ordered by ``headline_rank``.
    ``open_loop_only`` metrics are written for open-loop (rate) runs only.
    """

    name: str
    result_key: str
    label: str
    unit: str
    description: str
    record: Callable[[RequestTiming], Sequence[int]]
    compared: tuple[str, ...] = COMPARED_STATS
    lower_is_better: bool = True
    in_table: bool = True
    headline: tuple[str, ...] = ()
    headline_rank: int = 100
    open_loop_only: bool = False


@dataclass(frozen=True)
class Sample:
    """Per-request values kept as a uniform sample (``samples.<name>_ms`` in the result).

    ``per_request`` gives one value in ms per successful request (``None``: none);
    ``every_ns`` instead offers several values in nanoseconds (each kept value is
    converted to ms).
    """

    name: str
    description: str
    per_request: Callable[[RequestTiming], float | None] | None = None
    every_ns: Callable[[RequestTiming], Sequence[int]] | None = None


@dataclass(frozen=True)
class Rate:
    """A figure over the measurement window (requests/s, tokens/s, a failure share).

    ``buckets`` names the ``timeseries`` column whose one-second values the comparison
    resamples (``"successful"``: completions minus failures); ``None`` for the failure
    rate, which is resampled per request (each one failed or not).
    """

    result_key: str
    label: str
    unit: str
    description: str
    lower_is_better: bool
    buckets: str | None


def _one(value: int | float | None) -> Sequence[int]:
    return () if value is None else (round(value),)


def _ms(value_ns: int | float | None) -> float | None:
    return None if value_ns is None else value_ns / 1e6


def _tokens_per_chunk(t: RequestTiming) -> Sequence[int]:
    tpc = t.tokens_per_chunk
    # a ratio, not a duration: recorded as if 1 token were 1 ms (resolution 0.001 token)
    return () if tpc is None else (round(tpc * 1_000_000),)


#: The distributions of a bench result, in the order the result and the report list them.
DISTRIBUTIONS: tuple[Distribution, ...] = (
    Distribution(
        "ttft",
        "ttft_ms",
        "TTFT",
        "ms",
        "time to first token: from sending the request to the first content token",
        lambda t: _one(t.ttft_ns),
        headline=("p50", "p99"),
        headline_rank=0,
    ),
    Distribution(
        "itl",
        "itl_ms",
        "ITL",
        "ms",
        "inter-token latency: every gap between content events of every request",
        lambda t: t.itl_ns,
        headline=("p50",),
        headline_rank=2,
    ),
    Distribution(
        "tpot",
        "tpot_ms",
        "TPOT",
        "ms",
        "time per output token after the first: (E2E - TTFT) / (output tokens - 1)",
        lambda t: _one(t.tpot_ns),
    ),
    Distribution(
        "e2e",
        "e2e_ms",
        "E2E",
        "ms",
        "end-to-end latency: from sending the request to the end of the response",
        lambda t: _one(t.e2e_ns),
        headline=("p50", "p99"),
        headline_rank=1,
    ),
    Distribution(
        "tokens_per_chunk",
        "tokens_per_chunk",
        "Tokens per chunk",
        "tokens",
        "output tokens per content event (more than 1: the server coalesces tokens)",
        _tokens_per_chunk,
        compared=(),
        in_table=False,
    ),
    Distribution(
        "schedule_delay",
        "schedule_delay_ms",
        "Schedule delay",
        "ms",
        "open loop: how late each request was sent after its scheduled time",
        lambda t: _one(t.schedule_delay_ns),
        open_loop_only=True,
    ),
    Distribution(
        "latency_from_sched",
        "latency_from_sched_ms",
        "Latency from schedule",
        "ms",
        "open loop: E2E measured from the scheduled time (counts the harness's lateness)",
        lambda t: _one(t.latency_from_sched_ns),
        open_loop_only=True,
    ),
)


#: The per-request samples, in seed order (a sample's seed is the run's seed plus its index).
SAMPLES: tuple[Sample, ...] = (
    Sample("ttft", "each request's TTFT", per_request=lambda t: _ms(t.ttft_ns)),
    Sample("e2e", "each request's E2E", per_request=lambda t: _ms(t.e2e_ns)),
    Sample(
        "itl",
        "each request's mean gap between content events",
        per_request=lambda t: _ms(t.mean_itl_ns),
    ),
    Sample("tpot", "each request's TPOT", per_request=lambda t: _ms(t.tpot_ns)),
    Sample(
        "itl_gap",
        "every gap between content events (the values metrics.itl_ms summarises)",
        every_ns=lambda t: t.itl_ns,
    ),
)

#: The throughput and failure figures compared with a baseline.
RATES: tuple[Rate, ...] = (
    Rate(
        "requests_per_s",
        "Successful requests/s",
        "req/s",
        "successful requests completed per second of the measurement window",
        lower_is_better=False,
        buckets="successful",
    ),
    Rate(
        "output_tokens_per_s",
        "Output tokens/s",
        "tok/s",
        "output tokens of successful requests per second of the measurement window",
        lower_is_better=False,
        buckets="output_tokens",
    ),
    Rate(
        "failure_rate",
        "Failure rate",
        "%",
        "failed requests over the requests sent after the warm-up",
        lower_is_better=True,
        buckets=None,
    ),
)


def result_block() -> list[dict[str, Any]]:
    """The table as the bench result's ``metric_definitions`` block (what reports read)."""
    out: list[dict[str, Any]] = []
    for d in DISTRIBUTIONS:
        out.append(
            {
                "name": d.result_key,
                "kind": "distribution",
                "label": d.label,
                "unit": d.unit,
                "description": d.description,
                "lower_is_better": d.lower_is_better,
                "compared": list(d.compared),
                "in_table": d.in_table,
                "headline": list(d.headline),
                "headline_rank": d.headline_rank,
            }
        )
    for r in RATES:
        out.append(
            {
                "name": r.result_key,
                "kind": "rate",
                "label": r.label,
                "unit": r.unit,
                "description": r.description,
                "lower_is_better": r.lower_is_better,
                "buckets": r.buckets,
            }
        )
    return out
