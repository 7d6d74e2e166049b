"""Output helpers shared by the CLI modules: Rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

# Options that several commands take, declared once.
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
BenchRecords = Annotated[int, typer.Option(min=10_000, help="records per scenario")]
BenchRounds = Annotated[int, typer.Option(min=1, help="rounds; the best of each counts")]
MaxInFlight = Annotated[int, typer.Option(min=1, help="provider calls at a time (pool)")]


def console_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_json_or_table(
    as_json: bool, data: Any, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """What a listing command prints: ``data`` as JSON for scripts, else the table of ``rows``."""
    if as_json:
        print_json(data)
    else:
        print_table(title, columns, rows)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
