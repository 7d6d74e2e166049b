"""Read a range of a topic at either isolation level, for the checkers.

``read_uncommitted`` shows every data record, aborted ones included; ``read_committed`` hides
aborted ones and stops at the last stable offset. Comparing the two (and the live watcher's view)
is how the checkers find aborted reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import IsolationLevel, KafkaException, Message
from confluent_kafka.admin import AdminClient

from orderstream.chaos.watch import digest
from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import PlatformError
from orderstream.kafka.errors import TableBehind
from orderstream.kafka.offsets import end_offsets, from_offsets, partitions_of
from orderstream.kafka.readers import reader_configs
from orderstream.kafka.table import TopicTable

T = TypeVar("T")
RETRY_S = 60.0


def retry_transient(read: Callable[[], T], what: str, timeout_s: float = RETRY_S) -> T:
    """Run ``read``, again while it raises KafkaException, for up to ``timeout_s``.

    Right after a leader change, ListOffsets answers FENCED_LEADER_EPOCH or NOT_LEADER for a
    moment (metadata is stale). A checker must not mistake that for a verdict.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return read()
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise PlatformError(f"{what} kept failing for {timeout_s:.0f}s: {exc}") from exc
            time.sleep(1.0)


@dataclass(frozen=True, slots=True)
class Seen:
    partition: int
    offset: int
    key: bytes
    digest: bytes


@dataclass
class TopicRange:
    records: list[Seen]
    backwards: list[str]  # offsets that did not increase within a partition

    def by_position(self) -> dict[tuple[int, int], bytes]:
        return {(r.partition, r.offset): r.digest for r in self.records}


def _admin(settings: Settings) -> AdminClient:
    return AdminClient({**kafka_config(Role.ADMIN, "chaos-reader", settings=settings)})


def log_ends(settings: Settings, topic: str) -> dict[int, int]:
    """Each partition's log end offset: where a scenario's records of ``topic`` begin."""
    admin = _admin(settings)
    parts = partitions_of(admin, topic)
    return retry_transient(
        lambda: end_offsets(admin, topic, parts, IsolationLevel.READ_UNCOMMITTED),
        f"listing the end offsets of {topic}",
    )


def read_range(
    settings: Settings, topic: str, start: dict[int, int], isolation: str, timeout_s: float = 120
) -> TopicRange:
    """Every record of ``topic`` from ``start`` up to the end this isolation level sees now."""
    level = (
        IsolationLevel.READ_COMMITTED
        if isolation == "read_committed"
        else IsolationLevel.READ_UNCOMMITTED
    )
    admin = _admin(settings)
    ends = retry_transient(
        lambda: end_offsets(admin, topic, list(start), level), f"listing the end of {topic}"
    )
    conf, admin_conf = reader_configs(
        settings, "chaos-reader", "chaos-read", {"isolation.level": isolation, "log_level": 3}
    )
    table = TopicTable(conf, admin_conf, topic, start_at=from_offsets(start), name="chaos-reader")
    try:
        records = table.catch_up(timeout_s)
    except TableBehind as exc:
        raise PlatformError(str(exc)) from exc
    finally:
        table.close()
    return _in_range(topic, records, ends)


def _in_range(topic: str, records: list[Message], ends: dict[int, int]) -> TopicRange:
    """The records before ``ends`` (writes go on past the end we took), and any offset that
    did not move forward within a partition."""
    out = TopicRange([], [])
    last: dict[int, int] = {}
    for msg in records:
        part, offset = msg.partition() or 0, msg.offset() or 0
        if offset <= last.get(part, -1):
            out.backwards.append(f"{topic}-{part}: {offset} after {last[part]}")
        last[part] = offset
        if offset < ends.get(part, 0):
            out.records.append(Seen(part, offset, msg.key() or b"", digest(msg.value())))
    return out
