"""Open-loop arrival schedules: when each request is due, independent of responses.

A schedule is an endless iterator of offsets in seconds from the start of the run. With
``constant`` arrivals the gaps are exactly ``1 / rate``; with ``poisson`` arrivals they
are exponentially distributed with mean ``1 / rate`` from a seeded generator, so a run is
reproducible. Several generators (one per worker process or driver) split a total rate:
``streams`` of them each run at ``rate / streams``, the constant ones phase-shifted so
that together they are evenly spaced, and the Poisson ones seeded apart (a sum of
independent Poisson processes is a Poisson process of the summed rate).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from enum import StrEnum
from itertools import count

__all__ = ["Arrival", "arrival_offsets"]


class Arrival(StrEnum):
    """How arrivals are spaced in an open-loop run."""

    CONSTANT = "constant"
    POISSON = "poisson"


def arrival_offsets(
    rate: float,
    arrival: Arrival | str = Arrival.CONSTANT,
    *,
    seed: int = 0,
    stream: int = 0,
    streams: int = 1,
) -> Iterator[float]:
    """Offsets (seconds from the start) of the arrivals of stream ``stream`` of ``streams``.

    ``rate`` is the total rate of all streams together, in requests per second.
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 requests/s, got {rate!r}")
    if streams < 1 or not 0 <= stream < streams:
        raise ValueError(f"need 0 <= stream < streams, got stream={stream} of {streams}")
    kind = Arrival(arrival)
    own_rate = rate / streams
    if kind is Arrival.CONSTANT:
        gap = 1.0 / own_rate
        phase = stream / rate
        return (phase + i * gap for i in count())
    return _poisson(own_rate, random.Random(f"{seed}:{stream}"))


def _poisson(rate: float, rng: random.Random) -> Iterator[float]:
    t = 0.0
    while True:
        yield t
        t += rng.expovariate(rate)
