"""Read whole topics with ``read_committed``, and compare committed and log end offsets.

Used by the audit and the benchmarks. A reader assigns every partition from the beginning (no
group, nothing committed) and stops at each partition's end as the broker reports it.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import PlatformError


@dataclass(frozen=True, slots=True)
class RawRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def partitions_of(admin: AdminClient, topic: str) -> list[int]:
    try:
        meta = admin.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise PlatformError(f"cannot read metadata of {topic}: {exc}") from exc
    described = meta.topics.get(topic)
    if described is None or described.error is not None:
        raise PlatformError(f"topic {topic} does not exist; run 'orderstream topics apply'")
    return sorted(described.partitions)


class TopicFollower:
    """A ``read_committed`` reader of a whole topic that can catch up again and again.

    ``catch_up`` returns the records committed since the previous call, up to each partition's
    last stable offset at the time of the call. A partition counts as read once the consumer
    reported its end (partition EOF) at or past that offset, which also covers partitions whose
    last entries are transaction markers.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self._admin = AdminClient(kafka_config(Role.ADMIN, "audit", settings=settings))
        conf = kafka_config(
            Role.CONSUMER,
            "audit-reader",
            settings=settings,
            group_id=f"audit-{uuid.uuid4().hex[:8]}",  # never joined: we assign()
            overrides={"enable.partition.eof": True, "fetch.wait.max.ms": 50},
        )
        self._consumer = Consumer(conf)
        self._parts = partitions_of(self._admin, topic)
        self._eof_at: dict[int, int] = {}
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in self._parts])

    def catch_up(self, timeout_s: float = 120.0) -> list[RawRecord]:
        stable = end_offsets(self._admin, self.topic, self._parts, IsolationLevel.READ_COMMITTED)
        pending = {p for p in self._parts if self._eof_at.get(p, -1) < stable[p]}
        records: list[RawRecord] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"reading {self.topic} did not reach its end in {timeout_s:.0f}s"
                )
            for msg in self._consumer.consume(10_000, 0.2):
                err = msg.error()
                part, offset = msg.partition() or 0, msg.offset() or 0
                if err is None:
                    records.append(
                        RawRecord(part, offset, msg.key(), msg.value(), _headers(msg.headers()))
                    )
                elif err.code() == KafkaError._PARTITION_EOF:
                    self._eof_at[part] = offset
                    if offset >= stable[part]:
                        pending.discard(part)
                else:
                    raise PlatformError(f"reading {self.topic}: {err.str()}")
        return records

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()


def read_topic(settings: Settings, topic: str, timeout_s: float = 120.0) -> list[RawRecord]:
    """Every committed record of ``topic`` up to its current end."""
    follower = TopicFollower(settings, topic)
    try:
        return follower.catch_up(timeout_s)
    finally:
        follower.close()


LIST_OFFSETS_RETRY_S = 60.0


def end_offsets(
    admin: AdminClient,
    topic: str,
    parts: list[int],
    isolation: IsolationLevel,
    retry_s: float = LIST_OFFSETS_RETRY_S,
) -> dict[int, int]:
    """The end offset of each partition as a reader of this isolation level sees it.

    Right after a leader change ListOffsets answers FENCED_LEADER_EPOCH, NOT_LEADER or a timeout
    for a moment (the client's metadata is stale), so a failed partition is asked again, for up
    to ``retry_s``; the audit must not fail on a broker that is just handing over leadership.
    """
    ends: dict[int, int] = {}
    deadline = time.monotonic() + retry_s
    while True:
        missing = [p for p in parts if p not in ends]
        request = {TopicPartition(topic, p): OffsetSpec.latest() for p in missing}  # type: ignore[no-untyped-call]
        futures = admin.list_offsets(request, isolation_level=isolation, request_timeout=15)
        failure: KafkaException | None = None
        for tp, fut in futures.items():
            try:
                ends[tp.partition] = fut.result(20).offset
            except KafkaException as exc:
                failure = exc
        if failure is None:
            return ends
        if time.monotonic() > deadline:
            raise PlatformError(
                f"listing the end offsets of {topic} kept failing for {retry_s:.0f}s: {failure}"
            ) from failure
        time.sleep(0.5)


def open_transactions(admin: AdminClient, topic: str) -> dict[int, tuple[int, int]]:
    """Partitions whose last stable offset is behind the log end: {partition: (lso, leo)}."""
    parts = partitions_of(admin, topic)
    stable = end_offsets(admin, topic, parts, IsolationLevel.READ_COMMITTED)
    logged = end_offsets(admin, topic, parts, IsolationLevel.READ_UNCOMMITTED)
    return {p: (stable[p], logged[p]) for p in parts if stable[p] != logged[p]}


def _headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(k), v if isinstance(v, bytes) else b"") for k, v in raw or ())
