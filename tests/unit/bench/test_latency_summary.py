"""The benches' latency summary: the OMB percentiles and the max, null when nothing was measured."""

from __future__ import annotations

from orderstream.stats import latency_summary, percentile_or_none


def test_summary_in_milliseconds_by_nearest_rank() -> None:
    seconds = [i / 1000 for i in range(1, 2001)]  # 1..2000 ms

    assert latency_summary(seconds, scale=1000) == {
        "p50": 1000.0, "p95": 1900.0, "p99": 1980.0, "p999": 1998.0, "max": 2000.0,
    }  # fmt: skip


def test_nothing_measured_is_null_never_zero_or_nan() -> None:
    assert latency_summary([]) == dict.fromkeys(("p50", "p95", "p99", "p999", "max"))
    assert percentile_or_none([], 0.99) is None
    assert percentile_or_none([0.0], 0.99) == 0.0
