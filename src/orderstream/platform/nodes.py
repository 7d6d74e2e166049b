"""Configuration of local KRaft nodes (combined broker and controller), as pure data."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_PORTS: dict[int, tuple[int, ...]] = {1: (9092,), 3: (19092, 29092, 31092)}


@dataclass(frozen=True)
class NodeSpec:
    """One combined broker+controller node on 127.0.0.1."""

    node_id: int
    broker_port: int
    controller_port: int
    # Clients are told this port instead of broker_port (a fault-injecting proxy listens there).
    advertised_port: int | None = None
    # The Prometheus JMX exporter agent's /metrics (None: the node runs without the agent).
    jmx_port: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"


@dataclass(frozen=True)
class ClusterSpec:
    """A local cluster: its nodes, JVM heap and where it keeps its files."""

    home: Path
    nodes: tuple[NodeSpec, ...]
    cluster_id: str
    heap: str = "512m"
    bench: bool = False
    extra_props: dict[str, str] = field(default_factory=dict)
    # Secured cluster (platform/secure.py): the $ORDERSTREAM_HOME whose secrets/ holds its CA,
    # certificates and passwords. None: PLAINTEXT.
    secure_home: str | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def size(self) -> int:
        return len(self.nodes)

    def node_dir(self, node: NodeSpec) -> Path:
        return self.home / f"node-{node.node_id}"

    def pid_file(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "kafka.pid"

    def log_file(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "kafka.log"

    def props_file(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "node.properties"

    def to_json(self) -> str:
        data = asdict(self)
        data["home"] = str(self.home)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClusterSpec:
        data = json.loads(text)
        nodes = tuple(NodeSpec(**n) for n in data.pop("nodes"))
        return cls(home=Path(data.pop("home")), nodes=nodes, **data)


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in unpadded URL-safe base64, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def make_spec(
    home: Path,
    nodes: int,
    ports: tuple[int, ...] | None = None,
    controller_ports: tuple[int, ...] | None = None,
    heap: str = "512m",
    bench: bool = False,
    jmx_ports: tuple[int | None, ...] | None = None,
) -> ClusterSpec:
    """The spec for a 1- or 3-node cluster; controller ports default to broker port + 1.

    At the default ports every node carries the JMX exporter at broker port + 2 (9094, 19094,
    29094, 31094); given ports carry it only at the ``jmx_ports`` given (test clusters on free
    ports cannot know that port + 2 is free).
    """
    broker_ports = ports or DEFAULT_PORTS.get(nodes)
    if broker_ports is None or len(broker_ports) != nodes:
        raise ValueError(f"give {nodes} broker ports for a {nodes}-node cluster")
    ctl_ports = controller_ports or tuple(p + 1 for p in broker_ports)
    if jmx_ports is None:
        jmx_ports = tuple(p + 2 if ports is None else None for p in broker_ports)
    specs = tuple(
        NodeSpec(node_id=i + 1, broker_port=bp, controller_port=cp, jmx_port=jp)
        for i, (bp, cp, jp) in enumerate(zip(broker_ports, ctl_ports, jmx_ports, strict=True))
    )
    return ClusterSpec(home=home, nodes=specs, cluster_id=new_cluster_id(), heap=heap, bench=bench)


def node_properties(spec: ClusterSpec, node: NodeSpec) -> dict[str, str]:
    """server.properties for one node, tuned for a small machine."""
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in spec.nodes)
    rf = str(min(3, spec.size))
    min_isr = str(max(1, spec.size - 1))
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.advertised_port or node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
        ),
        "log.dirs": str(spec.node_dir(node) / "data"),
        "num.partitions": "1",
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.num.partitions": "5",
        "log.cleaner.dedupe.buffer.size": "2097152",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        "replica.lag.time.max.ms": "5000",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
    }
    if spec.secure_home is not None:  # SASL_SSL + mTLS controllers + ACLs
        from orderstream.platform import secure

        props.update(secure.node_properties(spec, node))
    props.update(spec.extra_props)
    return props


def jvm_flags(spec: ClusterSpec) -> list[str]:
    if spec.bench:
        return [f"-Xms{spec.heap}", f"-Xmx{spec.heap}", "-XX:+UseG1GC"]
    return [
        f"-Xms{min_heap(spec.heap)}",
        f"-Xmx{spec.heap}",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-XX:-UsePerfData",
    ]


def min_heap(heap: str) -> str:
    return "256m" if heap.endswith(("m", "g")) else heap


LOG4J2_PROPERTIES = """\
status = warn
name = orderstream-kafka
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.controller.name = kafka.controller
logger.controller.level = WARN
logger.state.name = state.change.logger
logger.state.name.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.logmanager.name = kafka.log
logger.logmanager.level = WARN
"""
