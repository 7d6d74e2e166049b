"""``orderstream topics``: topology as code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderstream.cli.common import JsonFlag, console, print_json, print_json_or_table, print_table
from orderstream.cli.context import effective_settings
from orderstream.errors import TopologyError
from orderstream.platform.describe import describe_topics, summary
from orderstream.platform.plan import (
    MEASURED_RATES,
    PartitionPlan,
    plan_partitions,
    rates_from_bench,
)
from orderstream.platform.topology import (
    admin_for,
    apply_plan,
    cluster_snapshot,
    default_topology_path,
    load_topology,
    plan_topology,
)

app = typer.Typer(help="Create and inspect topics from topology.toml.", no_args_is_help=True)


@app.command()
def apply(
    file: Annotated[
        Path | None, typer.Option(help="topology file (default: the packaged topology.toml)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, change nothing")
    ] = False,
) -> None:
    """Print a plan, then create missing topics, add partitions and alter configs."""
    settings = effective_settings()
    admin, plan = plan_topology(settings, file)
    if settings.prefix:
        console.print(f"pipeline prefix {settings.prefix!r} (ORDERSTREAM_PREFIX)", markup=False)
    for line in plan.lines():
        console.print(line, highlight=False, markup=False)
    if plan.refusals:
        raise TopologyError(
            f"{len(plan.refusals)} change(s) refused; nothing was applied. Fix topology.toml "
            "or create new topics"
        )
    if plan.empty:
        console.print("no changes: the cluster matches the topology")
        return
    if dry_run:
        console.print("dry run: nothing applied")
        return
    apply_plan(admin, plan)
    console.print(
        f"applied: {len(plan.create)} created, {len(plan.add_partitions)} repartitioned, "
        f"{len(plan.alter_configs)} reconfigured"
    )


@app.command(name="list")
def list_topics(
    as_json: JsonFlag = False,
    internal: Annotated[bool, typer.Option(help="include __consumer_offsets etc.")] = False,
) -> None:
    """List topics with partitions, replication factor and cleanup policy."""
    settings = effective_settings()
    admin = admin_for(settings)
    names = [n for n in admin.list_topics(timeout=10).topics if internal or not n.startswith("__")]
    _, states = cluster_snapshot(admin, sorted(names))
    rows = [
        {
            "topic": s.name,
            "partitions": s.partitions,
            "replication_factor": s.replication_factor,
            "cleanup.policy": s.config.get("cleanup.policy"),
            "min.insync.replicas": s.config.get("min.insync.replicas"),
        }
        for s in states.values()
    ]
    print_json_or_table(
        as_json,
        rows,
        f"{len(rows)} topics at {settings.bootstrap_servers}",
        ["topic", "partitions", "rf", "cleanup", "min isr"],
        [tuple(r.values()) for r in rows],
    )


@app.command()
def describe(
    topic: Annotated[str | None, typer.Argument(help="one topic (default: every topic)")] = None,
    as_json: JsonFlag = False,
    internal: Annotated[bool, typer.Option(help="include __consumer_offsets etc.")] = False,
) -> None:
    """Leader, replicas and ISR of every partition; flags under-replicated and offline ones."""
    settings = effective_settings()
    states = describe_topics(admin_for(settings), topic, internal=internal)
    print_json_or_table(
        as_json,
        [s.as_json() for s in states],
        f"partitions at {settings.bootstrap_servers}",
        ["topic", "partition", "leader", "replicas", "isr", "status"],
        [
            (
                s.topic,
                s.partition,
                s.leader if s.leader >= 0 else "none",
                ",".join(map(str, s.replicas)),
                ",".join(map(str, s.isr)),
                s.status if s.status == "ok" else f"[bold red]{s.status}[/]",
            )
            for s in states
        ],
    )
    if not as_json:
        console.print(summary(states), highlight=False)


@app.command()
def plan(
    peak_orders_per_s: Annotated[
        float, typer.Option("--peak-orders-per-s", help="the peak order rate to plan for")
    ],
    file: Annotated[
        Path | None, typer.Option(help="topology file (default: the packaged topology.toml)")
    ] = None,
    bench: Annotated[
        Path | None,
        typer.Option(help="per-consumer figures: saved `orderstream bench runtime --json` output"),
    ] = None,
    min_consumers: Annotated[
        int, typer.Option(min=1, help="instances every group runs anyway (e.g. for failover)")
    ] = 1,
    max_partitions: Annotated[int, typer.Option(min=1, help="never plan more than this")] = 120,
    as_json: JsonFlag = False,
) -> None:
    """Partitions per topic for a peak rate: about 2 x the consumers each stage needs."""
    path = file or default_topology_path()
    rates = rates_from_bench(bench) if bench else MEASURED_RATES
    result = plan_partitions(
        peak_orders_per_s,
        load_topology(path, brokers=1),
        rates=rates,
        min_consumers=min_consumers,
        max_partitions=max_partitions,
    )
    if as_json:
        print_json(result.as_json())
        return
    _print_plan(result, path, "from --bench" if bench else "measured defaults")


def _print_plan(result: PartitionPlan, path: Path, source: str) -> None:
    print_table(
        f"partitions for {result.peak_orders_per_s:,.0f} orders/s ({source})",
        ["topic", "consumers", "plan", "toml", "action"],
        [
            (
                t.topic,
                t.consumers or "",
                t.partitions,
                "-" if t.current is None else t.current,
                t.action,
            )
            for t in result.topics
        ],
    )
    for t in result.topics:
        console.print(f"{t.topic} ({t.stage}): {t.reason}", highlight=False, markup=False)
    diff = result.diff_lines()
    if not diff:
        console.print(f"no changes: {path} already has enough partitions")
        return
    console.print(f"changes to {path}:", highlight=False)
    for line in diff:
        console.print(line, highlight=False, markup=False)
    console.print("edit topology.toml, then `orderstream topics apply --dry-run` to check")
