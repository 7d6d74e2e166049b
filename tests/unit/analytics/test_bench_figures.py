"""The figures ``bench analytics`` writes for the plots: close-latency percentiles and the
throughput of the EOS run per second."""

from __future__ import annotations

from orderstream.bench.analytics import BenchReport, report_json, throughput_series


def test_throughput_series_counts_the_events_committed_in_each_second() -> None:
    progress = [(0.2, 0), (0.9, 0), (1.1, 500), (1.8, 1_500), (2.3, 2_000), (3.0, 4_000)]
    assert throughput_series(progress) == [[1, 0.0], [2, 1_500.0], [3, 2_500.0]]
    assert throughput_series([]) == []


def test_close_latency_has_every_percentile_the_plots_read() -> None:
    report = BenchReport(close_latency={1_000: [i / 1000 for i in range(1, 1001)]})
    report.progress = [(0.5, 0), (1.0, 10)]
    figures = report_json(report)
    latency = figures["close_latency_ms"]["1000"]  # type: ignore[index]
    assert {k: latency[k] for k in ("p50", "p95", "p99", "p999", "max")} == {
        "p50": 500.0,
        "p95": 950.0,
        "p99": 990.0,
        "p999": 999.0,
        "max": 1000.0,
    }
    assert figures["throughput_series"] == [[1, 10.0]]
