"""The ``orderstream`` command: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import typer

from orderstream.cli import acls as acls_cli
from orderstream.cli import analytics as analytics_cli
from orderstream.cli import bench as bench_cli
from orderstream.cli import chaos as chaos_cli
from orderstream.cli import kafka, monitoring, pipeline, stack, topics
from orderstream.cli import registry as registry_cli
from orderstream.cli import run as run_cli
from orderstream.cli import schemas as schemas_cli
from orderstream.cli import security as security_cli
from orderstream.cli.common import console_error
from orderstream.errors import OrderstreamError

app = typer.Typer(
    name="orderstream",
    help="A real-time, exactly-once order pipeline on Apache Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(topics.app, name="topics")
app.add_typer(acls_cli.app, name="acls")  # secured cluster: ACLs as code
app.add_typer(security_cli.app, name="security")
app.add_typer(run_cli.app, name="run")
stack.register(app)  # up, down, ps
chaos_cli.register(app)  # chaos
pipeline.register(app)  # seed, load, audit
app.add_typer(registry_cli.app, name="registry")
app.add_typer(schemas_cli.app, name="schemas")
app.add_typer(analytics_cli.app, name="analytics")
app.add_typer(bench_cli.app, name="bench")
monitoring.register(app)  # lag-exporter


def main() -> None:
    """Entry point: expected failures print one clear line and exit non-zero, never a traceback."""
    try:
        app()
    except OrderstreamError as exc:
        console_error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        console_error("interrupted")
        sys.exit(130)
