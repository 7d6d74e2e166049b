"""``orderstream bench registry``: lookups/s, registration latency and start-up time."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from orderstream.cli.bench_output import JsonFlag, JsonOut, report, table
from orderstream.cli.common import console
from orderstream.cli.context import effective_settings


def registry_bench(
    schemas: Annotated[int, typer.Option(help="schemas to register (and to restart with)")] = 1000,
    seconds: Annotated[float, typer.Option(help="duration of the GET load")] = 10.0,
    connections: Annotated[int, typer.Option(help="concurrent connections of the load")] = 32,
    json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """Registration latency, GET /schemas/ids/{id} throughput, start-up time with N schemas.

    Runs a registry subprocess on a fresh schemas topic of the configured cluster, then
    deletes the topic.
    """
    from orderstream.bench.registry import run_registry_bench

    waiting = contextlib.nullcontext() if json else console.status("benchmarking the registry")
    with waiting:
        f = run_registry_bench(effective_settings(), schemas, seconds, connections)
    rows = [
        ("registration p50 / p99 / max (ms)",
         f"{f['register_p50_ms']} / {f['register_p99_ms']} / {f['register_max_ms']}"),
        ("first registration after start-up (ms)", f"{f['first_register_ms']}"),
        (f"GET /schemas/ids/{{id}} ({f['lookup_tool']}, {connections} connections)",
         f"{f['lookups_per_s']:,.0f}/s"),
        ("lookup p50 / p99 (ms)", f"{f['lookup_p50_ms']} / {f['lookup_p99_ms']}"),
        ("EventSerde OrderCreated encodes/s (one thread)", f"{f['serde_encodes_per_s']:,.0f}"),
        ("EventSerde OrderCreated decodes/s (one thread)", f"{f['serde_decodes_per_s']:,.0f}"),
        (f"start-up with {f['startup_records']} records (s)", f"{f['startup_s']}"),
        ("store read at start-up (s)", f"{f['store_read_s']}"),
    ]  # fmt: skip
    show = table(f"schema registry, {schemas:,} schemas", ["figure", "value"], rows)
    report("registry", f, show, json_flag=json, json_out=json_out)
