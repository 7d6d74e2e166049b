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


def percentile_or_none(values: list[float], q: float, scale: float = 1.0) -> float | None:
    """The q-quantile times ``scale``, to 0.1; None (JSON null, never NaN or 0) when empty."""
    return round(percentile(values, q) * scale, 1) if values else None


QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "p999": 0.999}


def latency_summary(values: list[float], scale: float = 1.0) -> dict[str, float | None]:
    """The OpenMessaging Benchmark's percentiles and the max (``QUANTILES``, ``"max"``)."""
    summary = {name: percentile_or_none(values, q, scale) for name, q in QUANTILES.items()}
    return summary | {"max": percentile_or_none(values, 1.0, scale)}
