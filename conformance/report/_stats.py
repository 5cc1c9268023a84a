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
    if quantiles is None:
        point = np.array([b.mean() - a.mean()])
        diffs = (_boot_means(b, resamples, rng) - _boot_means(a, resamples, rng))[None, :]
    else:
        qs = np.asarray(quantiles, dtype=float)
        point = np.quantile(b, qs) - np.quantile(a, qs)
        diffs = _boot_quantiles(b, qs, resamples, rng) - _boot_quantiles(a, qs, resamples, rng)
    tail = (1.0 - confidence) / 2.0
    lows = np.quantile(diffs, tail, axis=1)
    highs = np.quantile(diffs, 1.0 - tail, axis=1)
    return [
        Interval(float(p), float(lo), float(hi))
        for p, lo, hi in zip(point, lows, highs, strict=True)
    ]


def _chunk(n: int) -> int:
    """Resamples per batch, so a batch holds about 400 000 numbers."""
    return max(1, 400_000 // max(n, 1))


def _boot_means(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(resamples)
    for start in range(0, resamples, _chunk(len(x))):
        k = min(_chunk(len(x)), resamples - start)
        out[start : start + k] = x[rng.integers(0, len(x), size=(k, len(x)))].mean(axis=1)
    return out


def _boot_quantiles(
    x: np.ndarray, qs: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Quantiles ``qs`` of ``resamples`` bootstrap resamples of ``x``, shape (len(qs), resamples).

    No resample is sorted: a resample is the count of times each sorted value was drawn,
    and its r-th order statistic is the value where the running count passes r. The
    quantile interpolates linearly between order statistics, as ``numpy.quantile`` does.
    """
    xs = np.sort(x)
    n = len(xs)
    h = (n - 1) * qs
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = h - lo
    ranks = np.concatenate([lo, hi])
    out = np.empty((len(qs), resamples))
    step = _chunk(n)
    offsets = (np.arange(step, dtype=np.int64) * n)[:, None]
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        draws = rng.integers(0, n, size=(k, n), dtype=np.int64) + offsets[:k]
        running = np.bincount(draws.ravel(), minlength=k * n).reshape(k, n).cumsum(axis=1)
        for row in range(k):
            # where the running count first exceeds r: the r-th smallest drawn value (0-based)
            j = np.searchsorted(running[row], ranks, side="right")
            j_lo, j_hi = j[: len(qs)], j[len(qs) :]
            out[:, start + row] = xs[j_lo] + frac * (xs[j_hi] - xs[j_lo])
    return out
