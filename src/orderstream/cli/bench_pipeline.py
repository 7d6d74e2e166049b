"""``orderstream bench pipeline``: the whole pipeline measured as one (fresh local cluster)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orderstream.cli.bench_output import (
    JsonFlag,
    JsonOut,
    PlotDir,
    int_list,
    phase_bar,
    report,
    say_for,
)
from orderstream.cli.common import print_table
from orderstream.config import load_settings

if TYPE_CHECKING:  # the bench package is imported when a bench runs, not by every command
    from orderstream.bench.pipeline import PipelineFigures

PHASES = 24  # about how many steps a run reports; the bar grows if there are more


def pipeline_bench(
    orders: Annotated[int | None, typer.Option(help="backlog per drain [200k; quick 20k]")] = None,
    rates: Annotated[str | None, typer.Option(help="latency rates [1000,5000,10000]")] = None,
    seconds: Annotated[float | None, typer.Option(help="s per latency rate [10; 4]")] = None,
    step_seconds: Annotated[float | None, typer.Option(help="s per search step [10; 6]")] = None,
    latency_commit_ms: Annotated[int, typer.Option(help="enrichment commits, loaded")] = 100,
    quick: Annotated[bool, typer.Option("--quick", help="a few minutes: small backlogs")] = False,
    json: JsonFlag = False,
    json_out: JsonOut = None,
    plot: PlotDir = None,
) -> None:
    """Throughput and latency of the whole pipeline on a fresh local cluster (prints figures).

    Backlogs scale with --orders: analytics drains half as many events, the API figure takes a
    tenth as single orders and five times that in batches.
    """
    from orderstream.bench.environment import bench_environment
    from orderstream.bench.pipeline import PipelineBench, RunPlan

    given: dict[str, Any] = {"orders": orders, "seconds": seconds, "step_s": step_seconds}
    given["rates"] = None if rates is None else int_list("--rates", rates)
    base = RunPlan.quick() if quick else RunPlan()
    plan = dataclasses.replace(base, latency_commit_ms=latency_commit_ms,
                               **{k: v for k, v in given.items() if v is not None})  # fmt: skip
    with (
        phase_bar(PHASES + len(plan.rates), json) as say,
        bench_environment(load_settings().cache_dir) as (cluster, settings, home),
    ):
        figures = PipelineBench(cluster, settings, home / "run", say).run(plan)
    document = report(
        "pipeline", figures.as_json(), lambda _d: _print(figures), json_flag=json, json_out=json_out
    )
    if plot is not None:
        from orderstream.bench.plot import plot_figures

        say = say_for(json)
        for path in plot_figures(document, plot):
            say(f"drew {path}")


def _print(f: PipelineFigures) -> None:
    from orderstream.bench.pipeline import API_BATCH, CRITERION
    from orderstream.bench.sustained import WARMUP_S

    d, inst = f.drain, f.instances
    print_table(
        "pipeline throughput",
        ["figure", "per s", "note"],
        [
            ("raw Python ceiling (bench runtime)", f"{f.ceiling_rps:,.0f}", "records/s, same run"),
            (
                "enrichment, exactly-once, 100 ms, 1 instance",
                f"{d.rps:,.0f}",
                f"{d.orders:,} orders drained, {d.outcomes.get('RESERVED', 0):,} RESERVED; "
                f"{d.wall_s:.1f} s incl. start",
            ),
            ("  2 instances", f"{inst['enrichment'].get('2', 0):,.0f}", "a new backlog, same size"),
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
            (
                "analytics, exactly-once, 1 instance",
                f"{inst['analytics'].get('1', 0):,.0f}",
                f"events/s, backlog of {f.plan.analytics_events:,}, anomaly model on",
            ),
            ("  2 instances", f"{inst['analytics'].get('2', 0):,.0f}", "events/s, same backlog"),
            (
                "sustainable, enrichment + analytics together",
                f"{f.sustainable.sustainable:,}",
                "orders/s offered straight to orders (steps below)",
            ),
            ("orders API, single POST /orders", f"{f.api_rps.get('single', 0):,.0f}", "acks=all"),
            (
                f"orders API, POST /orders/batch of {API_BATCH}",
                f"{f.api_rps.get('batch', 0):,.0f}",
                "acks=all",
            ),
        ],
    )
    print_table(
        "end-to-end latency, direct load: produce -> EnrichedOrder readable (read_committed); "
        f"enrichment commits every {f.plan.latency_commit_ms} ms; first {WARMUP_S} s not counted",
        ["rate", "achieved", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"],
        [
            (f"{int(rate):,}/s", f"{f.offered_rps[int(rate)]:,.0f}/s", *map(_ms, p.values()))
            for rate, p in f.latency_ms().items()
        ],
    )
    print_table(
        f"sustainable-throughput steps ({f.plan.step_s:g} s each); kept up = {CRITERION}",
        ["offered/s", "achieved/s", "close p99 ms", "lag bounded (final lag)", "kept up"],
        [
            (
                f"{s.rate:,}",
                f"{s.achieved:,.0f}",
                _ms(s.close_p99_ms),
                ", ".join(
                    f"{g}: {'yes' if ok else 'NO'} ({s.lags[g][-1] if s.lags[g] else 0:,})"
                    for g, ok in s.bounded.items()
                ),
                "yes" if s.kept_up else "NO",
            )
            for s in f.sustainable.steps
        ],
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
