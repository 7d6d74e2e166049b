"""``orderstream up | down | ps | demo``: the whole local stack, in the background."""

from __future__ import annotations

from typing import Annotated

import typer

from orderstream.cli.common import console, print_json, print_table
from orderstream.config import load_settings
from orderstream.ops.stack import Stack


def _say(line: str) -> None:
    console.print(line, highlight=False)


def up(
    timeout: Annotated[float, typer.Option(help="seconds to wait for each service")] = 120,
) -> None:
    """Start Kafka, topics, registry, schemas and every service that is not running."""
    # load_settings(), not effective_settings(): up decides itself whether to start Kafka.
    stack = Stack(load_settings())
    stack.up(_say, timeout_s=timeout)
    _say("stack is up; 'orderstream ps' lists it, 'orderstream down' stops it")


def down(
    timeout: Annotated[float, typer.Option(help="seconds before SIGKILL")] = 20,
) -> None:
    """Stop every service that up started (and Kafka, if up started it)."""
    Stack(load_settings()).down(_say, timeout_s=timeout)


def ps(
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The stack's processes: name, pid, port, alive."""
    infos = Stack(load_settings()).ps()
    if json_out:
        print_json([i.as_json() for i in infos])
        return
    print_table(
        "orderstream processes",
        ["name", "pid", "port", "alive"],
        [(i.name, i.pid, i.port, "yes" if i.alive else "no") for i in infos],
    )


NEXT_STEPS = """
[bold]What to look at next[/]
  http://127.0.0.1:8088/                  the live analytics dashboard
  orderstream analytics watch             the same summary in the terminal
  orderstream ps                          the processes, their pids and ports
  curl -s localhost:8080/orders/<orderId>  an order's outcome (RESERVED / REJECTED)
  curl -s localhost:8080/metrics           orders accepted, refused, ack latency
  curl -s localhost:8090/metrics           enrichment: records in/out, commits, lag
  ls {logs}                               the services' JSON logs
  orderstream load --count 20000 --rate 2000   more load; then orderstream audit
  orderstream down                        stop everything up started
"""


def demo(
    duration: Annotated[
        float | None, typer.Option(help="seconds of load and live summary (default: Ctrl-C)")
    ] = None,
    rate: Annotated[int, typer.Option(help="orders per second")] = 500,
    products: Annotated[int, typer.Option(help="products to seed")] = 100,
    stock: Annotated[int, typer.Option(help="initial stock per product")] = 2_000,
) -> None:
    """up, seed, steady load with a live summary until Ctrl-C or --duration, audit, next steps."""
    from orderstream.cli import analytics, pipeline

    up()
    pipeline.seed(products=products, stock=stock)
    _say(f"dashboard: {analytics.DASHBOARD}/  (Ctrl-C stops the load, then the audit runs)")
    with analytics.steady_load(rate, products, load_settings().home / "services" / "demo-load.log"):
        analytics.watch_summary(analytics.DASHBOARD, duration)
    pipeline.audit(json_out=False, timeout=60)
    logs = load_settings().home / "services"
    console.print(NEXT_STEPS.format(logs=logs), highlight=False)


def register(app: typer.Typer) -> None:
    """Add up, down, ps and demo to the top-level app."""
    app.command()(up)
    app.command()(down)
    app.command()(ps)
    app.command()(demo)
