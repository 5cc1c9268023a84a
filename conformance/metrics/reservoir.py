"""Uniform random samples of a stream of values that can be merged across processes.

The bench result keeps up to a few thousand values of each metric (per request, and
every inter-token gap) so that reports can draw CDFs and histograms and run bootstrap
comparisons; a reservoir keeps a uniform sample of everything seen without keeping
everything.

Sampling follows Li's "Algorithm L": once the reservoir is full, the index of the next
value to keep is drawn directly (a geometric skip), so offering a batch of values costs
one comparison per batch plus a few random draws per value kept, not a random draw per
value. This is what lets the load path offer every gap of every request.

Merging two reservoirs draws how many values come from each side from the
hypergeometric distribution (the count a uniform sample of the union would have), then
a uniform subset of that size from each side: the result is a uniform sample of both
streams together, however many merges it went through (a master merging small deltas
from its workers every few seconds gives late values the same chance as early ones).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Reservoir"]

#: numpy's hypergeometric draw needs fewer than 10**9 good and bad values
_NUMPY_HYPERGEOMETRIC_MAX = 10**9


class Reservoir:
    """A uniform sample of at most ``capacity`` values out of all values offered.

    Driven by a seeded generator, so a run is reproducible for a given seed and order of
    values (and of merges).
    """

    __slots__ = ("_log_w", "_next", "_np", "_rng", "capacity", "seen", "values")

    def __init__(self, capacity: int = 5000, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        #: how many values were offered in total
        self.seen = 0
        #: the sample (at most ``capacity`` values, in no particular order)
        self.values: list[float] = []
        self._rng = random.Random(seed)
        self._np: np.random.Generator | None = None
        #: log of Algorithm L's W (the largest of ``capacity`` uniform keys kept so far)
        self._log_w = 0.0
        #: the 1-based index (in ``seen`` terms) of the next value that will be kept
        self._next = 0

    # -- Algorithm L ----------------------------------------------------------------

    def _skip(self) -> None:
        """Draw the index of the next value to keep, after ``_next``, for the current W."""
        # 1 - random() is in (0, 1], so its logarithm is finite; 1 - W is computed without
        # cancellation (and is > 0, as log W < 0)
        u = 1.0 - self._rng.random()
        self._next += math.floor(math.log(u) / math.log(-math.expm1(self._log_w))) + 1

    def _advance(self) -> None:
        """A value was just kept: W's next value, and the next index to keep."""
        self._log_w += math.log(1.0 - self._rng.random()) / self.capacity
        self._skip()

    def _start_skipping(self) -> None:
        """The reservoir is full, a uniform sample of ``seen`` values: W and the next index.

        W is the largest of the ``capacity`` smallest of ``seen`` uniform keys, so it is
        Beta(capacity, seen - capacity + 1) distributed (when the reservoir has just
        filled, the largest of ``capacity`` uniform keys). Drawing it afresh is what lets
        skipping go on correctly after a merge.
        """
        k = self.capacity
        w = self._rng.betavariate(k, max(1, self.seen - k + 1))
        self._log_w = math.log(min(max(w, 5e-324), 1.0 - 2.0**-53))
        self._next = self.seen
        self._skip()

    # -- offering values -----------------------------------------------------------------

    def add(self, value: float) -> None:
        """Offer one value."""
        self.seen += 1
        values = self.values
        if len(values) < self.capacity:
            values.append(value)
            if len(values) == self.capacity:
                self._start_skipping()
            return
        if self.seen == self._next:
            values[int(self._rng.random() * self.capacity) % self.capacity] = value
            self._advance()

    def add_many(self, batch: Sequence[float], scale: float = 1.0) -> None:
        """Offer every value of ``batch``, each multiplied by ``scale`` (only those kept are).

        The same sample as offering them one by one with :meth:`add`, in distribution;
        once the reservoir is full the cost does not grow with the batch's length.
        """
        n = len(batch)
        if not n:
            return
        start = self.seen
        values = self.values
        taken = 0
        room = self.capacity - len(values)
        if room > 0:
            taken = min(room, n)
            if scale == 1.0:
                values.extend(batch[:taken])
            else:
                values.extend([v * scale for v in batch[:taken]])
            self.seen = start + taken
            if len(values) == self.capacity:
                self._start_skipping()
        end = start + n
        if len(values) == self.capacity and self._next <= end:
            # Algorithm L's loop (_advance inlined: this runs on the load path)
            cap = self.capacity
            rnd = self._rng.random
            log, expm1, floor = math.log, math.expm1, math.floor
            nxt, log_w = self._next, self._log_w
            while nxt <= end:
                values[int(rnd() * cap) % cap] = batch[nxt - start - 1] * scale
                log_w += log(1.0 - rnd()) / cap
                nxt += floor(log(1.0 - rnd()) / log(-expm1(log_w))) + 1
            self._next, self._log_w = nxt, log_w
        self.seen = end

    # -- merging ---------------------------------------------------------------------------

    def _hypergeometric(self, good: int, bad: int, draws: int) -> int:
        """How many of ``draws`` values drawn without replacement from ``good`` + ``bad`` are good."""
        if self._np is None:
            self._np = np.random.default_rng(self._rng.getrandbits(64))
        if good + bad < _NUMPY_HYPERGEOMETRIC_MAX:
            return int(self._np.hypergeometric(good, bad, draws))
        # numpy's limit: with this many values, draws are a vanishing share of them and
        # drawing with or without replacement is the same
        return int(self._np.binomial(draws, good / (good + bad)))

    def merge(self, other: Reservoir) -> None:
        """Fold another reservoir in: a uniform sample of both streams together.

        The sample keeps ``min(capacity, seen + other.seen)`` values; how many come from
        each side is hypergeometric (as in a uniform sample of the union), and which ones
        is a uniform subset of each side's sample.
        """
        if not other.seen:
            return
        if not self.seen:
            self.values = list(other.values)[: self.capacity]
            self.seen = other.seen
            self._restart_after_merge()
            return
        total = self.seen + other.seen
        mine, theirs = self.values, other.values
        whole = len(mine) == self.seen and len(theirs) == other.seen
        if whole and len(mine) + len(theirs) <= self.capacity:
            # both sides hold everything they saw, and it all fits
            self.values = mine + list(theirs)
        else:
            size = min(self.capacity, total)
            k_self = self._hypergeometric(self.seen, other.seen, size)
            # each side's sample holds min(capacity, seen) >= its share of the draw
            k_self = min(k_self, len(mine))
            k_other = min(size - k_self, len(theirs))
            self.values = self._rng.sample(mine, k_self) + self._rng.sample(theirs, k_other)
        self.seen = total
        self._restart_after_merge()

    def _restart_after_merge(self) -> None:
        """Keep sampling correctly after a merge (a full reservoir skips from here on)."""
        if len(self.values) >= self.capacity:
            self._start_skipping()

    # -- between processes -------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready form for sending to another process."""
        return {"seen": self.seen, "values": self.values}

    @classmethod
    def from_wire(cls, data: dict[str, Any], capacity: int = 5000, seed: int = 0) -> Reservoir:
        """The inverse of :meth:`to_wire`."""
        res = cls(capacity, seed)
        res.values = [float(v) for v in data.get("values", [])][:capacity]
        res.seen = max(int(data.get("seen", 0)), len(res.values))
        res._restart_after_merge()
        return res
