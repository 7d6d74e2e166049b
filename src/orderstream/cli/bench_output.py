"""What every ``orderstream bench ...`` command shares: its output options and how it reports.

One JSON shape for all of them: ``{"bench": <name>, **figures}``, printed with ``--json`` or
written with ``--json-out FILE``; otherwise a Rich table drawn by the command's own function.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from orderstream.cli.common import console, print_json, print_table

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON object")]
JsonOut = Annotated[
    Path | None, typer.Option("--json-out", help="also write the JSON object to this file")
]
PlotDir = Annotated[
    Path | None, typer.Option("--plot", help="draw PNGs (latency percentiles, throughput) here")
]
Say = Callable[[str], None]
Show = Callable[[dict[str, Any]], None]  # prints a bench's tables from its JSON object


def report(
    bench: str,
    figures: Mapping[str, Any],
    show: Show,
    *,
    json_flag: bool,
    json_out: Path | None,
) -> dict[str, Any]:
    """Write and print the figures the one way every bench does; returns the JSON object."""
    document = {"bench": bench, **figures}
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if json_flag:
        print_json(document)
    else:
        show(document)
    return document


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Show:
    """A ``show`` for ``report`` that prints one table of rows computed beforehand."""
    return lambda _document: print_table(title, columns, rows)


def quiet(_line: str) -> None:
    """A progress callback that says nothing (``--json`` output stays clean)."""


def say_for(json_flag: bool) -> Say:
    """Progress lines for people, nothing for scripts."""
    return quiet if json_flag else (lambda line: console.print(line, style="dim"))


def progress_bar(counter: str, *, transient: bool, disable: bool = False) -> Progress:
    """The benches' Rich progress bar: what is going on, a bar, ``counter``, time elapsed."""
    return Progress(
        TextColumn("{task.description:<48}"),
        BarColumn(),
        TextColumn(counter),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=disable,
    )


@contextlib.contextmanager
def phase_bar(phases: int, json_flag: bool) -> Iterator[Say]:
    """A progress bar over a bench's ``phases``; each line said advances it by one phase."""
    with progress_bar("{task.completed}/{task.total}", transient=True, disable=json_flag) as bar:
        task = bar.add_task("starting", total=phases)
        started = False

        def say(line: str) -> None:
            nonlocal started
            done = bar.tasks[0].completed + (1 if started else 0)
            bar.update(task, description=line, completed=done, total=max(phases, done + 1))
            started = True

        yield say
        bar.update(task, completed=phases)


def int_list(option: str, text: str) -> tuple[int, ...]:
    """``--rates 1000,5000`` as integers, or a clear error naming the option."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"{option} must be integers separated by commas: {text}") from None
