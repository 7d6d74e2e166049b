"""``orderstream registry``: run the Schema Registry and create auth entries."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from orderstream.cli.bench_registry import registry_bench
from orderstream.cli.context import effective_settings
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


# `orderstream registry bench` is `orderstream bench registry` (the code lives in orderstream.bench)
app.command("bench")(registry_bench)
