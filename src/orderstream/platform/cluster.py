"""Start, stop and inspect a local KRaft cluster of JVM processes.

Files under the cluster home: ``cluster.json`` (the spec), ``log4j2.properties``, and per node
``node-<id>/{node.properties,kafka.log,kafka.pid,data/}``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.errors import NodeStartFailed, PlatformError, PortInUse
from orderstream.platform import secure
from orderstream.platform.certs import write_private
from orderstream.platform.install import KafkaDistribution
from orderstream.platform.jmx import agent_flag
from orderstream.platform.nodes import (
    LOG4J2_PROPERTIES,
    ClusterSpec,
    NodeSpec,
    jvm_flags,
    node_properties,
)
from orderstream.platform.procs import is_alive

logger = logging.getLogger(__name__)

SPEC_FILE = "cluster.json"
LOG_TAIL_LINES = 25
PORT_RELEASE_S = 30.0


def load_spec(home: Path) -> ClusterSpec | None:
    path = home / SPEC_FILE
    if not path.is_file():
        return None
    return ClusterSpec.from_json(path.read_text())


def read_pid(spec: ClusterSpec, node: NodeSpec) -> int | None:
    try:
        return int(spec.pid_file(node).read_text().strip())
    except (OSError, ValueError):
        return None


def is_node_alive(spec: ClusterSpec, node: NodeSpec) -> bool:
    """True when the pid file names a live JVM started for this node (not a reused pid)."""
    pid = read_pid(spec, node)
    return pid is not None and is_alive(pid, str(spec.props_file(node)))


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port_free(port: int, timeout: float) -> bool:
    """The kernel releases a killed process's sockets a moment after it is reaped."""
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def check_ports(spec: ClusterSpec) -> None:
    for node in spec.nodes:
        if not port_is_free(node.broker_port):
            raise PortInUse(node.broker_port, f"broker port of node {node.node_id}")
        if not port_is_free(node.controller_port):
            raise PortInUse(node.controller_port, f"controller port of node {node.node_id}")
        if node.jmx_port is not None and not port_is_free(node.jmx_port):
            raise PortInUse(node.jmx_port, f"JMX exporter port of node {node.node_id}")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _java(
    dist: KafkaDistribution, main: str, *args: str, flags: list[str] | None = None
) -> list[str]:
    return ["java", *(flags or []), "-cp", dist.classpath, main, *args]


def write_configs(spec: ClusterSpec) -> None:
    spec.home.mkdir(parents=True, exist_ok=True)
    (spec.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    for node in spec.nodes:
        spec.node_dir(node).mkdir(parents=True, exist_ok=True)
        props = node_properties(spec, node)
        # 0600: a secured node's properties hold its JAAS line (the admin password).
        text = "".join(f"{k}={v}\n" for k, v in props.items())
        write_private(spec.props_file(node), text.encode())
    (spec.home / SPEC_FILE).write_text(spec.to_json())


def _is_formatted(spec: ClusterSpec, node: NodeSpec) -> bool:
    return (spec.node_dir(node) / "data" / "meta.properties").is_file()


def format_storage(dist: KafkaDistribution, spec: ClusterSpec) -> None:
    """Format every unformatted node's log dir with the cluster id (in parallel)."""
    todo = [n for n in spec.nodes if not _is_formatted(spec, n)]

    def fmt(node: NodeSpec) -> None:
        cmd = _java(
            dist,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            spec.cluster_id,
            "-c",
            str(spec.props_file(node)),
            flags=[
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                f"-Dlog4j2.configurationFile={spec.home / 'log4j2.properties'}",
            ],
        )
        with secure.format_command(spec, node, cmd) as argv:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise NodeStartFailed(
                f"formatting node {node.node_id} failed:\n{(proc.stdout + proc.stderr)[-2000:]}"
            )

    with ThreadPoolExecutor(max_workers=len(todo) or 1) as pool:
        list(pool.map(fmt, todo))


def start_node(dist: KafkaDistribution, spec: ClusterSpec, node: NodeSpec) -> int:
    flags = [
        *jvm_flags(spec),
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={spec.home / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={spec.node_dir(node)}",
    ]
    if node.jmx_port is not None:  # broker metrics for Prometheus (platform/jmx.py)
        flags.append(agent_flag(dist.root.parent, spec.home, node.jmx_port))
    cmd = _java(dist, "kafka.Kafka", str(spec.props_file(node)), flags=flags)
    log = spec.log_file(node).open("ab")
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=spec.node_dir(node),
        )
    finally:
        log.close()
    spec.pid_file(node).write_text(str(proc.pid))
    # Until the forked child has exec'd java, /proc shows python's cmdline: wait for the JVM.
    deadline = time.monotonic() + 10
    while not is_node_alive(spec, node) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc.pid


_QUIET = logging.getLogger("orderstream.librdkafka")


def admin_client(bootstrap: str, conf: Mapping[str, str] | None = None) -> AdminClient:
    """A short-lived admin client whose connection-refused chatter goes to debug logging.
    ``conf`` adds security settings (``secure.cluster_client_config``)."""
    return AdminClient(
        {"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 3, **(conf or {})},
        logger=_QUIET,
    )


def registered_brokers(
    bootstrap: str, timeout: float = 5.0, conf: Mapping[str, str] | None = None
) -> int:
    """How many brokers the cluster reports, or -1 when it does not answer."""
    admin = admin_client(bootstrap, conf)  # keep a reference: a collected client never answers
    try:
        result = admin.describe_cluster(request_timeout=timeout).result(timeout + 1)
    except KafkaException:
        return -1
    return len(result.nodes)


def wait_ready(spec: ClusterSpec, timeout: float = 120.0) -> float:
    """Block until every node is registered; NodeStartFailed if one dies or time runs out."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        for node in spec.nodes:
            if not is_node_alive(spec, node):
                raise NodeStartFailed(
                    f"Kafka node {node.node_id} exited during start-up; last lines of "
                    f"{spec.log_file(node)}:\n{log_tail(spec.log_file(node))}"
                )
        conf = secure.cluster_client_config(spec)
        if registered_brokers(spec.bootstrap, timeout=3.0, conf=conf) >= spec.size:
            return time.monotonic() - started
        time.sleep(0.3)
    tails = "\n".join(
        f"--- node {n.node_id} ({spec.log_file(n)}):\n{log_tail(spec.log_file(n), 10)}"
        for n in spec.nodes
    )
    raise NodeStartFailed(f"Kafka did not become ready within {timeout:.0f}s\n{tails}")


@dataclass(frozen=True)
class UpResult:
    spec: ClusterSpec
    already_running: bool
    seconds: float
    restarted: tuple[int, ...] = ()  # nodes of a running cluster that were down and restarted


def cluster_up(dist: KafkaDistribution, spec: ClusterSpec, timeout: float = 120.0) -> UpResult:
    """Start the cluster described by ``spec`` unless it already runs.

    A cluster home that holds a previous spec keeps that spec's cluster id and ports, so that
    restarting reuses formatted storage.
    """
    previous = load_spec(spec.home)
    if previous is not None and any(is_node_alive(previous, n) for n in previous.nodes):
        restarted = tuple(restart_dead_nodes(dist, previous))
        seconds = wait_ready(previous, timeout)
        return UpResult(previous, already_running=True, seconds=seconds, restarted=restarted)
    if (
        previous is not None
        and previous.size == spec.size
        and previous.secure_home == spec.secure_home  # storage formatted for the other mode
        and _is_formatted(previous, previous.nodes[0])
    ):
        spec = replace(spec, cluster_id=previous.cluster_id)
    elif previous is not None:
        purge(spec.home)
    check_ports(spec)
    write_configs(spec)
    format_storage(dist, spec)
    began = time.monotonic()
    for node in spec.nodes:
        start_node(dist, spec, node)
    try:
        wait_ready(spec, timeout)
    except NodeStartFailed:
        cluster_down(spec)
        raise
    return UpResult(spec, already_running=False, seconds=time.monotonic() - began)


def restart_dead_nodes(dist: KafkaDistribution, spec: ClusterSpec) -> list[int]:
    """Start every node of ``spec`` whose process is gone; returns their ids."""
    dead = [n for n in spec.nodes if not is_node_alive(spec, n)]
    for node in dead:
        # A port still taken (e.g. by a client's self-connect) is a clear error, not a node
        # that dies during start-up with a bind exception in its log.
        for port, what in ((node.broker_port, "broker"), (node.controller_port, "controller")):
            if not _wait_port_free(port, PORT_RELEASE_S):
                raise PortInUse(port, f"{what} port of node {node.node_id}")
        start_node(dist, spec, node)
    return [n.node_id for n in dead]


def signal_node(spec: ClusterSpec, node: NodeSpec, sig: signal.Signals) -> bool:
    pid = read_pid(spec, node)
    if pid is None or not is_node_alive(spec, node):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    return True


def _wait_dead(spec: ClusterSpec, node: NodeSpec, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_node_alive(spec, node):
            return True
        _reap(read_pid(spec, node))
        time.sleep(0.1)
    return not is_node_alive(spec, node)


def _reap(pid: int | None) -> None:
    if pid is None:
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_node(spec: ClusterSpec, node: NodeSpec, timeout: float = 30.0) -> str:
    """SIGTERM, then SIGKILL after ``timeout``; returns how the node stopped."""
    if not signal_node(spec, node, signal.SIGTERM):
        spec.pid_file(node).unlink(missing_ok=True)
        return "not running"
    how = "stopped"
    if not _wait_dead(spec, node, timeout):
        signal_node(spec, node, signal.SIGKILL)
        _wait_dead(spec, node, 10.0)
        how = "killed"
    spec.pid_file(node).unlink(missing_ok=True)
    return how


KILL_WAIT_S = 60.0  # a SIGKILLed JVM's threads can take many seconds to go on a loaded machine


def kill_node(spec: ClusterSpec, node: NodeSpec) -> None:
    """A crash: SIGKILL, no clean shutdown. Returns once the process is gone: a node still
    dying would look alive to ``restart_dead_nodes`` and never be restarted."""
    signal_node(spec, node, signal.SIGKILL)
    if not _wait_dead(spec, node, KILL_WAIT_S):
        raise PlatformError(f"node {node.node_id} still alive {KILL_WAIT_S:.0f}s after SIGKILL")


def cluster_down(spec: ClusterSpec, timeout: float = 30.0) -> dict[int, str]:
    """Stop every node, in parallel so that controllers keep a quorum while brokers shut down."""
    with ThreadPoolExecutor(max_workers=spec.size) as pool:
        outcomes = pool.map(lambda n: (n.node_id, stop_node(spec, n, timeout)), spec.nodes)
        return dict(outcomes)


def purge(home: Path) -> None:
    """Delete the cluster's data, configs and logs."""
    spec = load_spec(home)
    if spec is not None and any(is_node_alive(spec, n) for n in spec.nodes):
        raise PlatformError("the cluster is still running; stop it before purging")
    for child in home.glob("node-*"):
        shutil.rmtree(child, ignore_errors=True)
    (home / SPEC_FILE).unlink(missing_ok=True)
