"""Read whole topics with ``read_committed``, and compare committed and log end offsets.

Used by the audit and the benchmarks: ``TopicFollower`` is a ``TopicTable`` (kafka/table.py)
driven from the caller's thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import IsolationLevel, Message
from confluent_kafka.admin import AdminClient

from orderstream.config import Settings
from orderstream.errors import PlatformError
from orderstream.kafka.errors import TableBehind
from orderstream.kafka.offsets import end_offsets, partitions_of
from orderstream.kafka.readers import reader_configs
from orderstream.kafka.table import TopicTable

__all__ = [
    "RawRecord",
    "TopicFollower",
    "end_offsets",
    "open_transactions",
    "partitions_of",
    "read_topic",
]


@dataclass(frozen=True, slots=True)
class RawRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, msg: Message) -> RawRecord:
        return cls(msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value(), _headers(msg))


class TopicFollower:
    """A ``read_committed`` reader of a whole topic that can catch up again and again.

    ``catch_up`` returns the records committed since the previous call, up to each partition's
    last stable offset at the time of the call.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        conf, admin_conf = reader_configs(
            settings, "audit-reader", "audit", {"fetch.wait.max.ms": 50}
        )
        partitions_of(AdminClient(admin_conf), topic)  # a missing topic fails here, at once
        self._table = TopicTable(conf, admin_conf, topic, name="audit-reader")

    def catch_up(self, timeout_s: float = 120.0) -> list[RawRecord]:
        try:
            return [RawRecord.of(msg) for msg in self._table.catch_up(timeout_s)]
        except TableBehind as exc:
            raise PlatformError(str(exc)) from exc

    def close(self) -> None:
        self._table.close()


def read_topic(settings: Settings, topic: str, timeout_s: float = 120.0) -> list[RawRecord]:
    """Every committed record of ``topic`` up to its current end."""
    follower = TopicFollower(settings, topic)
    try:
        return follower.catch_up(timeout_s)
    finally:
        follower.close()


def open_transactions(admin: AdminClient, topic: str) -> dict[int, tuple[int, int]]:
    """Partitions whose last stable offset is behind the log end: {partition: (lso, leo)}."""
    parts = partitions_of(admin, topic)
    stable = end_offsets(admin, topic, parts, IsolationLevel.READ_COMMITTED)
    logged = end_offsets(admin, topic, parts, IsolationLevel.READ_UNCOMMITTED)
    return {p: (stable[p], logged[p]) for p in parts if stable[p] != logged[p]}


def _headers(msg: Message) -> tuple[tuple[str, bytes], ...]:
    raw: Any = msg.headers()
    return tuple((str(k), v if isinstance(v, bytes) else b"") for k, v in raw or ())
