"""Percentiles over sorted samples.

Method: linear interpolation between the two closest ranks (numpy's default ``linear``, the same as
``statistics.quantiles(method="inclusive")``): p0 is the minimum, p100 the maximum, and a percentile that
falls between two samples is weighted by its distance to each. Chosen over nearest-rank so that p99 of a
few hundred samples does not jump a whole sample at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0..100) of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    rank = (len(sorted_values) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def percentiles(values: Iterable[float], ps: Iterable[float]) -> dict[str, float | None]:
    """``{"p50": ..., ...}`` for the given percentiles of unsorted values."""
    ordered = sorted(values)
    return {f"p{p:g}": percentile(ordered, p) for p in ps}
