"""``orderstream bench``: every benchmark, one group (never timed tests).

Each command prints tables, or with ``--json`` one object: its figures plus ``bench``, the
benchmark's name. The code that measures lives in ``orderstream.bench``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from orderstream.cli.analytics import bench as analytics_bench
from orderstream.cli.bench_pipeline import pipeline_bench
from orderstream.cli.bench_registry import registry_bench
from orderstream.cli.common import console, print_json, print_table
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
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """The exactly-once runtime with tracing off, at the default sampler and at 100 %."""
    from orderstream.bench.environment import bench_cluster_or
    from orderstream.bench.tracing import TracingBench
    from orderstream.tracing import DEFAULT_RATIO

    if pipeline:
        _pipeline_tracing_bench(pipeline, rounds, json)
        return
    with bench_cluster_or(None, None, load_settings().cache_dir) as cluster:
        best = TracingBench(cluster, records, lambda *_: None, rounds).measure()
    off = best["off"]
    if json:
        print_json({"bench": "tracing", "records": records, "records_per_s": best})
        return
    print_table(
        f"runtime with traces, {records:,} records, exactly-once stateless, 100 ms",
        ["tracing", "records/s", "vs off"],
        [
            (label, f"{best[key]:,.0f}", f"{best[key] / off:.3f}")
            for label, key in (
                ("off", "off"),
                (f"default sampler (ratio {DEFAULT_RATIO:g})", "default"),
                ("ratio 0.01", "0.01"),
                ("100 %", "all"),
            )
        ],
    )


def _pipeline_tracing_bench(orders: int, rounds: int, json: bool) -> None:
    """``bench tracing --pipeline N``: enrichment orders/s per tracing level, one run."""
    from orderstream.bench.environment import bench_environment
    from orderstream.bench.tracing import PipelineTracingBench
    from orderstream.tracing import DEFAULT_RATIO

    with (
        bench_environment(load_settings().cache_dir) as (_cluster, settings, home),
        console.status("benchmarking") as status,
    ):
        bench = PipelineTracingBench(settings, home / "run", orders, rounds, status.update)
        best = bench.measure()
    off = best["off"]
    ratios = {name: round(rate / off, 3) for name, rate in best.items()}
    if json:
        print_json(
            {"bench": "tracing-pipeline", "orders": orders, "orders_per_s": best, "vs_off": ratios}
        )
        return
    print_table(
        f"enrichment with traces, {orders:,} orders per run, exactly-once, 100 ms, 1 instance",
        ["tracing", "orders/s", "vs off"],
        [
            (label, f"{best[key]:,.0f}", f"{ratios[key]:.3f}")
            for label, key in (
                ("off", "off"),
                (f"default sampler (ratio {DEFAULT_RATIO:g})", "default"),
                ("100 %", "all"),
            )
        ],
    )


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
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Throughput of the runtime against the raw Python ceiling, and restart times."""
    from orderstream.bench.environment import bench_cluster_or
    from orderstream.bench.runtime import RuntimeBench

    settings = load_settings()
    with (
        Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            TextColumn("{task.completed:>9,}/{task.total:,}"),
            TimeElapsedColumn(),
            console=console,
            transient=json,
            disable=False,
        ) as bar,
        bench_cluster_or(bootstrap, None, settings.cache_dir) as cluster,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        result = RuntimeBench(cluster, records, restore_keys, progress, rounds).run()
    if json:
        print_json({"bench": "runtime", **result.as_json()})
        return
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


@app.command("payments")
def payments_bench(
    orders: Annotated[int, typer.Option(min=100, help="RESERVED orders to pay")] = 20_000,
    latency_ms: Annotated[float, typer.Option(help="simulated provider latency")] = 10.0,
    max_in_flight: Annotated[int, typer.Option(min=1, help="provider calls at a time")] = 256,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Payments throughput on a fresh local cluster (20% declined, simulated provider)."""
    from orderstream.bench.payments import bench_payments

    with console.status("payments bench: cluster, orders, drain"):
        figures = bench_payments(orders, latency_ms, max_in_flight)
    if json:
        print_json({"bench": "payments", **figures})
        return
    print_table(
        "payments throughput", ["figure", "value"], [(k, f"{v:,}") for k, v in figures.items()]
    )


@app.command("payments-latency")
def payments_latency_bench(
    rate: Annotated[int, typer.Option(min=1, help="orders per second offered")] = 1_000,
    seconds: Annotated[float, typer.Option(min=1, help="seconds of load")] = 20.0,
    latency_ms: Annotated[float, typer.Option(help="simulated provider latency")] = 10.0,
    warmup_s: Annotated[float, typer.Option(min=0, help="first seconds left out")] = 2.0,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Order -> PAID p50/p99 through enrichment and payments at --rate (fresh local cluster)."""
    from orderstream.bench.payments_latency import bench_payments_latency

    with console.status("payments latency bench: cluster, services, load") as status:
        figures = bench_payments_latency(
            rate, seconds, latency_ms, warmup_s, lambda line: status.update(line)
        )
    if json:
        print_json({"bench": "payments-latency", **figures})
        return
    print_table(
        f"order -> PAID at {rate:,} orders/s (OrderCreated timestamp to PaymentCompleted readable)",
        ["figure", "value"],
        [(k, f"{v:,}" if isinstance(v, int | float) else str(v)) for k, v in figures.items()],
    )


@app.command("orders-tls")
def orders_tls_bench(
    count: Annotated[int, typer.Option(help="orders per round and side")] = 5_000,
    rounds: Annotated[int, typer.Option(help="alternating rounds (best of each side)")] = 2,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The orders API's accepted orders/s over HTTPS against HTTP, in one run (fresh cluster)."""
    from orderstream.bench.tls import orders_tls_bench as run_bench

    say = (lambda _line: None) if json_out else (lambda line: console.print(line, style="dim"))
    f = run_bench(load_settings().cache_dir, count, rounds, say)
    if json_out:
        print_json(
            {
                "bench": "orders-tls",
                "orders_per_round": f.count,
                "rounds": f.rounds,
                "http_rps": round(f.best("http")),
                "https_rps": round(f.best("https")),
                "https_over_http": round(f.ratio, 3),
                "refused": f.refused,
            }
        )
        return
    print_table(
        f"orders API, {count:,} single orders per round, best of {rounds}",
        ["scheme", "accepted orders/s", "refused", "ratio"],
        [
            ("http", f"{f.best('http'):,.0f}", str(f.refused["http"]), "1.00"),
            ("https", f"{f.best('https'):,.0f}", str(f.refused["https"]), f"{f.ratio:.2f}"),
        ],
    )
