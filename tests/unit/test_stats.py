"""The one percentile of every figure: nearest rank, an observed value, NaN for no values."""

from __future__ import annotations

import math

from orderstream.stats import median, percentile


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([7.0, 1.0, 3.0], 0.5) == 3.0  # unsorted input, an observed value


def test_nothing_measured_is_nan_not_zero() -> None:
    assert math.isnan(percentile([], 0.99))
    assert math.isnan(median([]))
