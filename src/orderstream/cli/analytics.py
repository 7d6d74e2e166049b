"""``orderstream analytics``: watch the live summary in the terminal, benchmark analytics."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from orderstream.cli.bench_output import (
    JsonFlag,
    JsonOut,
    PlotDir,
    Show,
    int_list,
    say_for,
)
from orderstream.cli.bench_output import report as emit
from orderstream.cli.common import console, print_table
from orderstream.cli.context import effective_settings

app = typer.Typer(help="Live analytics: terminal summary and benchmarks.", no_args_is_help=True)

DASHBOARD = "http://127.0.0.1:8088"


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def summary_view(stats: dict[str, Any], url: str) -> Group:
    """The terminal summary of one ``/api/stats`` snapshot."""
    t = stats["totals"]
    head = Table.grid(padding=(0, 3))
    for _ in range(6):
        head.add_column(justify="right")
    head.add_row("orders/s", "orders", "revenue", "reserved / rejected", "p50 / p99", "late")
    head.add_row(
        f"[bold]{stats['ordersPerSec']:,.0f}",
        f"[bold]{t['orders']:,}",
        f"[bold]{_money(t['revenueCents'])}",
        f"[green]{t['reserved']:,}[/] / [red]{t['rejected']:,}",
        f"{stats['latency']['p50Ms']:.0f} / {stats['latency']['p99Ms']:.0f} ms",
        f"{t['late']:,}",
    )
    lag = Table("group", "topic", "lag", title="consumer lag", title_justify="left")
    for row in stats["lag"]:
        lag.add_row(row["group"], row["topic"], f"{row['lag']:,}")
    alerts = Table("order", "amount", "score", "why", title="latest alerts", title_justify="left")
    for a in stats["alerts"][:5]:
        alerts.add_row(
            a["orderId"][:13], _money(a["amountCents"]), f"{a['score']:.2f}", a["reason"]
        )
    return Group(
        f"[bold]orderstream[/] live analytics  dashboard: [link]{url}/[/]", head, lag, alerts
    )


def watch_summary(url: str, duration: float | None) -> None:
    """Redraw the summary twice a second until Ctrl-C or ``duration`` seconds."""
    deadline = None if duration is None else time.monotonic() + duration
    with httpx.Client(base_url=url, timeout=5) as client, Live(console=console) as live:
        try:
            while deadline is None or time.monotonic() < deadline:
                try:
                    live.update(summary_view(client.get("/api/stats").json(), url))
                except httpx.HTTPError as exc:
                    live.update(f"[yellow]waiting for analytics at {url}: {exc}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


@app.command()
def watch(
    url: Annotated[str, typer.Option(help="the analytics service")] = DASHBOARD,
    duration: Annotated[float | None, typer.Option(help="seconds (default: until Ctrl-C)")] = None,
) -> None:
    """A live terminal summary of the analytics service."""
    watch_summary(url, duration)


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="backlog for the throughput run")] = 100_000,
    rates: Annotated[
        str, typer.Option(help="offered rates for window-close latency")
    ] = "1000,5000,10000",
    seconds: Annotated[float, typer.Option(help="seconds per rate")] = 15.0,
    samples: Annotated[int, typer.Option(help="dashboard delay samples")] = 20,
    home: Annotated[Path | None, typer.Option(help="logs and state (default: $HOME/bench)")] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Broker to measure; by default a fresh local 1-node cluster is started"),
    ] = None,
    registry: Annotated[
        str | None, typer.Option(help="Registry with --bootstrap (default: the configured one)")
    ] = None,
    json: JsonFlag = False,
    json_out: JsonOut = None,
    plot: PlotDir = None,
) -> None:
    """Throughput under EOS, window-close latency per rate, and dashboard update delay."""
    from orderstream.bench.analytics import (
        Bench,
        BenchReport,
        report_json,
    )
    from orderstream.bench.environment import bench_services

    rate_list = list(int_list("--rates", rates))
    base = effective_settings()
    say = say_for(json)
    report = BenchReport()
    with bench_services(base, bootstrap, registry, say) as settings:
        run = Bench(settings, home or base.home / "bench" / "analytics", say)
        try:
            run.create_topics()
            run.throughput(events, report)
            run.close_latency(rate_list, seconds, report)
            run.dashboard_delay(samples, report)
        finally:
            run.close()
    figures = report_json(report)
    document = emit("analytics", figures, _report_tables(report), json_flag=json, json_out=json_out)
    if plot is not None:
        from orderstream.bench.plot import plot_figures

        for path in plot_figures(document, plot):
            say(f"drew {path}")


def _report_tables(report: Any) -> Show:
    return lambda figures: _print_report(report, figures)


def _print_report(report: Any, figures: dict[str, Any]) -> None:
    print_table(
        "analytics throughput under exactly-once (6 partitions, anomaly model on)",
        ["events/s", "events", "seconds"],
        [
            (
                f"{report.events_per_s:,.0f}",
                f"{report.throughput_events:,}",
                f"{report.throughput_s:.1f}",
            )
        ],
    )

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    rows = [
        (f"{int(rate):,}", f"{f['produced_per_s']:,.0f}", f["windows"], *map(ms, p))
        for rate, f in figures["close_latency_ms"].items()
        for p in [(f["p50"], f["p99"], f["max"])]
    ]
    print_table(
        "window-close latency, 2 s windows + 0.5 s grace: end + grace -> readable in order-stats",
        ["offered/s", "produced/s", "windows", "p50 ms", "p99 ms", "max ms"],
        rows,
    )
    d = figures["dashboard_delay_ms"]
    print_table(
        "dashboard update delay (produce -> /api/events)",
        ["samples", "p50 ms", "max ms"],
        [(d["samples"], ms(d["p50"]), ms(d["max"]))],
    )


@contextlib.contextmanager
def steady_load(rate: int, products: int, log: Path) -> Iterator[None]:
    """``orderstream load`` at ``rate`` in the background, 20 s chunks, until the block ends.

    Chunks, because ``load`` builds its orders up front; each runs in its own session, so
    Ctrl-C reaches only the demo, which then stops the chunk in flight.
    """
    stop = threading.Event()
    log.parent.mkdir(parents=True, exist_ok=True)

    def run_chunks() -> None:
        chunk = 0
        while not stop.is_set():
            argv = [sys.executable, "-m", "orderstream.cli", "load", "--count", str(rate * 20)]
            argv += ["--rate", str(rate), "--products", str(products), "--seed", str(chunk)]
            with log.open("ab") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
            while proc.poll() is None:
                if stop.wait(0.2):
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
            chunk += 1

    loader = threading.Thread(target=run_chunks, name="demo-load", daemon=True)
    loader.start()
    try:
        yield
    finally:
        stop.set()
        loader.join(30)
