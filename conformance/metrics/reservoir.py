"""Uniform random samples of a stream of values that can be merged across processes.

The bench result keeps up to a few thousand per-request values of each metric so that
reports can draw CDFs and run bootstrap comparisons; a reservoir keeps a uniform sample
of everything seen without keeping everything.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["Reservoir"]


class Reservoir:
    """A uniform sample of at most ``capacity`` values out of all values offered.

    Sampling is Vitter's algorithm R driven by a seeded generator, so a run is
    reproducible for a given seed and order of values.
    """

    __slots__ = ("_rng", "capacity", "seen", "values")

    def __init__(self, capacity: int = 5000, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        #: how many values were offered in total
        self.seen = 0
        #: the sample (at most ``capacity`` values, in no particular order)
        self.values: list[float] = []
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        """Offer one value."""
        self.seen += 1
        if len(self.values) < self.capacity:
            self.values.append(value)
            return
        j = self._rng.randrange(self.seen)
        if j < self.capacity:
            self.values[j] = value

    def merge(self, other: Reservoir) -> None:
        """Fold another reservoir in, keeping the sample uniform over both streams.

        Each side contributes in proportion to how many values it saw.
        """
        if not other.seen:
            return
        if not self.seen:
            self.values = list(other.values)[: self.capacity]
            self.seen = other.seen
            return
        total = self.seen + other.seen
        if len(self.values) + len(other.values) <= self.capacity:
            self.values.extend(other.values)
        else:
            k_self = round(self.capacity * self.seen / total)
            k_self = min(k_self, len(self.values))
            k_other = min(self.capacity - k_self, len(other.values))
            k_self = min(self.capacity - k_other, len(self.values))
            self.values = self._rng.sample(self.values, k_self) + self._rng.sample(
                other.values, k_other
            )
        self.seen = total

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready form for sending to another process."""
        return {"seen": self.seen, "values": self.values}

    @classmethod
    def from_wire(cls, data: dict[str, Any], capacity: int = 5000, seed: int = 0) -> Reservoir:
        """The inverse of :meth:`to_wire`."""
        res = cls(capacity, seed)
        res.seen = int(data.get("seen", 0))
        res.values = [float(v) for v in data.get("values", [])][:capacity]
        return res
