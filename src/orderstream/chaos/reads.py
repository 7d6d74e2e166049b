"""Read a range of a topic at either isolation level, for the checkers.

``read_uncommitted`` shows every data record, aborted ones included; ``read_committed`` hides
aborted ones and stops at the last stable offset. Comparing the two (and the live watcher's view)
is how the checkers find aborted reads.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.chaos.watch import digest
from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import PlatformError
from orderstream.ops.topics_reader import end_offsets, partitions_of

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
    conf = kafka_config(
        Role.CONSUMER,
        "chaos-reader",
        settings=settings,
        group_id=f"chaos-read-{uuid.uuid4().hex[:8]}",  # never joined: we assign()
        overrides={"isolation.level": isolation, "enable.partition.eof": True, "log_level": 3},
    )
    consumer = Consumer(conf)
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        return _drain(consumer, topic, start, ends, timeout_s)
    finally:
        with contextlib.suppress(RuntimeError, KafkaException):
            consumer.close()


def _drain(
    consumer: Consumer, topic: str, start: dict[int, int], ends: dict[int, int], timeout_s: float
) -> TopicRange:
    pending = {p for p in start if start[p] < ends[p]}
    out = TopicRange([], [])
    last: dict[int, int] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise PlatformError(f"reading {topic} did not reach its end in {timeout_s:.0f}s")
        for msg in consumer.consume(5000, 0.2):
            err = msg.error()
            part, offset = msg.partition() or 0, msg.offset() or 0
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF and offset >= ends[part]:
                    pending.discard(part)
                continue
            if offset <= last.get(part, -1):
                out.backwards.append(f"{topic}-{part}: {offset} after {last[part]}")
            last[part] = offset
            if offset < ends[part]:
                out.records.append(Seen(part, offset, msg.key() or b"", digest(msg.value())))
            if offset >= ends[part] - 1:
                pending.discard(part)  # writes go on past the end we took: stop there
    return out
