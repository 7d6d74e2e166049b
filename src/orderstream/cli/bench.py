"""``orderstream bench``: every benchmark, one group (never timed tests).

Each command prints tables, or with ``--json`` one object: its figures plus ``bench``, the
benchmark's name. The code that measures lives in ``orderstream.bench``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import TaskID

from orderstream.cli.analytics import bench as analytics_bench
from orderstream.cli.bench_output import (
    JsonFlag,
    JsonOut,
    Show,
    progress_bar,
    report,
    say_for,
    table,
)
from orderstream.cli.bench_pipeline import pipeline_bench
from orderstream.cli.bench_registry import registry_bench
from orderstream.cli.common import MaxInFlight, console, print_table
from orderstream.cli.security import bench as security_bench
from orderstream.config import load_settings

app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)


@app.command("tracing")
def tracing_bench(
    records: Annotated[int, typer.Option(min=10_000, help="Input records per scenario")] = 200_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; the best of each counts")] = 2,
    pipeline: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also drain this many orders through a real enrichment process per scenario "
            "(off, default sampler, 100 %); 0 skips it",
        ),
    ] = 0,
    json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """The exactly-once runtime with tracing off, at the default sampler and at 100 %."""
    from orderstream.bench.environment import bench_cluster_or, bench_environment
    from orderstream.bench.tracing import PipelineTracingBench, TracingBench

    if pipeline:
        with (
            bench_environment(load_settings().cache_dir) as (_cluster, settings, home),
            console.status("benchmarking") as status,
        ):
            bench = PipelineTracingBench(settings, home / "run", pipeline, rounds, status.update)
            best = bench.measure()
        what = (
            f"enrichment with traces, {pipeline:,} orders per run, exactly-once, 100 ms, 1 instance"
        )
        figures = {"orders": pipeline, "orders_per_s": best, "vs_off": _vs_off(best)}
        show = _tracing_table(what, "orders/s", best)
        report("tracing-pipeline", figures, show, json_flag=json, json_out=json_out)
        return
    with bench_cluster_or(None, None, load_settings().cache_dir) as cluster:
        best = TracingBench(cluster, records, lambda *_: None, rounds).measure()
    what = f"runtime with traces, {records:,} records, exactly-once stateless, 100 ms"
    figures = {"records": records, "records_per_s": best, "vs_off": _vs_off(best)}
    show = _tracing_table(what, "records/s", best)
    report("tracing", figures, show, json_flag=json, json_out=json_out)


def _vs_off(best: dict[str, float]) -> dict[str, float]:
    return {name: round(rate / best["off"], 3) for name, rate in best.items()}


def _tracing_table(title: str, unit: str, best: dict[str, float]) -> Show:
    """The table of one tracing bench: each scenario it measured, against tracing off."""
    from orderstream.tracing import DEFAULT_RATIO

    labels = {"off": "off", "default": f"default sampler (ratio {DEFAULT_RATIO:g})"}
    labels |= {"0.01": "ratio 0.01", "all": "100 %"}
    ratios = _vs_off(best)
    rows = [(labels[k], f"{best[k]:,.0f}", f"{ratios[k]:.3f}") for k in labels if k in best]
    return table(title, ["tracing", unit, "vs off"], rows)


@app.command("runtime")
def runtime_bench(
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Broker to measure; by default a fresh local 1-node cluster is started"),
    ] = None,
    records: Annotated[int, typer.Option(min=10_000, help="Input records per scenario")] = 500_000,
    rounds: Annotated[
        int, typer.Option(min=1, help="Rounds over all scenarios; the best of each counts")
    ] = 3,
    restore_keys: Annotated[
        int, typer.Option(min=1_000, help="Keys in the store for the restart figures")
    ] = 1_000_000,
    json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """Throughput of the runtime against the raw Python ceiling, and restart times."""
    from orderstream.bench.environment import bench_cluster_or
    from orderstream.bench.runtime import RuntimeBench

    settings = load_settings()
    with (
        progress_bar("{task.completed:>9,}/{task.total:,}", transient=json) as bar,
        bench_cluster_or(bootstrap, None, settings.cache_dir) as cluster,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        result = RuntimeBench(cluster, records, restore_keys, progress, rounds).run()
    show = _runtime_tables(result, records)
    report("runtime", result.as_json(), show, json_flag=json, json_out=json_out)


def _runtime_tables(result: Any, records: int) -> Show:
    return lambda _doc: _print_runtime(result, records)


def _print_runtime(result: Any, records: int) -> None:
    rows = []
    for label, key in (
        ("raw Python ceiling (ALO, no decoding)", "ceiling_rps"),
        ("stateless, exactly-once", "eos_stateless_rps"),
        ("stateless, at-least-once", "alo_stateless_rps"),
        ("stateful aggregate, exactly-once", "eos_stateful_rps"),
    ):
        for interval, suffix in (("100 ms", ""), ("1 s", "_1s")):
            name = key if key == "ceiling_rps" else key + suffix
            if name not in result.rates or (key == "ceiling_rps" and suffix):
                continue
            rate = result.rates[name]
            ratio = "1.00" if key == "ceiling_rps" else f"{result.ratio(name):.2f}"
            rows.append((label, "" if key == "ceiling_rps" else interval, f"{rate:,.0f}", ratio))
    print_table(
        f"runtime throughput, {records:,} records",
        ["scenario", "commit", "records/s", "ratio"],
        rows,
    )
    print_table(
        "stateful exactly-once against the raw ceiling, every round",
        ["round", "ceiling records/s", "stateful EOS 100 ms", "ratio 100 ms", "ratio 1 s"],
        result.round_rows(),
    )
    r = result.restore
    print_table(
        f"restart with {int(r['restore_keys']):,} keys",
        ["figure", "value"],
        [
            ("restore rate (records/s)", f"{r['restore_rps']:,.0f}"),
            ("restart without snapshot (s)", f"{r['restart_without_snapshot_s']:.2f}"),
            ("restart with snapshot (s)", f"{r['restart_with_snapshot_s']:.2f}"),
            ("snapshot write at shutdown (s)", f"{r['snapshot_write_s']:.2f}"),
            ("records replayed with snapshot", f"{r['replayed_with_snapshot']:,.0f}"),
        ],
    )


app.command("analytics")(analytics_bench)  # the same as `orderstream analytics bench`
app.command("pipeline")(pipeline_bench)  # enrichment drain, end-to-end latency, orders API
app.command("registry")(registry_bench)  # the same as `orderstream registry bench`
app.command("secure")(security_bench)  # the same as `orderstream security bench`


# --- payments (issue 13) --------------------------------------------------------------------


def _figure_table(title: str) -> Show:
    """A two-column table of a bench's figures (every key but ``bench``)."""

    def show(document: dict[str, Any]) -> None:
        rows = [
            (key, f"{value:,}" if isinstance(value, int | float) else str(value))
            for key, value in document.items()
            if key != "bench"
        ]
        print_table(title, ["figure", "value"], rows)

    return show


ProviderLatencyMs = Annotated[float, typer.Option(help="simulated provider latency (ms)")]


@app.command("payments")
def payments_bench(
    orders: Annotated[int, typer.Option(min=100, help="RESERVED orders to pay")] = 20_000,
    latency_ms: ProviderLatencyMs = 10.0,
    max_in_flight: MaxInFlight = 256,
    json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """Payments throughput on a fresh local cluster (20% declined, simulated provider)."""
    from orderstream.bench.payments import bench_payments

    with console.status("payments bench: cluster, orders, drain"):
        figures = bench_payments(orders, latency_ms, max_in_flight)
    show = _figure_table("payments throughput")
    report("payments", figures, show, json_flag=json, json_out=json_out)


@app.command("payments-latency")
def payments_latency_bench(
    rate: Annotated[int, typer.Option(min=1, help="orders per second offered")] = 1_000,
    seconds: Annotated[float, typer.Option(min=1, help="seconds of load")] = 20.0,
    latency_ms: ProviderLatencyMs = 10.0,
    warmup_s: Annotated[float, typer.Option(min=0, help="first seconds left out")] = 2.0,
    json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """Order -> PAID p50/p99 through enrichment and payments at --rate (fresh local cluster)."""
    from orderstream.bench.payments_latency import bench_payments_latency

    with console.status("payments latency bench: cluster, services, load") as status:
        figures = bench_payments_latency(
            rate, seconds, latency_ms, warmup_s, lambda line: status.update(line)
        )
    show = _figure_table(
        f"order -> PAID at {rate:,} orders/s (OrderCreated timestamp to PaymentCompleted readable)"
    )
    report("payments-latency", figures, show, json_flag=json, json_out=json_out)


@app.command("orders-tls")
def orders_tls_bench(
    count: Annotated[int, typer.Option(help="orders per round and side")] = 5_000,
    rounds: Annotated[int, typer.Option(help="alternating rounds (best of each side)")] = 2,
    json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """The orders API's accepted orders/s over HTTPS against HTTP, in one run (fresh cluster)."""
    from orderstream.bench.tls import orders_tls_bench as run_bench

    f = run_bench(load_settings().cache_dir, count, rounds, say_for(json))
    figures = {
        "orders_per_round": f.count,
        "rounds": f.rounds,
        "http_rps": round(f.best("http")),
        "https_rps": round(f.best("https")),
        "https_over_http": round(f.ratio, 3),
        "refused": f.refused,
    }
    rows = [
        ("http", f"{f.best('http'):,.0f}", str(f.refused["http"]), "1.00"),
        ("https", f"{f.best('https'):,.0f}", str(f.refused["https"]), f"{f.ratio:.2f}"),
    ]
    title = f"orders API, {count:,} single orders per round, best of {rounds}"
    show = table(title, ["scheme", "accepted orders/s", "refused", "ratio"], rows)
    report("orders-tls", figures, show, json_flag=json, json_out=json_out)
