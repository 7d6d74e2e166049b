"""``orderstream registry``: run the Schema Registry, create auth entries, benchmark it."""

from __future__ import annotations

import getpass
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import httpx
import typer

from orderstream.cli.context import effective_settings
from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import ConfigError
from orderstream.logging import configure_logging
from orderstream.registry.auth import RoleName, user_line

app = typer.Typer(
    help="The Confluent-compatible Schema Registry, stored in the _schemas topic.",
    invoke_without_command=True,
)


@app.callback()
def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8081,
    auth_file: Annotated[
        Path | None,
        typer.Option(help="users with salted password hashes (see `registry hash-password`)"),
    ] = None,
    topic: Annotated[str, typer.Option(help="the schemas topic")] = "_schemas",
    advertised_url: Annotated[
        str | None,
        typer.Option(help="URL other instances forward writes to (default: http[s]://host:port)"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    tls_cert: Annotated[
        Path | None, typer.Option(help="serve HTTPS with this PEM certificate (chain)")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="the PEM private key of --tls-cert")] = None,
    tls_ca: Annotated[
        Path | None,
        typer.Option(help="CA that signed the other instances (default: security.ca_file)"),
    ] = None,
) -> None:
    """Serve the registry until SIGINT/SIGTERM (503 until _schemas is read to its end)."""
    if ctx.invoked_subcommand is not None:
        return
    from orderstream.registry.server import serve
    from orderstream.tls import ServerTls

    configure_logging(log_level, service="registry")
    serve(
        effective_settings(),
        host=host,
        port=port,
        topic=topic,
        auth_file=auth_file,
        advertised_url=advertised_url,
        tls=ServerTls.from_options(tls_cert, tls_key),
        ca_file=tls_ca,
    )


@app.command("hash-password")
def hash_password(
    user: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[RoleName, typer.Option(help="read-only or read-write")] = RoleName.READ_ONLY,
) -> None:
    """Print an auth-file line; the password is read from a prompt or stdin, never argv."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise ConfigError("empty password")
    typer.echo(user_line(user, role, password))


@app.command()
def bench(
    schemas: Annotated[int, typer.Option(help="schemas to register (and to restart with)")] = 1000,
    seconds: Annotated[float, typer.Option(help="duration of the GET load")] = 10.0,
    connections: Annotated[int, typer.Option(help="concurrent connections of the load")] = 32,
) -> None:
    """Registration latency, GET /schemas/ids/{id} throughput, start-up time with N schemas.

    Runs a registry subprocess on a fresh schemas topic of the configured cluster, then
    deletes the topic.
    """
    from orderstream.cli.common import console
    from orderstream.registry.bench import (
        load_schema_ids,
        percentile,
        register_many,
        serde_throughput,
    )
    from orderstream.registry.store import ensure_schemas_topic
    from orderstream.testing.registry import start_registry

    settings = effective_settings()
    topic = f"_schemas-bench-{uuid.uuid4().hex[:8]}"
    ensure_schemas_topic(settings, topic)
    try:
        registry = start_registry(settings.bootstrap_servers, topic=topic)
        try:
            registry.wait_ready()
            ids, latencies = register_many(registry.url, schemas)
            load = load_schema_ids(registry.url, min(ids), max(ids), seconds, connections)
            encodes, decodes = serde_throughput(registry.url)
        finally:
            registry.stop()
        started = time.monotonic()
        restarted = start_registry(settings.bootstrap_servers, topic=topic)
        try:
            restarted.wait_ready()
            startup_s = time.monotonic() - started
            status = httpx.get(f"{restarted.url}/_orderstream/status").json()
        finally:
            restarted.stop()
    finally:
        _delete_topic(settings, topic)
    first, *ms = [x * 1000 for x in latencies]  # the first write waits for the election
    console.print(
        f"registration latency ({schemas} schemas, sequential): p50 {percentile(ms, 0.5):.2f} ms, "
        f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms, default=first):.2f} ms; "
        f"first write after start-up {first:.0f} ms",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"GET /schemas/ids/{{id}} ({load.tool}, {connections} connections, {load.seconds:.1f} s): "
        f"{load.per_second:,.0f} requests/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"EventSerde OrderCreated (one thread): {encodes:,.0f} encodes/s, {decodes:,.0f} decodes/s",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"start-up with {status['records']} records in {topic}: {startup_s:.2f} s to first 2xx "
        f"(process start included); store read in {status['ready_after_s']:.2f} s",
        highlight=False,
        soft_wrap=True,
    )


def _delete_topic(settings: Settings, topic: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(kafka_config(Role.ADMIN, "registry-bench", settings=settings))
    admin.delete_topics([topic], operation_timeout=30)[topic].result(35)
