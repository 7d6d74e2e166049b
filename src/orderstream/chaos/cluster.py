"""The brokers as chaos sees them: who leads what, and the faults that can be done to a node.

Coordinators are found the way the brokers place them: the transaction coordinator of an id
leads the ``__transaction_state`` partition ``abs(transactionalId.hashCode) % partitions``
(Kafka's ``TransactionStateManager.partitionFor``), and a group's coordinator leads the
``__consumer_offsets`` partition ``abs(groupId.hashCode) % partitions``. confluent-kafka has no
DescribeTransactions; DescribeConsumerGroups names the group coordinator too, but admin requests
that time out while a broker restarts can abort the process (librdkafka issue 4605), so during
faults only metadata requests are used. A test checks the two agree on a healthy cluster.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field

from confluent_kafka import IsolationLevel, KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.chaos.reads import retry_transient
from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import PlatformError
from orderstream.ops.topics_reader import end_offsets, partitions_of
from orderstream.platform.cluster import (
    is_node_alive,
    kill_node,
    read_pid,
    registered_brokers,
    restart_dead_nodes,
    signal_node,
    stop_node,
)
from orderstream.platform.install import KafkaDistribution
from orderstream.platform.nodes import ClusterSpec, NodeSpec
from orderstream.services.topics import ORDERS

TRANSACTION_STATE = "__transaction_state"
CONSUMER_OFFSETS = "__consumer_offsets"


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` (a signed 32-bit int) of a BMP string."""
    h = 0
    for char in text:
        h = (31 * h + ord(char)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def coordinator_partition(key: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(key.hashCode) % partitions`` (transactional ids and group ids)."""
    h = java_string_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


@dataclass
class ClusterControl:
    dist: KafkaDistribution
    spec: ClusterSpec
    settings: Settings
    busy_partition: int = 0  # set by find_busy_partition at each scenario's start
    _admin: AdminClient | None = field(default=None, repr=False)

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            conf = kafka_config(Role.ADMIN, "chaos", settings=self.settings)
            self._admin = AdminClient({**conf, "log_level": 3})
        return self._admin

    def node(self, node_id: int) -> NodeSpec:
        return next(n for n in self.spec.nodes if n.node_id == node_id)

    @property
    def node_ids(self) -> list[int]:
        return [n.node_id for n in self.spec.nodes]

    # -- faults -------------------------------------------------------------------------------

    def kill(self, node_id: int) -> None:
        kill_node(self.spec, self.node(node_id))

    def stop(self, node_id: int) -> str:
        """A clean shutdown (SIGTERM, controlled leadership handover)."""
        return stop_node(self.spec, self.node(node_id), timeout=60)

    def pause(self, node_id: int) -> None:
        signal_node(self.spec, self.node(node_id), signal.SIGSTOP)

    def resume(self, node_id: int) -> None:
        signal_node(self.spec, self.node(node_id), signal.SIGCONT)

    def resume_all(self) -> None:
        for node_id in self.node_ids:
            self.resume(node_id)

    def alive(self, node_id: int) -> bool:
        return is_node_alive(self.spec, self.node(node_id))

    def pid(self, node_id: int) -> int | None:
        return read_pid(self.spec, self.node(node_id))

    def restart_missing(self, timeout_s: float = 180.0) -> list[int]:
        """Start every dead node, then wait until all are registered with the cluster."""
        started = restart_dead_nodes(self.dist, self.spec)
        self.wait_registered(timeout_s)
        return started

    def wait_registered(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while registered_brokers(self.spec.bootstrap, timeout=3.0) < self.spec.size:
            dead = [n for n in self.node_ids if not self.alive(n)]
            if dead or time.monotonic() > deadline:
                raise PlatformError(
                    f"nodes {dead or self.node_ids} did not rejoin within {timeout_s:.0f}s; "
                    f"see {self.spec.home}/node-*/kafka.log"
                )
            time.sleep(0.5)

    # -- who leads what -----------------------------------------------------------------------

    def leader_of(self, topic: str, partition: int) -> int:
        meta = self.admin.list_topics(topic, timeout=10)
        return int(meta.topics[topic].partitions[partition].leader)

    def leader_seen_without(self, topic: str, partition: int, silent: int) -> int | None:
        """The leader as the nodes other than ``silent`` report it, or None if none answers.

        Each node is asked by a new client bootstrapped at it alone: a long-lived client sends
        its metadata request to any broker it knows, a SIGSTOPped one included, and waits out
        the request timeout there while the leadership moves."""
        for node in self.spec.nodes:
            if node.node_id == silent:
                continue
            admin = AdminClient({"bootstrap.servers": node.bootstrap, "log_level": 0})
            with contextlib.suppress(KafkaException):
                meta = admin.list_topics(topic, timeout=3)
                return int(meta.topics[topic].partitions[partition].leader)
        return None

    def find_busy_partition(self) -> int:
        """The ``orders`` partition that has taken the most records (on a healthy cluster)."""
        parts = partitions_of(self.admin, ORDERS)
        ends = retry_transient(
            lambda: end_offsets(self.admin, ORDERS, parts, IsolationLevel.READ_UNCOMMITTED),
            "listing the end offsets of orders",
        )
        self.busy_partition = max(parts, key=lambda p: (ends[p], -p))
        return self.busy_partition

    def _coordinator(self, topic: str, key: str) -> int:
        meta = self.admin.list_topics(topic, timeout=10).topics[topic]
        return int(meta.partitions[coordinator_partition(key, len(meta.partitions))].leader)

    def transaction_coordinator(self, transactional_id: str) -> int:
        return self._coordinator(TRANSACTION_STATE, transactional_id)

    def group_coordinator(self, group: str) -> int:
        return self._coordinator(CONSUMER_OFFSETS, group)

    def described_group_coordinator(self, group: str) -> int:
        """The coordinator as DescribeConsumerGroups names it (only on a healthy cluster)."""
        futures = self.admin.describe_consumer_groups([group], request_timeout=10)
        return int(futures[group].result(15).coordinator.id)

    def under_replicated(self) -> int | None:
        """Partitions whose ISR is smaller than their replica set; None if metadata fails."""
        try:
            meta = self.admin.list_topics(timeout=5)
        except KafkaException:
            return None
        return sum(
            1
            for topic in meta.topics.values()
            for part in topic.partitions.values()
            if len(part.isrs) < len(part.replicas) or part.leader < 0
        )

    def roles(self, transactional_id: str, group: str) -> dict[str, int]:
        """Which node leads the busy orders partition and coordinates enrichment's work."""
        roles: dict[str, int] = {}
        with contextlib.suppress(KafkaException, PlatformError, KeyError):
            partition = self.busy_partition
            roles[f"leader of orders-{partition}"] = self.leader_of(ORDERS, partition)
        with contextlib.suppress(KafkaException, KeyError):
            roles[f"transaction coordinator of {transactional_id}"] = self.transaction_coordinator(
                transactional_id
            )
        with contextlib.suppress(KafkaException, KeyError):
            roles[f"group coordinator of {group}"] = self.group_coordinator(group)
        return roles
