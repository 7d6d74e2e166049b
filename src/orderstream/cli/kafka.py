"""``orderstream kafka``: install, start, stop and inspect the local Apache Kafka (KRaft)."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Annotated

import typer

from orderstream.cli.common import JsonFlag, console, err_console, print_json_or_table
from orderstream.cli.context import cluster_home, effective_settings
from orderstream.config import load_settings
from orderstream.errors import PlatformError
from orderstream.platform import perf as kperf
from orderstream.platform import ports, secure
from orderstream.platform.cluster import (
    cluster_down,
    cluster_up,
    load_spec,
    log_tail,
    purge,
)
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import ClusterSpec, make_spec
from orderstream.platform.status import cluster_status
from orderstream.platform.topology import ensure_topic

app = typer.Typer(
    help="Run a real Apache Kafka (KRaft) on this machine, without Docker.", no_args_is_help=True
)


def _parse_ports(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        ports = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"ports must be comma-separated integers, got {text!r}") from None
    if any(not 0 < p < 65535 for p in ports):
        raise typer.BadParameter(f"ports must be between 1 and 65534, got {text!r}")
    return ports


def _warn_ephemeral(spec: ClusterSpec) -> None:
    """Ports inside the ephemeral range can be taken by a reconnecting client's self-connect."""
    first, last = ports.ephemeral_range()
    inside = [
        p for n in spec.nodes for p in (n.broker_port, n.controller_port) if first <= p <= last
    ]
    if inside:
        err_console.print(
            f"[yellow]warning:[/] port(s) {', '.join(map(str, inside))} lie in the kernel's "
            f"ephemeral range {first}-{last}: after a node crash a reconnecting client can take "
            "the port (TCP self-connect) and the node cannot restart; choose ports outside it",
            highlight=False,
        )


def _require_spec() -> ClusterSpec:
    settings = load_settings()
    spec = load_spec(cluster_home(settings))
    if spec is None:
        raise PlatformError(
            f"no local cluster under {cluster_home(settings)}; "
            "start one with 'orderstream kafka up'"
        )
    return spec


@app.command()
def install() -> None:
    """Resolve the pinned Kafka release from Maven Central into the cache (idempotent)."""
    settings = load_settings()
    with console.status("resolving Apache Kafka with Maven..."):
        dist, did_work = install_kafka(settings.cache_dir)
    state = "installed" if did_work else "already installed"
    console.print(f"Kafka {dist.version} {state} in {dist.root}")


@app.command()
def up(
    nodes: Annotated[int, typer.Option(help="1 or 3 combined broker+controller nodes")] = 1,
    ports: Annotated[
        str | None, typer.Option(help="broker ports, comma-separated (controller = port+1)")
    ] = None,
    controller_ports: Annotated[str | None, typer.Option(help="controller ports")] = None,
    heap: Annotated[str, typer.Option(help="JVM max heap per node, e.g. 512m or 1g")] = "512m",
    bench: Annotated[
        bool, typer.Option(help="benchmark JVM flags (G1) instead of test ones")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all nodes")] = 120.0,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure", help="SASL_SSL/SCRAM, mTLS controllers, ACLs (see 'security show')"
        ),
    ] = False,
) -> None:
    """Start a local KRaft cluster in the background and wait until every node is registered."""
    if nodes not in (1, 3):
        raise typer.BadParameter(f"--nodes must be 1 or 3, got {nodes}")
    settings = load_settings()
    dist, _ = install_kafka(settings.cache_dir)
    try:
        spec = make_spec(
            cluster_home(settings),
            nodes,
            _parse_ports(ports),
            _parse_ports(controller_ports),
            heap=heap,
            bench=bench,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if secure:
        spec = replace(spec, secure_home=str(settings.home))
    _warn_ephemeral(spec)
    with console.status(f"starting {nodes}-node Kafka {dist.version} (KRaft)..."):
        result = cluster_up(dist, spec, timeout=timeout)
    if result.restarted:
        nodes_text = ", ".join(str(n) for n in result.restarted)
        console.print(f"Kafka was running with node(s) {nodes_text} down: restarted them")
    elif result.already_running:
        console.print(f"Kafka is already running: {result.spec.bootstrap}")
    else:
        console.print(
            f"Kafka {dist.version} is up with {result.spec.size} node(s) "
            f"in {result.seconds:.1f}s; logs under {result.spec.home}"
        )
    console.print(f"bootstrap.servers={result.spec.bootstrap}", highlight=False)
    if secure:
        _provision(result.spec)


def _provision(spec: ClusterSpec) -> None:
    """Users and ACLs of a secured cluster; refuses a plaintext cluster that already runs."""
    if spec.secure_home is None:
        raise PlatformError(
            "a PLAINTEXT cluster is already running here; stop it with "
            "'orderstream kafka down --purge' and start again with --secure"
        )
    with console.status("creating SCRAM users and applying ACLs..."):
        report = secure.provision(spec)
    console.print(
        f"secured: SASL_SSL/SCRAM-SHA-512, {len(report.users)} service users, "
        f"{report.granted} grants added, {report.revoked} revoked; "
        "connection details: 'orderstream security show'"
    )


@app.command()
def down(
    purge_data: Annotated[bool, typer.Option("--purge", help="also delete data and logs")] = False,
    timeout: Annotated[float, typer.Option(help="seconds before SIGKILL")] = 30.0,
) -> None:
    """Stop the local cluster: SIGTERM, then SIGKILL after --timeout."""
    settings = load_settings()
    spec = load_spec(cluster_home(settings))
    if spec is None:
        console.print("no local cluster to stop")
        return
    outcomes = cluster_down(spec, timeout=timeout)
    for node_id, how in outcomes.items():
        console.print(f"node {node_id}: {how}")
    if purge_data:
        purge(spec.home)
        console.print(f"purged {spec.home}")


@app.command()
def status(
    as_json: JsonFlag = False,
) -> None:
    """Per node: pid, liveness, ports, the controller reported by metadata, and topic count."""
    spec = _require_spec()
    st = cluster_status(spec)
    print_json_or_table(
        as_json,
        asdict(st),
        f"Kafka at {st.bootstrap} ({st.topics if st.topics is not None else '?'} topics)",
        ["node", "pid", "alive", "port", "controller port", "controller"],
        [
            (
                n.node_id,
                n.pid,
                "yes" if n.alive else "NO",
                n.port,
                n.controller_port,
                "*" if n.is_controller else "",
            )
            for n in st.nodes
        ],
    )
    if not as_json and not any(n.alive for n in st.nodes):
        raise typer.Exit(1)


@app.command()
def logs(
    node: Annotated[int, typer.Option(help="node id")] = 1,
    lines: Annotated[int, typer.Option("-n", "--lines", help="how many lines")] = 50,
) -> None:
    """Print the last lines of a node's log."""
    spec = _require_spec()
    match = [n for n in spec.nodes if n.node_id == node]
    if not match:
        raise typer.BadParameter(f"no node {node}; nodes are {[n.node_id for n in spec.nodes]}")
    typer.echo(log_tail(spec.log_file(match[0]), lines))


@app.command(name="perf")
def perf_cmd(
    records: Annotated[int, typer.Option(help="records to produce and consume")] = 1_000_000,
    record_size: Annotated[int, typer.Option(help="bytes per record")] = 100,
    acks: Annotated[str, typer.Option(help="producer acks")] = "all",
    partitions: Annotated[int, typer.Option(help="partitions of the perf topic")] = 6,
    as_json: JsonFlag = False,
) -> None:
    """Kafka's own ProducerPerformance and ConsumerPerformance: the raw broker ceiling."""
    settings = effective_settings()
    dist, _ = install_kafka(settings.cache_dir)
    topic = f"orderstream-perf-{int(time.time())}"
    ensure_topic(settings, topic, partitions)
    with console.status(f"producing {records:,} records of {record_size} B (acks={acks})..."):
        prod = kperf.producer_perf(
            dist, settings.bootstrap_servers, topic, records, record_size, acks
        )
    with console.status(f"consuming {records:,} records..."):
        cons = kperf.consumer_perf(dist, settings.bootstrap_servers, topic, records)
    print_json_or_table(
        as_json,
        {"topic": topic, "producer": asdict(prod), "consumer": asdict(cons)},
        f"Kafka perf: {records:,} x {record_size} B, acks={acks}, {partitions} partitions",
        ["side", "records/s", "MB/s", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"],
        [
            (
                "produce",
                f"{prod.records_per_sec:,.0f}",
                f"{prod.mb_per_sec:.2f}",
                prod.p50_ms,
                prod.p95_ms,
                prod.p99_ms,
                prod.p999_ms,
                f"{prod.max_latency_ms:.0f}",
            ),
            (
                "consume",
                f"{cons.records_per_sec:,.0f}",
                f"{cons.mb_per_sec:.2f}",
                "",
                "",
                "",
                "",
                "",
            ),
        ],
    )
