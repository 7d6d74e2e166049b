"""``--plot``: PNGs drawn from a fixed figures dict are real PNG files."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from orderstream.bench.plot import plot_figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FIGURES = {
    "bench": "pipeline",
    "latency_ms": {
        "1000": {"p50": 12.0, "p95": 30.5, "p99": 55.1, "p999": 80.0, "max": 120.0},
        "5000": {"p50": 15.0, "p95": 41.0, "p99": 90.2, "p999": None, "max": 300.0},
    },
    "throughput_series": [[0.0, 0.0], [1.0, 9_500.0], [2.0, 12_000.0], [3.0, 11_800.0]],
}


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG"
        assert image.size[0] > 100 and image.size[1] > 100


def test_pipeline_figures_draw_latency_and_throughput_pngs(tmp_path: Path) -> None:
    drawn = plot_figures(FIGURES, tmp_path / "plots")

    assert sorted(p.name for p in drawn) == ["pipeline-latency_ms.png", "pipeline-throughput.png"]
    for path in drawn:
        _assert_png(path)


def test_analytics_keys_and_named_series(tmp_path: Path) -> None:
    figures = {
        "bench": "analytics",
        "close_latency_ms": {"10000": {"p50": 400.0, "p99": 900.0, "max": 1_100.0}},
        "throughput_series": {"1 instance": [[0, 100], [1, 200]], "2": [[0, 150], [1, 390]]},
    }

    drawn = plot_figures(figures, tmp_path)

    assert [p.name for p in drawn] == ["analytics-close_latency_ms.png", "analytics-throughput.png"]
    for path in drawn:
        _assert_png(path)


def test_nothing_to_plot_draws_nothing(tmp_path: Path) -> None:
    assert plot_figures({"bench": "registry", "lookups_per_s": 1.0}, tmp_path) == []
