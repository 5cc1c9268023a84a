"""Mergeable latency histograms at microsecond resolution.

Locust rounds response times (to 1 ms below 100 ms and to 10 ms above); these keep
every value to three significant digits, in microseconds, and can be encoded, sent
between processes and merged without losing anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

__all__ = ["LatencyHistogram", "Summary", "empty_summary", "summarize_values"]

#: a summary of a distribution in milliseconds: mean, p50, p90, p99 (and count, min, max)
Summary = dict[str, Any]

#: the largest value a histogram holds: one hour, in microseconds
_HIGHEST_US = 3_600_000_000


def empty_summary() -> Summary:
    """The summary of a distribution with no values: every statistic is ``None``."""
    return {
        "mean": None,
        "p50": None,
        "p90": None,
        "p99": None,
        "count": 0,
        "min": None,
        "max": None,
    }


class LatencyHistogram:
    """Non-negative durations, recorded in microseconds with 3 significant digits.

    Values are given in nanoseconds (:meth:`record_ns`) or milliseconds
    (:meth:`record_ms`) and summarised in milliseconds. Values above one hour are
    clamped to one hour; negative values are clamped to zero.

    Recording only appends to a buffer; the buffer is folded into the HdrHistogram
    counts in one vectorised step (the same bucket arithmetic as HdrHistogram's own
    ``record_value``) when it fills up or before anything reads the histogram, because
    HdrHistogram's Python ``record_value`` costs about a microsecond per value on the
    load path.
    """

    __slots__ = ("_h", "_pending")

    #: values buffered before they are folded into the counts
    FLUSH_AT = 4096

    def __init__(self, significant_digits: int = 3) -> None:
        self._h = HdrHistogram(1, _HIGHEST_US, significant_digits)
        self._pending: list[int] = []

    def record_ns(self, value_ns: int) -> None:
        """Record a duration given in nanoseconds."""
        pending = self._pending
        pending.append(value_ns)
        if len(pending) >= self.FLUSH_AT:
            self._flush()

    def record_many_ns(self, values_ns: Iterable[int]) -> None:
        """Record several durations given in nanoseconds."""
        pending = self._pending
        pending.extend(values_ns)
        if len(pending) >= self.FLUSH_AT:
            self._flush()

    def record_ms(self, value_ms: float) -> None:
        """Record a duration given in milliseconds."""
        self.record_ns(round(value_ms * 1_000_000))

    def _flush(self) -> None:
        """Fold the buffered values into the counts (HdrHistogram's arithmetic, vectorised)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        h = self._h
        us = np.clip((np.asarray(pending, dtype=np.int64) + 500) // 1000, 1, _HIGHEST_US)
        # bucket: the smallest power of two holding the value (its bit length), as
        # HdrHistogram's _get_bucket_index; exact in float64 below 2**53
        _, bit_length = np.frexp((us | h.sub_bucket_mask).astype(np.float64))
        bucket = (
            bit_length.astype(np.int64) - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
        )
        sub_bucket = us >> (bucket + h.unit_magnitude)
        index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + (
            sub_bucket - h.sub_bucket_half_count
        )
        np.add.at(np.ctypeslib.as_array(h.counts), index, 1)
        h.total_count += len(pending)
        h.min_value = min(h.min_value, int(us.min()))
        h.max_value = max(h.max_value, int(us.max()))

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return int(self._h.get_total_count()) + len(self._pending)

    def merge(self, other: LatencyHistogram) -> None:
        """Add every value of ``other`` to this histogram."""
        other._flush()
        self._flush()
        if other.count:
            self._h.add(other._h)

    def encode(self) -> str:
        """A compact text form (compressed, base64) for sending to another process."""
        self._flush()
        return self._h.encode().decode("ascii") if self.count else ""

    @classmethod
    def decode(cls, text: str, significant_digits: int = 3) -> LatencyHistogram:
        """The inverse of :meth:`encode`."""
        hist = cls(significant_digits)
        if text:
            hist._h.decode_and_add(text.encode("ascii"))
        return hist

    def _recorded(self) -> tuple[np.ndarray, np.ndarray]:
        """(cumulative counts, bucket indexes) of the non-empty buckets, in value order.

        HdrHistogram's own queries walk every bucket in Python (about 100 ms for a
        summary); only the buckets holding values are visited here, with numpy.
        """
        self._flush()
        counts = np.ctypeslib.as_array(self._h.counts)
        nonzero = np.flatnonzero(counts)
        return np.cumsum(counts[nonzero]), nonzero

    def _lowest_values(self, indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lowest value, bucket number) of each bucket index: HdrHistogram's
        ``get_value_from_index``, vectorised."""
        h = self._h
        bucket = (indexes >> h.sub_bucket_half_count_magnitude) - 1
        sub = (indexes & (h.sub_bucket_half_count - 1)) + h.sub_bucket_half_count
        low = bucket < 0
        sub = np.where(low, sub - h.sub_bucket_half_count, sub)
        bucket = np.where(low, 0, bucket)
        return sub.astype(np.int64) << (bucket + h.unit_magnitude), bucket

    def _value_at(self, cumulative: np.ndarray, indexes: np.ndarray, percent: float) -> int:
        """HdrHistogram's value at a percentile (the highest value equivalent to it)."""
        h = self._h
        target = max(int(min(percent, 100.0) * h.total_count / 100 + 0.5), 1)
        pos = min(int(np.searchsorted(cumulative, target)), len(indexes) - 1)
        return int(h.get_highest_equivalent_value(h.get_value_from_index(int(indexes[pos]))))

    def percentile_ms(self, percent: float) -> float | None:
        """The value at ``percent`` (0 < percent <= 100) in milliseconds, ``None`` when empty."""
        if not self.count:
            return None
        cumulative, indexes = self._recorded()
        return self._value_at(cumulative, indexes, percent) / 1000.0

    def summary(self) -> Summary:
        """Mean, p50, p90, p99, count, min and max, in milliseconds (rounded to 1 µs).

        The same figures as HdrHistogram's ``get_mean_value``, ``get_value_at_percentile``,
        ``get_min_value`` and ``get_max_value``.
        """
        n = self.count
        if not n:
            return empty_summary()
        h = self._h
        cumulative, indexes = self._recorded()
        counts = np.diff(cumulative, prepend=0)
        lowest, bucket = self._lowest_values(indexes)
        # the middle of each bucket's range, as HdrHistogram's mean uses
        medians = lowest + ((np.int64(1) << (h.unit_magnitude + bucket)) >> 1)
        total = int(np.dot(counts.astype(np.int64), medians))

        def ms(us: float) -> float:
            return round(us / 1000.0, 3)

        return {
            "mean": ms(total / n),
            "p50": ms(self._value_at(cumulative, indexes, 50)),
            "p90": ms(self._value_at(cumulative, indexes, 90)),
            "p99": ms(self._value_at(cumulative, indexes, 99)),
            "count": n,
            "min": ms(h.get_min_value()),
            "max": ms(h.get_max_value()),
        }

    def reference_summary(self) -> Summary:
        """The summary computed by HdrHistogram's own (slow) queries, for tests."""
        self._flush()
        n = self.count
        if not n:
            return empty_summary()
        h = self._h

        def ms(us: float) -> float:
            return round(us / 1000.0, 3)

        return {
            "mean": ms(h.get_mean_value()),
            "p50": ms(h.get_value_at_percentile(50)),
            "p90": ms(h.get_value_at_percentile(90)),
            "p99": ms(h.get_value_at_percentile(99)),
            "count": n,
            "min": ms(h.get_min_value()),
            "max": ms(h.get_max_value()),
        }


def summarize_values(values: list[float]) -> Summary:
    """Mean, p50, p90, p99, count, min and max of exact values (nearest-rank percentiles).

    Used where values can be negative (measurement errors), which a histogram cannot hold.
    """
    if not values:
        return empty_summary()
    ordered = sorted(values)
    n = len(ordered)

    def rank(p: float) -> float:
        return ordered[max(0, min(n - 1, math.ceil(p / 100.0 * n) - 1))]

    return {
        "mean": round(sum(ordered) / n, 3),
        "p50": round(rank(50), 3),
        "p90": round(rank(90), 3),
        "p99": round(rank(99), 3),
        "count": n,
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }
