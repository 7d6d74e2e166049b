"""Observers that run alongside a scenario: a live read_committed reader, and a sampler.

``CommittedWatcher`` is the concurrent consumer of Kafka's transactions_test: it follows a
topic with ``read_committed`` while faults happen, and records every record it was shown (so a
checker can later prove none of them belonged to an aborted transaction), when it first saw
each key, and any offset that did not move forward.

``GroupOffsetSampler`` samples the consumer groups' committed offsets, which must never go back.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from orderstream.config import Role, Settings, kafka_config
from orderstream.kafka.offsets import from_offsets
from orderstream.kafka.readers import reader_configs
from orderstream.kafka.table import TopicTable
from orderstream.threads import StoppableThread


def digest(value: bytes | None) -> bytes:
    return hashlib.blake2b(value or b"", digest_size=12).digest()


@dataclass
class WatchLog:
    seen: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (partition, offset)
    first_seen: dict[bytes, float] = field(default_factory=dict)  # key -> time.time()
    backwards: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class CommittedWatcher:
    """A ``read_committed`` reader of ``topic`` from ``start`` offsets, in a thread."""

    def __init__(self, settings: Settings, topic: str, start: dict[int, int]) -> None:
        self.topic = topic
        self.log = WatchLog()
        conf, admin = reader_configs(
            settings, "chaos-watcher", "chaos-watch", {"fetch.wait.max.ms": 50, "log_level": 3}
        )
        self._table = TopicTable(
            conf, admin, topic, start_at=from_offsets(start), name=f"watch-{topic}"
        )
        self._table.subscribe(self._on_records)
        self._last: dict[int, int] = {}

    def start(self) -> None:
        self._table.start()

    def stop(self) -> WatchLog:
        self._table.close(timeout_s=30)
        if self._table.failure is not None:
            self.log.errors.append(str(self._table.failure))
        return self.log

    def _on_records(self, records: list[Message]) -> None:
        for msg in records:
            self._record(msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value())

    def _record(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        previous = self._last.get(partition, -1)
        if offset <= previous:
            self.log.backwards.append(f"{self.topic}-{partition}: {offset} after {previous}")
        self._last[partition] = offset
        self.log.seen[(partition, offset)] = digest(value)
        self.log.first_seen.setdefault(key or b"", time.time())


class GroupOffsetSampler(StoppableThread):
    """Samples the committed offsets of some groups every ``interval_s`` seconds.

    It reads them through a consumer of each group that never joins it (``committed()`` is an
    OffsetFetch, no rebalance), not through the AdminClient: ListConsumerGroupOffsets can abort
    the whole process with ``rd_kafka_enq_once_del_source_return: Assertion `eonce->refcnt > 0'``
    when a broker restarts under it (librdkafka issue 4605, seen here in a chaos run).
    """

    def __init__(
        self, settings: Settings, groups: dict[str, list[TopicPartition]], interval_s: float = 1.0
    ) -> None:
        super().__init__("offset-sampler")
        self.groups = groups
        self.interval_s = interval_s
        self._consumers = {
            group: Consumer(
                kafka_config(
                    Role.CONSUMER,
                    "chaos-offsets",
                    settings=settings,
                    group_id=group,
                    overrides={"log_level": 3},
                )
            )
            for group in groups
        }
        self.last: dict[tuple[str, str, int], int] = {}
        self.backwards: list[str] = []
        self.samples = 0

    def stop(self, timeout_s: float = 30) -> None:
        super().stop(timeout_s)
        for consumer in self._consumers.values():
            with contextlib.suppress(RuntimeError, KafkaException):
                consumer.close()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            for group in self.groups:
                with contextlib.suppress(KafkaException):  # a broker is down: sample later
                    self._sample(group)

    def _sample(self, group: str) -> None:
        for tp in self._consumers[group].committed(self.groups[group], timeout=5):
            if tp.offset < 0 or tp.error is not None:
                continue
            key = (group, tp.topic, tp.partition)
            before = self.last.get(key, -1)
            if tp.offset < before:
                self.backwards.append(
                    f"group {group} {tp.topic}-{tp.partition}: {tp.offset} after {before}"
                )
            self.last[key] = max(before, tp.offset)
        self.samples += 1
