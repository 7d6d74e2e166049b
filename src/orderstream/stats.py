"""The one percentile every figure uses: the load report, the benchmarks, the registry's."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; NaN when there is nothing to measure.

    Nearest rank returns a value that was observed, never an interpolation between two: a p99
    of 120 ms means some request took 120 ms.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan
