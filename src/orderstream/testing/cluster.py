"""A real local Kafka cluster for test sessions, on free ports in a temporary directory."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from orderstream.config import Settings
from orderstream.platform import ports
from orderstream.platform.cluster import admin_client, cluster_down, cluster_up, kill_node, purge
from orderstream.platform.install import KafkaDistribution, install_kafka
from orderstream.platform.nodes import ClusterSpec, make_spec


def free_port_pairs(count: int) -> list[tuple[int, int]]:
    """``count`` (broker, controller = broker + 1) port pairs, free right now and outside the
    ephemeral range, so that a restarted broker can always bind its ports again."""
    pairs: list[tuple[int, int]] = []
    taken: set[int] = set()
    while len(pairs) < count:
        port = ports.free_port(taken, consecutive=2)
        taken.update((port, port + 1))
        pairs.append((port, port + 1))
    return pairs


@dataclass
class LocalCluster:
    """A running cluster started by this process (or an external one when ``spec`` is None)."""

    bootstrap: str
    spec: ClusterSpec | None = None
    dist: KafkaDistribution | None = None
    _admin: AdminClient | None = field(default=None, repr=False)

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = admin_client(self.bootstrap)
        return self._admin

    def settings(self, **overrides: object) -> Settings:
        return Settings(bootstrap_servers=self.bootstrap, **overrides)  # type: ignore[arg-type]

    def create_topic(
        self,
        name: str | None = None,
        partitions: int = 1,
        replication: int = -1,
        config: dict[str, str] | None = None,
    ) -> str:
        """Create a topic (a random name by default) and wait for it."""
        name = name or f"t-{uuid.uuid4().hex[:12]}"
        topic = NewTopic(
            name, num_partitions=partitions, replication_factor=replication, config=config or {}
        )
        futures = self.admin.create_topics([topic], operation_timeout=30, request_timeout=30)
        futures[name].result(35)
        return name

    def kill(self, node_id: int) -> None:
        assert self.spec is not None, "cannot kill nodes of an external cluster"
        kill_node(self.spec, next(n for n in self.spec.nodes if n.node_id == node_id))

    def leader_of(self, topic: str, partition: int = 0) -> int:
        meta = self.admin.list_topics(topic, timeout=10)
        return int(meta.topics[topic].partitions[partition].leader)

    def stop(self) -> None:
        if self.spec is not None:
            with contextlib.suppress(Exception):
                cluster_down(self.spec, timeout=20)
            with contextlib.suppress(Exception):
                purge(self.spec.home)


@contextlib.contextmanager
def local_cluster(home: Path, cache_dir: Path, nodes: int = 1) -> Iterator[LocalCluster]:
    """Start a cluster on free ports under ``home`` and always stop it afterwards."""
    dist, _ = install_kafka(cache_dir)
    pairs = free_port_pairs(nodes)
    spec = make_spec(
        home,
        nodes,
        ports=tuple(p[0] for p in pairs),
        controller_ports=tuple(p[1] for p in pairs),
        heap="512m",
    )
    cluster = LocalCluster(bootstrap=spec.bootstrap, spec=spec, dist=dist)
    try:
        up = cluster_up(dist, spec, timeout=180)
        cluster.spec = up.spec
        yield cluster
    finally:
        cluster.stop()


def wait_for_topic_leaders(admin: AdminClient, topic: str, timeout: float = 30.0) -> None:
    """Block until every partition of ``topic`` has a leader."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KafkaException):
            meta = admin.list_topics(topic, timeout=5).topics.get(topic)
            if (
                meta is not None
                and meta.partitions
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                return
        time.sleep(0.2)
    raise TimeoutError(f"topic {topic} has partitions without a leader after {timeout}s")
