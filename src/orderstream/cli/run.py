"""``orderstream run <service>``: run one service in the foreground (JSON logs on stderr)."""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path
from typing import Annotated

import typer

from orderstream.cli.context import effective_settings
from orderstream.logging import configure_logging

app = typer.Typer(help="Run one orderstream service in the foreground.", no_args_is_help=True)


def _trace_native_crashes() -> None:
    """A segfault in librdkafka (or any C extension) dumps every thread's Python stack to
    stderr, which is the service log under ``up``, instead of the process simply vanishing."""
    faulthandler.enable(all_threads=True)


def _exit_when_librdkafka_hangs() -> None:
    """A transactional call stuck inside librdkafka past its timeout ends the process, which
    ``up``'s supervisor restarts (see ``orderstream.kafka.watchdog``)."""
    from orderstream.kafka.watchdog import WATCHDOG

    WATCHDOG.exit_when_hung()


@app.command()
def orders(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8080,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    tls_cert: Annotated[
        Path | None, typer.Option(help="serve HTTPS with this PEM certificate (chain)")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="the PEM private key of --tls-cert")] = None,
) -> None:
    """The orders HTTP API: POST /orders, POST /orders/batch, GET /orders/{id}."""
    from orderstream.services.orders.server import serve_orders
    from orderstream.tls import ServerTls

    configure_logging(log_level, service="orders")
    _trace_native_crashes()
    tls = ServerTls.from_options(tls_cert, tls_key)
    serve_orders(effective_settings(), host=host, port=port, tls=tls)


@app.command()
def enrichment(
    instances: Annotated[int, typer.Option(help="instances to run as child processes")] = 1,
    instance_id: Annotated[
        str, typer.Option(help="stable id of this instance (transactional.id suffix)")
    ] = "0",
    http_port: Annotated[
        int | None, typer.Option(help="/metrics /healthz /readyz port (instance i: port + i)")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="local store snapshots (default: $ORDERSTREAM_HOME)")
    ] = None,
    commit_interval_ms: Annotated[int, typer.Option(help="transaction per interval")] = 100,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Stock-reserving enrichment on the exactly-once runtime."""
    if instances < 1:
        raise typer.BadParameter(f"--instances must be at least 1, got {instances}")
    configure_logging(log_level, service="enrichment")
    _trace_native_crashes()
    _exit_when_librdkafka_hangs()
    settings = effective_settings()
    if instances > 1:
        _supervise_enrichment(instances, http_port, state_dir, commit_interval_ms, log_level)
        return
    from orderstream.services.enrichment.service import enrichment_config, run_enrichment

    base = state_dir or settings.home / "enrichment"
    config = enrichment_config(
        instance_id,
        http_port=http_port,
        state_dir=base / instance_id,
        commit_interval_ms=commit_interval_ms,
    )
    run_enrichment(settings, config)


def _supervise_enrichment(
    instances: int,
    http_port: int | None,
    state_dir: Path | None,
    commit_interval_ms: int,
    log_level: str,
) -> None:
    from orderstream.ops.instances import InstanceSupervisor

    argvs = []
    for i in range(instances):
        argv = [sys.executable, "-m", "orderstream.cli", "run", "enrichment"]
        argv += ["--instance-id", str(i), "--commit-interval-ms", str(commit_interval_ms)]
        argv += ["--log-level", log_level]
        if http_port is not None:
            argv += ["--http-port", str(http_port + i)]
        if state_dir is not None:
            argv += ["--state-dir", str(state_dir)]
        argvs.append(argv)
    InstanceSupervisor(argvs).run()


@app.command()
def analytics(
    host: Annotated[str, typer.Option(help="dashboard interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="dashboard and /api/stats port")] = 8088,
    window_ms: Annotated[int, typer.Option(help="tumbling window size")] = 10_000,
    grace_ms: Annotated[int, typer.Option(help="grace period after a window's end")] = 2_000,
    idle_close_ms: Annotated[int, typer.Option(help="close windows of idle partitions")] = 5_000,
    threshold: Annotated[float, typer.Option(help="anomaly score that raises an alert")] = 0.9,
    seed: Annotated[int, typer.Option(help="anomaly model seed")] = 42,
    instance_id: Annotated[str, typer.Option(help="stable id (transactional.id suffix)")] = "0",
    topic_prefix: Annotated[str, typer.Option(help="prefix of its topics and group")] = "",
    state_dir: Annotated[Path | None, typer.Option(help="store snapshots")] = None,
    commit_interval_ms: Annotated[int, typer.Option(help="transaction per interval")] = 100,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    tls_cert: Annotated[
        Path | None, typer.Option(help="serve the dashboard over HTTPS with this PEM cert")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="the PEM private key of --tls-cert")] = None,
) -> None:
    """Windows, anomaly alerts and the live dashboard on the exactly-once runtime."""
    from orderstream.services.analytics.service import AnalyticsArgs, run_from_args
    from orderstream.tls import ServerTls

    configure_logging(log_level, service="analytics")
    _trace_native_crashes()
    _exit_when_librdkafka_hangs()
    tls = ServerTls.from_options(tls_cert, tls_key)
    args = AnalyticsArgs(
        host, port, window_ms, grace_ms, idle_close_ms, threshold, seed, topic_prefix, tls
    )
    run_from_args(effective_settings(), args, instance_id, state_dir, commit_interval_ms)
