"""A disposable 3-node environment for chaos: brokers behind proxies, the whole stack, a catalog.

Everything lives under one directory: the cluster (RF 3, min ISR 2, unclean election off), a
proxy per broker (the brokers advertise the proxies' ports, so clients and followers reach every
broker through one), the registry and every service started by ``Stack`` on free ports below the
ephemeral range, and node 3's log dir on a small tmpfs when the machine allows mounting one (for
the full-disk fault). ``chaos_environment`` always stops all of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orderstream.chaos.cluster import ClusterControl
from orderstream.chaos.ports import free_ports
from orderstream.chaos.proxy import BrokerProxy
from orderstream.chaos.reaper import start_reaper, stop_reaper, sweep
from orderstream.config import Settings
from orderstream.ops.seed import seed_catalog
from orderstream.ops.stack import SERVICES, Stack, probe_ready
from orderstream.platform.cluster import cluster_down, cluster_up
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import ClusterSpec, make_spec

logger = logging.getLogger(__name__)

NODES = 3
PRODUCTS = 50
STOCK = 1_000_000  # enough that no order is rejected OUT_OF_STOCK: every order reserves
TMPFS_SIZE = "512m"
DISK_NODE = 3


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    alive: bool
    ready: bool
    restarts: int  # restarts by the supervisor, as ``ps --json`` reports them (0 without one)

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class ChaosEnv:
    """The running environment the scenarios act on."""

    home: Path
    settings: Settings
    cluster: ClusterControl
    stack: Stack
    proxies: dict[int, BrokerProxy]
    disk_mount: Path | None  # node DISK_NODE's tmpfs log dir, None when mounting failed
    disk_unsupported: str = ""  # why there is no tmpfs
    service_urls: dict[str, str] = field(default_factory=dict)

    @property
    def orders_url(self) -> str:
        return self.service_urls["orders"]

    def services(self) -> list[ServiceState]:
        states = []
        by_name = {s.name: s for s in self.stack.services}
        for info in self.stack.ps():
            spec = by_name.get(info.name)
            if spec is None:
                continue  # a broker: the cluster control reports those
            restarts = info.restarts
            ready = info.alive and probe_ready(self.stack.recorded(spec))
            states.append(ServiceState(info.name, info.pid, info.alive, ready, restarts))
        return states


def _spec_with_proxies(home: Path) -> tuple[ClusterSpec, dict[int, int], list[int]]:
    ports = free_ports(NODES * 3 + len(SERVICES))
    brokers, controllers, proxied = ports[0:3], ports[3:6], ports[6:9]
    spec = make_spec(home, NODES, ports=tuple(brokers), controller_ports=tuple(controllers))
    nodes = tuple(
        dataclasses.replace(n, advertised_port=p) for n, p in zip(spec.nodes, proxied, strict=True)
    )
    return (
        dataclasses.replace(spec, nodes=nodes),
        dict(zip(brokers, proxied, strict=True)),
        ports[9:],
    )


def _mount_tmpfs(path: Path) -> str:
    """Mount a small tmpfs at ``path``; returns why it failed, or "" on success."""
    path.mkdir(parents=True, exist_ok=True)
    argv = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'{' '.join(argv)}' could not run: {exc}"
    if done.returncode != 0:
        return f"'{' '.join(argv)}' failed: {(done.stderr or done.stdout).strip()}"
    return ""


def _services(ports: list[int]) -> tuple[tuple[str, int], ...]:
    return tuple((s.name, p) for s, p in zip(SERVICES, ports, strict=True))


@contextlib.contextmanager
def chaos_environment(
    home: Path, cache_dir: Path, report: Callable[[str], None], full_disk: bool = True
) -> Iterator[ChaosEnv]:
    """Start the environment under ``home`` and always stop everything it started."""
    dist, _ = install_kafka(cache_dir)
    spec, proxy_of, service_ports = _spec_with_proxies(home / "kafka")
    proxies = {n.node_id: BrokerProxy(proxy_of[n.broker_port], n.broker_port) for n in spec.nodes}
    disk_node = next(n for n in spec.nodes if n.node_id == DISK_NODE)
    mount = spec.node_dir(disk_node) / "data"
    why = _mount_tmpfs(mount) if full_disk else "not requested"
    reaper = start_reaper(home, None if why else mount)
    stack: Stack | None = None
    try:
        for proxy in proxies.values():
            proxy.start()
        report(f"kafka: starting 3 nodes under {home}")
        spec = cluster_up(dist, spec, timeout=240).spec
        bootstrap = ",".join(f"127.0.0.1:{proxy_of[n.broker_port]}" for n in spec.nodes)
        ports = dict(_services(service_ports))
        settings = Settings(
            bootstrap_servers=bootstrap,
            registry_url=f"http://127.0.0.1:{ports['registry']}",
            home=home,
        )
        services = tuple(dataclasses.replace(s, port=ports[s.name]) for s in SERVICES)
        stack = Stack(settings, services)
        stack.up(report, timeout_s=240)
        seeded = seed_catalog(settings, PRODUCTS, STOCK)
        report(f"seed: {seeded.products} products, {seeded.stock_each} units each")
        yield ChaosEnv(
            home=home,
            settings=settings,
            cluster=ClusterControl(dist, spec, settings),
            stack=stack,
            proxies=proxies,
            disk_mount=None if why else mount,
            disk_unsupported=why,
            service_urls={name: f"http://127.0.0.1:{p}" for name, p in ports.items()},
        )
    finally:
        if stack is not None:
            stack.down(lambda line: logger.info("down: %s", line), timeout_s=20)
        cluster_down(spec, timeout=20)
        for proxy in proxies.values():
            proxy.stop()
        stop_reaper(reaper)
        leftover = sweep(home, None if why else mount)  # whatever a supervisor restarted late
        if leftover:
            logger.warning("chaos: killed leftover processes %s", leftover)
