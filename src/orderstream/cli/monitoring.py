"""``orderstream lag-exporter``: consumer lag in records and seconds for Prometheus;
``orderstream jaeger-install``: build Jaeger once into the cache."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Annotated

import typer

from orderstream.cli.common import console
from orderstream.cli.context import effective_settings
from orderstream.config import Role, kafka_config
from orderstream.logging import configure_logging
from orderstream.monitoring.ports import DEFAULT_PORTS


def register(app: typer.Typer) -> None:
    app.command("lag-exporter")(lag_exporter)
    app.command("jaeger-install")(jaeger_install)


def jaeger_install() -> None:
    """Build Jaeger v1.76.0 from the Go module proxy into the cache, unless it is there."""
    from orderstream.monitoring.jaeger_install import JAEGER_VERSION, install_jaeger

    cache = effective_settings().cache_dir
    with console.status(f"building Jaeger {JAEGER_VERSION} (once; several minutes on 2 cores)"):
        binary, seconds = install_jaeger(cache)
    if seconds is None:
        console.print(f"jaeger: {binary} (cached)")
    else:
        console.print(f"jaeger: built {binary} in {seconds:.0f}s")


def lag_exporter(
    port: Annotated[int, typer.Option(help="HTTP port of /metrics")] = DEFAULT_PORTS.lag_exporter,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    interval: Annotated[
        float, typer.Option(min=0.5, help="seconds between two reads of every group's lag")
    ] = 5.0,
    cluster: Annotated[str, typer.Option(help="the cluster_name label")] = "orderstream",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Serve kafka-lag-exporter's gauges on /metrics until SIGINT/SIGTERM."""
    from orderstream.monitoring.lag_exporter import LagExporter

    configure_logging(log_level, service="lag-exporter")
    settings = effective_settings()
    exporter = LagExporter(
        kafka_config(Role.ADMIN, "lag-exporter", settings=settings),
        kafka_config(Role.ADMIN, "lag-exporter", settings=settings),
        cluster=cluster,
        interval_s=interval,
    )

    def stop(_sig: int, _frame: FrameType | None) -> None:
        exporter.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exporter.serve(port, host)
    console.print(
        f"lag exporter: http://{host}:{port}/metrics (Kafka {settings.bootstrap_servers})"
    )
    sys.stdout.flush()  # a log file under `up` sees the line now, not at exit
    exporter.wait()
