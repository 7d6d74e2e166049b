"""``orderstream topics describe``: leader, replicas and ISR of every partition, the seed's
``kafka-topics.sh --describe`` check, flagging under-replicated and offline partitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.errors import PlatformError, TopologyError


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: no leader
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def offline(self) -> bool:
        return self.leader < 0

    @property
    def under_replicated(self) -> bool:
        """Fewer in-sync replicas than assigned ones: a follower is down or behind."""
        return len(set(self.isr) & set(self.replicas)) < len(self.replicas)

    @property
    def status(self) -> str:
        if self.offline:
            return "offline"
        return "under-replicated" if self.under_replicated else "ok"

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "leader": self.leader,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
            "under_replicated": self.under_replicated,
            "offline": self.offline,
        }


def describe_topics(
    admin: AdminClient, topic: str | None = None, *, internal: bool = False
) -> list[PartitionState]:
    """Every partition of ``topic`` (or of all topics), sorted by topic and partition."""
    try:
        meta = admin.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise PlatformError(
            f"cannot reach Kafka to describe topics: {exc}; `orderstream kafka status` shows "
            "whether the local cluster runs"
        ) from exc
    found = []
    for name, t in sorted(meta.topics.items()):
        if topic is None and name.startswith("__") and not internal:
            continue
        if t.error is not None:
            raise TopologyError(
                f"topic {name!r}: {t.error.str()}; `orderstream topics list` shows the topics"
            )
        for p in sorted(t.partitions.values(), key=lambda p: p.id):
            found.append(PartitionState(name, p.id, p.leader, tuple(p.replicas), tuple(p.isrs)))
    return found


def summary(states: list[PartitionState]) -> str:
    under = sum(s.under_replicated for s in states)
    offline = sum(s.offline for s in states)
    topics = len({s.topic for s in states})
    text = f"{len(states)} partition(s) in {topics} topic(s): {under} under-replicated"
    return text + (f", {offline} offline" if offline else "")
