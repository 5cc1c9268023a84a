"""Bootstrap confidence intervals for the difference between two runs.

A change in a percentile is only called a regression when it is larger than the noise
of measuring it. The noise is estimated by resampling each run's per-request values
with replacement (the percentile bootstrap): the interval holds the middle
``confidence`` share of the resampled differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Fewer values than this on either side and no interval is computed.
MIN_SAMPLES = 20
#: Larger sample sets are subsampled to this many values (keeps a report fast).
MAX_SAMPLES = 4000
#: Resamples per interval.
RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """A difference (current minus baseline) and its confidence interval."""

    point: float
    low: float
    high: float


def clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The finite values of ``values`` as a float array."""
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_diff(
    baseline: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    quantiles: Sequence[float] | None,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
    min_samples: int = MIN_SAMPLES,
) -> list[Interval] | None:
    """Intervals for ``stat(current) - stat(baseline)``, one per quantile.

    ``quantiles`` are fractions (0.5 for the median); ``None`` compares the means.
    Returns ``None`` when either side has fewer than ``min_samples`` finite values.
    The result is deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    a, b = clean(baseline), clean(current)
    if len(a) < min_samples or len(b) < min_samples:
        return None
    if len(a) > MAX_SAMPLES:
        a = rng.choice(a, MAX_SAMPLES, replace=False)
    if len(b) > MAX_SAMPLES:
        b = rng.choice(b, MAX_SAMPLES, replace=False)
    qs = None if quantiles is None else np.asarray(quantiles, dtype=float)

    def stat(x: np.ndarray) -> np.ndarray:
        # x has shape (k, n): one statistic per row (and per quantile).
        if qs is None:
            return np.asarray(x.mean(axis=-1))[None, ...]
        return np.asarray(np.quantile(x, qs, axis=-1))

    point = stat(b[None, :])[:, 0] - stat(a[None, :])[:, 0]
    diffs = np.empty((1 if qs is None else len(qs), resamples))
    chunk = max(1, 400_000 // max(len(a), len(b)))
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        ra = a[rng.integers(0, len(a), size=(k, len(a)))]
        rb = b[rng.integers(0, len(b), size=(k, len(b)))]
        diffs[:, start : start + k] = stat(rb) - stat(ra)
    tail = (1.0 - confidence) / 2.0
    lows = np.quantile(diffs, tail, axis=1)
    highs = np.quantile(diffs, 1.0 - tail, axis=1)
    return [
        Interval(float(p), float(lo), float(hi))
        for p, lo, hi in zip(point, lows, highs, strict=True)
    ]
