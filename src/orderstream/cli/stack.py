"""``orderstream up | down | ps | demo``: the whole local stack, in the background."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Annotated

import typer

from orderstream.cli.common import JsonFlag, console, print_json_or_table
from orderstream.config import load_settings
from orderstream.ops.stack import SERVICES, ServiceSpec, Stack


def _say(line: str) -> None:
    # soft_wrap: a log path stays on its line, whole and copyable, whatever the console width.
    console.print(line, highlight=False, soft_wrap=True)


def _check_nodes(nodes: int | None) -> int | None:
    if nodes not in (None, 1, 3):
        raise typer.BadParameter(f"--nodes must be 1 or 3, got {nodes}")
    return nodes


NodesOption = Annotated[
    int | None,
    typer.Option(
        help="local Kafka nodes: 1 (port 9092) or 3 (19092, 29092, 31092; RF 3, min ISR 2); "
        "default: the cluster already in the home, else 1",
        callback=_check_nodes,
    ),
]


SecureOption = Annotated[
    bool,
    typer.Option(
        "--secure",
        help="SASL_SSL/SCRAM Kafka with ACLs, each service its own principal "
        "(see 'orderstream security show')",
    ),
]


# -- optional parts: each flag of up (--secure too) names one part of ops.stack.optional_parts --
MonitoringOption = Annotated[
    bool,
    typer.Option(
        "--monitoring/--no-monitoring",
        help="also Jaeger (traces), Prometheus, Alertmanager and the lag exporter",
    ),
]


def _optional(*, secure: bool, monitoring: bool) -> tuple[str, ...]:
    return tuple(name for name, on in (("secure", secure), ("monitoring", monitoring)) if on)


PortOffsetOption = Annotated[
    int,
    typer.Option(
        min=0,
        max=10_000,
        help="add this to every service port (not the registry's): a second pipeline copy "
        "(ORDERSTREAM_PREFIX) beside the first, e.g. 100 -> orders on 8180",
    ),
]


def _services(port_offset: int) -> tuple[ServiceSpec, ...]:
    """The services of ``up``; the registry is shared by every copy (ORDERSTREAM_REGISTRY_URL)."""
    return tuple(
        s if s.name == "registry" else replace(s, port=s.port + port_offset) for s in SERVICES
    )


def up(
    timeout: Annotated[float, typer.Option(help="seconds to wait for each service")] = 120,
    nodes: NodesOption = None,
    secure: SecureOption = False,
    monitoring: MonitoringOption = False,
    port_offset: PortOffsetOption = 0,
) -> None:
    """Start Kafka, topics, registry, schemas and every service that is not running.

    Each service runs under a small detached supervisor that restarts it when it crashes
    (backoff 1 s doubling to 30 s) and logs how every run ended; 'orderstream down' stops them.
    """
    # load_settings(), not effective_settings(): up decides itself whether to start Kafka.
    stack = Stack(
        load_settings(),
        _services(port_offset),
        nodes=nodes,
        optional=_optional(secure=secure, monitoring=monitoring),
    )
    stack.up(_say, timeout_s=timeout)
    _say("stack is up; 'orderstream ps' lists it, 'orderstream down' stops it")


def down(
    timeout: Annotated[float, typer.Option(help="seconds before SIGKILL")] = 20,
) -> None:
    """Stop every service that up started (and Kafka, if up started it)."""
    Stack(load_settings()).down(_say, timeout_s=timeout)


def ps(
    json_out: JsonFlag = False,
) -> None:
    """The stack's processes: name, pid, port, alive, restarts by the supervisor, last exit."""
    infos = Stack(load_settings()).ps()
    print_json_or_table(
        json_out,
        [i.as_json() for i in infos],
        "orderstream processes",
        ["name", "pid", "port", "alive", "supervised", "restarts", "last exit"],
        [
            (
                i.name,
                i.pid,
                i.port,
                "yes" if i.alive else "no",
                "yes" if i.supervised else "no",
                i.restarts,
                i.last_exit or "",
            )
            for i in infos
        ],
    )


ORDERS_API = "http://127.0.0.1:8080"

NEXT_STEPS = """
[bold]What to look at next[/]
  http://127.0.0.1:8088/                  the live analytics dashboard
  orderstream analytics watch             the same summary in the terminal
  orderstream ps                          the processes, their pids and ports
  curl -s localhost:8080/orders/<orderId>  an order's outcome (RESERVED / REJECTED)
  curl -s localhost:8080/metrics           orders accepted, refused, ack latency
  curl -s localhost:8090/metrics           enrichment: records in/out, commits, lag
  curl -s localhost:8092/metrics           payments: circuit state, paid, failed, waiting
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
    nodes: NodesOption = None,
    secure: SecureOption = False,
    monitoring: MonitoringOption = False,
) -> None:
    """up, seed, steady load with a live summary until Ctrl-C or --duration, audit, next steps."""
    from orderstream.cli import analytics, pipeline

    up(nodes=nodes, secure=secure, monitoring=monitoring)
    pipeline.seed(products=products, stock=stock)
    dashboard = _trust_the_stack(analytics.DASHBOARD) if secure else analytics.DASHBOARD
    if monitoring:
        _show_a_trace(_trust_the_stack(ORDERS_API) if secure else ORDERS_API)
    _say(f"dashboard: {dashboard}/  (Ctrl-C stops the load, then the audit runs)")
    with analytics.steady_load(rate, products, load_settings().home / "services" / "demo-load.log"):
        analytics.watch_summary(dashboard, duration)
    pipeline.audit(json_out=False, timeout=60)
    logs = load_settings().home / "services"
    console.print(NEXT_STEPS.format(logs=logs), highlight=False, soft_wrap=True)


def _trust_the_stack(url: str) -> str:
    """``url`` over HTTPS, trusted through the local CA: the secured stack serves its dashboard
    and API over HTTPS, and the demo's HTTP clients (httpx) verify with ``SSL_CERT_FILE``."""
    from orderstream.platform import secure as secured
    from orderstream.platform.certs import LocalCA

    ca = LocalCA.load_or_create(load_settings().home).ca_file
    os.environ.setdefault("SSL_CERT_FILE", str(ca))
    return secured.https_url(url)


def _show_a_trace(orders_api: str) -> None:
    from orderstream.monitoring.part import post_traced_order
    from orderstream.monitoring.ports import DEFAULT_PORTS

    trace_id = post_traced_order(orders_api)
    _say(
        f"jaeger: http://127.0.0.1:{DEFAULT_PORTS.jaeger}/trace/{trace_id}  (one order, end to end)"
    )
    _say(f"prometheus: http://127.0.0.1:{DEFAULT_PORTS.prometheus}/alerts")


def register(app: typer.Typer) -> None:
    """Add up, down, ps and demo to the top-level app."""
    app.command()(up)
    app.command()(down)
    app.command()(ps)
    app.command()(demo)
