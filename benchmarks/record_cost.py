"""CPU the load path spends recording one finished request (``RunAggregate.record``).

    python benchmarks/record_cost.py

Streamed requests of 32 and 256 tokens (31 and 255 inter-token gaps) are recorded into
one aggregate (a single load process) and into a fresh aggregate every 300 requests (a
Locust worker sends its aggregate to the master as a delta every few seconds and starts
afresh). Prints the best of five rounds, in microseconds of CPU per request: the cost of
the histograms and samples (every gap is offered to a reservoir), not of the network.
"""

from __future__ import annotations

import random
import time

from conformance.metrics import RequestTiming, RunAggregate, Window

REQUESTS = 20_000
ROUNDS = 5
DELTA_EVERY = 300


def _timings(gaps: int, rng: random.Random) -> list[RequestTiming]:
    out = []
    for _ in range(REQUESTS):
        itl = [int(rng.gauss(10e6, 1e6)) for _ in range(gaps)]
        out.append(
            RequestTiming(
                t_send_ns=0,
                ttft_ns=50_000_000,
                e2e_ns=50_000_000 + sum(itl),
                itl_ns=itl,
                output_tokens=gaps + 1,
                content_events=gaps + 1,
            )
        )
    return out


def _cost_us(timings: list[RequestTiming], every: int) -> float:
    """Best CPU microseconds per request over ``ROUNDS``, a fresh aggregate every ``every``."""
    best = float("inf")
    window = Window(0.0, 0.0, None)
    for _ in range(ROUNDS):
        started = time.process_time()
        for first in range(0, len(timings), every):
            agg = RunAggregate()
            for i, t in enumerate(timings[first : first + every]):
                agg.record(t, 1.0 + i * 1e-3, 1.5 + i * 1e-3, window)
        best = min(best, (time.process_time() - started) / len(timings) * 1e6)
    return best


def main() -> None:
    rng = random.Random(1)
    for gaps in (31, 255):
        timings = _timings(gaps, rng)
        one = _cost_us(timings, len(timings))
        deltas = _cost_us(timings, DELTA_EVERY)
        print(
            f"{gaps:>3} gaps/request: {one:5.1f} us/request in one process, "
            f"{deltas:5.1f} us/request with a fresh aggregate every {DELTA_EVERY} requests"
        )


if __name__ == "__main__":
    main()
