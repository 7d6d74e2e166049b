"""What ``orderstream kafka status`` shows: each node's pid and liveness, the active KRaft
controller (from the quorum state on disk) and the number of topics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaException

from orderstream.platform import secure
from orderstream.platform.cluster import admin_client, is_node_alive, read_pid
from orderstream.platform.nodes import ClusterSpec


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    pid: int | None
    alive: bool
    port: int
    controller_port: int
    is_controller: bool


@dataclass(frozen=True)
class ClusterStatus:
    bootstrap: str
    nodes: tuple[NodeStatus, ...]
    controller_id: int | None
    topics: int | None


def active_controller(spec: ClusterSpec) -> int | None:
    """The KRaft quorum leader, from the live nodes' ``quorum-state`` files (highest epoch).

    Brokers answer metadata requests with a random broker as "controller" under KRaft, so the
    AdminClient cannot name the active controller; the quorum state on disk can.
    """
    best: tuple[int, int] | None = None
    for node in spec.nodes:
        if not is_node_alive(spec, node):
            continue
        path = spec.node_dir(node) / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            state = json.loads(path.read_text())
            epoch, leader = int(state["leaderEpoch"]), int(state["leaderId"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if leader >= 0 and (best is None or epoch > best[0]):
            best = (epoch, leader)
    return best[1] if best else None


def cluster_status(spec: ClusterSpec) -> ClusterStatus:
    alive = {n.node_id: is_node_alive(spec, n) for n in spec.nodes}
    conf = secure.cluster_client_config(spec)
    topics = _count_topics(spec.bootstrap, conf) if any(alive.values()) else None
    controller = active_controller(spec)
    nodes = tuple(
        NodeStatus(
            node_id=n.node_id,
            pid=read_pid(spec, n),
            alive=alive[n.node_id],
            port=n.broker_port,
            controller_port=n.controller_port,
            is_controller=controller == n.node_id,
        )
        for n in spec.nodes
    )
    return ClusterStatus(spec.bootstrap, nodes, controller, topics)


def _count_topics(bootstrap: str, conf: Mapping[str, str]) -> int | None:
    admin = admin_client(bootstrap, conf)
    try:
        meta = admin.list_topics(timeout=5)
    except KafkaException:
        return None
    return sum(1 for t in meta.topics if not t.startswith("__"))
