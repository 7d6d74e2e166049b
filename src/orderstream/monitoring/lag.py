"""Consumer lag per group, topic and partition, in records and in seconds.

Lag in seconds is the age of the oldest unconsumed record: the timestamp of the first record a
``read_committed`` consumer reads at the group's committed offset. A trailing transaction marker
is not lag: under exactly-once the committed offset of an idle group points at the last commit
marker, one below the last stable offset, and reading there returns no record.

Committed offsets are read with a never-subscribed ``Consumer`` per group (``committed()``), not
``AdminClient.list_consumer_group_offsets``, which crashes librdkafka 2.16 on a coordinator
failover (librdkafka#4605, #5040; see services/analytics/lag.py in h-platform).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

Key = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class Head:
    """The first readable record at or after an offset: its offset and timestamp (ms)."""

    offset: int
    timestamp_ms: int


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    stable_end: int  # the last stable offset: a read_committed consumer's end
    records: int
    seconds: float


def lag_of(
    committed: int, stable_end: int, head: Head | None, tail_is_marker: bool, now_ms: int
) -> tuple[int, float]:
    """(records, seconds) behind for one partition.

    ``head`` is the first record readable at ``committed`` (None: nothing readable before
    ``stable_end``, e.g. only a commit marker is left); ``tail_is_marker`` says the offset just
    below ``stable_end`` holds a transaction marker, which no consumer ever reads.
    """
    if head is None or committed >= stable_end:
        return 0, 0.0
    end = stable_end - 1 if tail_is_marker else stable_end
    records = max(end - head.offset, 0)
    if records == 0:
        return 0, 0.0
    return records, max(now_ms - head.timestamp_ms, 0) / 1000.0


class LagReader:
    """Reads the lag of every group; its clients belong to the thread that calls ``read``."""

    def __init__(self, admin: AdminClient, consumer_config: Mapping[str, Any]) -> None:
        self._admin = admin
        self._config = {k: v for k, v in consumer_config.items() if k != "group.id"}
        self._committed: dict[str, Consumer] = {}
        self._probe = Consumer(
            {
                **self._config,
                "group.id": "orderstream-lag-probe",  # never subscribed: joins nothing
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )

    def close(self) -> None:
        for consumer in self._committed.values():
            consumer.close()
        self._committed.clear()
        self._probe.close()

    def read(self, timeout: float = 10.0) -> list[PartitionLag]:
        listing = self._admin.list_consumer_groups(request_timeout=timeout).result(timeout)
        groups = sorted(g.group_id for g in listing.valid if g.group_id != "orderstream-lag-probe")
        self._forget_except(set(groups))
        parts = self._partitions(timeout)
        offsets = {g: self._committed_of(g, parts, timeout) for g in groups}
        wanted = {k for per in offsets.values() for k in per}
        if not wanted:
            return []
        ends = self._stable_ends(wanted, timeout)
        probes: dict[Key, set[int]] = defaultdict(set)
        for per in offsets.values():
            for key, committed in per.items():
                if committed < ends[key]:
                    probes[key].update((committed, ends[key] - 1))  # head, and the tail
        heads = self._probe_all(probes, ends, timeout)
        now_ms = int(time.time() * 1000)
        found = []
        for group, per in sorted(offsets.items()):
            for (topic, partition), committed in sorted(per.items()):
                end = ends[(topic, partition)]
                tail = heads.get((topic, partition, end - 1))
                records, seconds = lag_of(
                    committed,
                    end,
                    heads.get((topic, partition, committed)),
                    tail is None or tail.offset != end - 1,
                    now_ms,
                )
                found.append(
                    PartitionLag(group, topic, partition, committed, end, records, seconds)
                )
        return found

    def _probe_all(
        self, probes: Mapping[Key, set[int]], ends: Mapping[Key, int], timeout: float
    ) -> dict[tuple[str, int, int], Head]:
        """Heads at every probed offset: one round per distinct offset of a partition."""
        queues = {key: sorted(offs) for key, offs in probes.items()}
        found: dict[tuple[str, int, int], Head] = {}
        while queues:
            starts = {key: offs.pop() for key, offs in queues.items()}
            for (topic, partition), head in self.heads(starts, ends, timeout).items():
                found[(topic, partition, starts[(topic, partition)])] = head
            queues = {key: offs for key, offs in queues.items() if offs}
        return found

    def heads(
        self, starts: Mapping[Key, int], ends: Mapping[Key, int], timeout: float
    ) -> dict[Key, Head]:
        """The first readable record at each start offset (absent: none before the end)."""
        self._probe.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
        heads: dict[Key, Head] = {}
        pending = set(starts)
        deadline = time.monotonic() + timeout
        try:
            while pending and time.monotonic() < deadline:
                for msg in self._probe.consume(num_messages=500, timeout=0.5):
                    key, head, settled = _settle(msg, ends)
                    if key in pending and settled:
                        pending.discard(key)
                        if head is not None:
                            heads[key] = head
        finally:
            self._probe.unassign()
        return heads

    def _partitions(self, timeout: float) -> list[TopicPartition]:
        meta = self._admin.list_topics(timeout=timeout)
        return [
            TopicPartition(name, p)
            for name, topic in meta.topics.items()
            if not name.startswith("__")
            for p in topic.partitions
        ]

    def _committed_of(
        self, group: str, parts: list[TopicPartition], timeout: float
    ) -> dict[Key, int]:
        if group not in self._committed:
            self._committed[group] = Consumer(
                {
                    **self._config,
                    "group.id": group,
                    "enable.auto.commit": False,
                    # read_committed would ask for stable offsets (KIP-447) and get
                    # UNSTABLE_OFFSET_COMMIT while a transaction of the group is open.
                    "isolation.level": "read_uncommitted",
                }
            )
        found = self._committed[group].committed(parts, timeout=timeout)
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def _stable_ends(self, wanted: set[Key], timeout: float) -> dict[Key, int]:
        futures = self._admin.list_offsets(
            {TopicPartition(t, p): OffsetSpec.latest() for t, p in wanted},  # type: ignore[no-untyped-call]
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=timeout,
        )
        return {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in futures.items()}

    def _forget_except(self, groups: set[str]) -> None:
        for group in set(self._committed) - groups:
            self._committed.pop(group).close()


def _settle(msg: Message, ends: Mapping[Key, int]) -> tuple[Key, Head | None, bool]:
    """(partition, its head or None, whether the probe of that partition is done)."""
    key = (msg.topic() or "", msg.partition() or 0)
    err = msg.error()
    if err is not None:
        return key, None, err.code() == KafkaError._PARTITION_EOF
    offset = msg.offset()
    assert offset is not None  # a record always has one
    if offset >= ends.get(key, 0):
        return key, None, True  # past the stable end seen: nothing was waiting at the start
    return key, Head(offset, msg.timestamp()[1]), True
