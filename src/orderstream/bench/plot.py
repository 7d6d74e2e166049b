"""PNGs of a bench's figures (``--plot DIR``): latency percentiles per rate, throughput over time.

It reads the bench's JSON object, so any bench that writes these keys gets the plots:

- a latency key (``latency_ms``, ``close_latency_ms``): ``{"<rate>": {"p50", "p95", "p99",
  "p999", "max"}}`` in milliseconds (a missing or null percentile is left out);
- ``throughput_series``: ``[[t_s, per_s], ...]``, or a dict of such series by name.

matplotlib draws with the Agg backend: files only, no display needed (servers, CI).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server or in CI
import matplotlib.pyplot as plt

LATENCY_KEYS = ("latency_ms", "close_latency_ms")
PERCENTILES = ("p50", "p95", "p99", "p999", "max")


def plot_figures(document: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Draw every plot ``document`` has the figures for into ``out_dir``; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bench = str(document.get("bench", "bench"))
    drawn = []
    for key in LATENCY_KEYS:
        if document.get(key):
            drawn.append(
                latency_png(document[key], out_dir / f"{bench}-{key}.png", f"{bench}: {key}")
            )
    series = document.get("throughput_series")
    if series:
        named = series if isinstance(series, Mapping) else {bench: series}
        drawn.append(throughput_png(named, out_dir / f"{bench}-throughput.png", bench))
    return drawn


def latency_png(per_rate: Mapping[str, Mapping[str, Any]], path: Path, title: str) -> Path:
    """One line per offered rate over the percentiles, on a log scale of milliseconds."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for rate, figures in per_rate.items():
            points = [(p, figures[p]) for p in PERCENTILES if figures.get(p) is not None]
            if points:
                labels, values = [p for p, _ in points], [max(v, 0.1) for _, v in points]
                ax.plot(labels, values, marker="o", label=f"{int(float(rate)):,}/s")
        ax.set_yscale("log")
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms, log)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="offered rate")
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


def throughput_png(series: Mapping[str, list[list[float]]], path: Path, title: str) -> Path:
    """Throughput over time, one line per named series."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for name, points in series.items():
            ax.plot([t for t, _ in points], [v for _, v in points], label=name)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("per second")
        ax.set_title(f"{title}: throughput over time")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
