"""``orderstream bench pipeline``: enrichment throughput, end-to-end latency, API throughput."""

from __future__ import annotations

from typing import Annotated

import typer

from orderstream.bench.environment import bench_environment
from orderstream.bench.pipeline import (
    WARMUP_S,
    PipelineBench,
    PipelineFigures,
)
from orderstream.cli.common import console, print_json, print_table
from orderstream.config import load_settings


def pipeline_bench(
    orders: Annotated[int, typer.Option(help="orders pre-loaded for the drain")] = 200_000,
    rates: Annotated[str, typer.Option(help="end-to-end latency rates, comma-separated")] = (
        "500,2000"
    ),
    seconds: Annotated[int, typer.Option(help="seconds of load per latency rate")] = 20,
    api_count: Annotated[int, typer.Option(help="single orders for the API figure")] = 20_000,
    batch: Annotated[int, typer.Option(help="orders per batch for the API figure")] = 500,
    latency_commit_ms: Annotated[
        int, typer.Option(help="enrichment commit interval during the latency runs")
    ] = 100,
    json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Throughput and latency of the whole pipeline on a fresh local cluster (prints figures)."""
    try:
        rate_list = tuple(int(r) for r in rates.split(","))
    except ValueError:
        raise typer.BadParameter(f"--rates must be integers separated by commas: {rates}") from None
    with (
        bench_environment(load_settings().cache_dir) as (cluster, settings, home),
        console.status("benchmarking") as status,
    ):
        bench = PipelineBench(cluster, settings, home / "run", status.update)
        figures = bench.run(orders, rate_list, seconds, api_count, batch, latency_commit_ms)
    if json:
        print_json({"bench": "pipeline", **figures.as_json()})
        return
    _print(figures)


def _print(f: PipelineFigures) -> None:
    print_table(
        "pipeline throughput",
        ["figure", "orders/s", "note"],
        [
            ("raw Python ceiling (bench runtime)", f"{f.ceiling_rps:,.0f}", "records/s, same run"),
            (
                "enrichment, exactly-once, 100 ms, 1 instance",
                f"{f.enrichment_rps:,.0f}",
                f"{f.enrichment_orders:,} orders drained, "
                f"{f.enrichment_outcomes.get('RESERVED', 0):,} RESERVED; "
                f"{f.enrichment_wall_s:.1f} s incl. start",
            ),
            (
                "  in-process, without the stage-1 dedupe store",
                f"{f.stage1_rps.get('without_store', 0):,.0f}",
                "best of 2 rounds, alternating",
            ),
            (
                "  in-process, with the stage-1 dedupe store",
                f"{f.stage1_rps.get('with_store', 0):,.0f}",
                f"store cost {f.store_cost_us:,.1f} us per order",
            ),
            ("orders API, single POST /orders", f"{f.api_single_rps:,.0f}", "acks=all"),
            (
                f"orders API, POST /orders/batch of {f.api_batch_size}",
                f"{f.api_batch_rps:,.0f}",
                "acks=all",
            ),
        ],
    )
    print_table(
        "end-to-end latency: HTTP 202 -> committed EnrichedOrder "
        f"(enrichment commits every {f.latency_commit_ms} ms; first {WARMUP_S} s not counted)",
        ["rate", "achieved", "p50 ms", "p99 ms", "max ms"],
        [
            (f"{rate:,}/s", f"{f.offered_rps[rate]:,.0f}/s", p50, p99, mx)
            for rate, (p50, p99, mx) in f.latency_ms.items()
        ],
    )
