"""``orderstream seed | load | audit``: feed the pipeline and prove its invariants."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orderstream.cli.common import JsonFlag, console, print_json_or_table
from orderstream.cli.context import effective_settings, stack_url
from orderstream.ops.audit import as_json, run_audit
from orderstream.ops.load import LoadReport, LoadSpec, build_orders, load_direct, load_over_http
from orderstream.ops.seed import seed_catalog


def seed(
    products: Annotated[int, typer.Option(help="products in the catalog")] = 100,
    stock: Annotated[int, typer.Option(help="initial stock of each product")] = 1_000,
) -> None:
    """Write the product catalog and one initial-stock InventoryAdjusted per product."""
    report = seed_catalog(effective_settings("seed"), products, stock)
    console.print(
        f"seeded {report.products} products with {report.stock_each} units each "
        f"in {report.seconds:.1f}s"
    )


def load(
    count: Annotated[int, typer.Option(help="orders to send")] = 10_000,
    rate: Annotated[
        float, typer.Option(help="orders per second (0 = as fast as possible)")
    ] = 1_000,
    direct: Annotated[bool, typer.Option(help="produce to Kafka instead of HTTP")] = False,
    customers: Annotated[int, typer.Option(help="distinct customers")] = 1_000,
    products: Annotated[int, typer.Option(help="products seeded (orders pick among them)")] = 100,
    url: Annotated[str, typer.Option(help="orders API")] = "http://127.0.0.1:8080",
    concurrency: Annotated[int, typer.Option(help="HTTP connections")] = 64,
    batch: Annotated[int, typer.Option(help="orders per HTTP request (batch endpoint if > 1)")] = 1,
    seed_: Annotated[int, typer.Option("--seed", help="random seed of the payloads")] = 7,
    idempotency_keys: Annotated[
        bool, typer.Option(help="send each order with an Idempotency-Key instead of an orderId")
    ] = False,
) -> None:
    """Offer orders at a fixed rate; exit 1 if any order was refused."""
    settings = effective_settings("load")
    url = stack_url(settings, url)  # the secured stack's API is https on the same port
    spec = LoadSpec(
        count, rate, customers, products, direct, url, concurrency, batch, seed_, idempotency_keys,
        ca_file=settings.security.ca_file,  # an https:// --url is signed by the cluster's CA
    )  # fmt: skip
    spec.check()
    orders = build_orders(spec)
    how = "Kafka (--direct)" if direct else url
    with Progress(
        TextColumn(f"orders -> {how}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,  # no bar in logs and pipes, only the summary
    ) as bar:
        task = bar.add_task("load", total=count)

        def advance(n: int) -> None:
            bar.advance(task, n)

        if direct:
            report = load_direct(spec, settings, orders, advance)
        else:
            report = asyncio.run(load_over_http(spec, orders, advance))
    _print_load(report)
    if report.refused or report.accepted < count:
        raise typer.Exit(1)


def _print_load(report: LoadReport) -> None:
    worst = max(report.latencies or [0.0])
    console.print(
        f"accepted {report.accepted}/{report.sent} in {report.seconds:.1f}s "
        f"= {report.rate:,.0f} orders/s; ack latency p50 {report.percentile(0.5) * 1000:.1f} ms, "
        f"p99 {report.percentile(0.99) * 1000:.1f} ms, max {worst * 1000:.1f} ms"
    )
    for reason, n in report.refusals.most_common():
        console.print(f"[red]refused {n}: {reason}[/]")


def audit(
    json_out: JsonFlag = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the pipeline to settle")] = 60,
    reservation_timeout_ms: Annotated[
        int, typer.Option(help="enrichment's reservation timeout (payments checks)")
    ] = 300_000,
) -> None:
    """Check the pipeline's invariants on the live topics; exit 0 only if all hold."""
    results = run_audit(
        effective_settings("audit"),
        timeout_s=timeout,
        reservation_timeout_ms=reservation_timeout_ms,
    )
    ok = all(r.ok for r in results)
    print_json_or_table(
        json_out,
        as_json(results),
        "orderstream audit",
        ["check", "verdict", "detail"],
        [(r.name, "PASS" if r.ok else "FAIL", r.detail) for r in results],
    )
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add seed, load and audit to the top-level app."""
    app.command()(seed)
    app.command()(load)
    app.command()(audit)
