"""``orderstream chaos``: broker faults under load on a disposable 3-node stack, then checkers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orderstream.cli.common import JsonFlag, console, err_console, print_json, print_table
from orderstream.config import load_settings
from orderstream.errors import OrderstreamError

if TYPE_CHECKING:  # the scenarios and their checkers load the services: imported when chaos runs
    from orderstream.chaos.runner import ScenarioResult


def chaos(
    names: Annotated[
        list[str] | None, typer.Argument(help="scenarios to run (see --list)", show_default=False)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="run every scenario")] = False,
    duration: Annotated[float, typer.Option(help="seconds of load per scenario")] = 60,
    rate: Annotated[float, typer.Option(help="orders per second offered")] = 100,
    json_out: JsonFlag = False,
    list_: Annotated[bool, typer.Option("--list", help="list the scenarios and exit")] = False,
    home: Annotated[
        Path | None, typer.Option(help="where the disposable stack lives (logs stay there)")
    ] = None,
) -> None:
    """Run fault scenarios on a fresh 3-node stack under load; exit 0 only if every check holds.

    The stack (3 brokers, registry, orders, enrichment, analytics) is started for this run on free
    ports, never touching the one 'orderstream up' runs, and stopped afterwards.
    """
    from orderstream.chaos.scenarios import SCENARIOS, scenario

    if list_:
        print_table(
            "chaos scenarios", ["scenario", "fault"], [(s.name, s.summary) for s in SCENARIOS]
        )
        return
    if not all_ and not names:
        raise OrderstreamError("name a scenario (see 'orderstream chaos --list') or give --all")
    plan = list(SCENARIOS) if all_ else [scenario(n) for n in names or []]
    if duration < 10 or rate <= 0:
        raise OrderstreamError("--duration must be at least 10 s and --rate positive")
    from orderstream.chaos.env import chaos_environment
    from orderstream.chaos.runner import run_scenario

    settings = load_settings()
    where = home or settings.home / "chaos" / time.strftime("%Y%m%d-%H%M%S")

    def say(line: str) -> None:
        err_console.print(line, highlight=False)

    results: list[ScenarioResult] = []
    with chaos_environment(where, settings.cache_dir, say) as env:
        for s in plan:
            say(f"[bold]{s.name}[/]: {s.summary} ({duration:.0f}s of load at {rate:.0f}/s)")
            result = run_scenario(env, s, duration, rate)
            results.append(result)
            say(f"{s.name}: {result.verdict} in {result.seconds:.0f}s")
    _print(results, json_out, where)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _print(results: list[ScenarioResult], json_out: bool, where: Path) -> None:
    from orderstream.chaos.report import COLUMNS, as_json, problems, table_rows

    if json_out:
        print_json({"ok": all(r.ok for r in results), "home": str(where),
                    "scenarios": [as_json(r) for r in results]})  # fmt: skip
        return
    print_table("orderstream chaos", COLUMNS, table_rows(results))
    for line in problems(results):
        console.print(f"[red]{line}[/]", highlight=False)
    console.print(f"logs and data: {where}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(chaos)
