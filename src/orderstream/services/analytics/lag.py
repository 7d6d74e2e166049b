"""Consumer lag of every service: committed offsets of each group against the end offsets.

End offsets are read with READ_COMMITTED isolation (the last stable offset), the position a
``read_committed`` consumer can reach; transaction markers do not count as lag.

Committed offsets are read with a plain ``Consumer.committed()`` per group (one consumer per
group, never subscribed, so it joins nothing), not with ``AdminClient.list_consumer_group_offsets``.
The admin path crashes librdkafka (2.16.0 here) when the group coordinator moves, e.g. because its
broker was killed: the process aborts in ``rd_kafka_enq_once_del_source_return: Assertion
`eonce->refcnt > 0'`` (librdkafka#4605, confluent-kafka-python#1640), or segfaults in
``rd_kafka_cgrp_op`` with a NULL group handle on NOT_COORDINATOR (librdkafka#5040; the kernel's
"segfault at 58" in rdk:main). A consumer's offset fetch goes through its own group handle and
survives the failover. Every client here lives and dies in the poller thread: none is shared
across threads, and none is closed while a call on it is pending.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from orderstream.services.analytics.live import ConsumerLag, LiveView

logger = logging.getLogger(__name__)


class CommittedOffsets:
    """One never-subscribed consumer per group, to read that group's committed offsets."""

    def __init__(self, consumer_config: Mapping[str, Any]) -> None:
        self._config = dict(consumer_config)
        self._consumers: dict[str, Consumer] = {}

    def of(self, group: str, parts: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            tp for tp in self._consumer(group).committed(parts, timeout=timeout) if tp.offset >= 0
        ]

    def forget_except(self, groups: set[str]) -> None:
        """Close the consumers of groups that are gone (each enrichment start makes one)."""
        for group in set(self._consumers) - groups:
            self._consumers.pop(group).close()

    def close(self) -> None:
        self.forget_except(set())

    def _consumer(self, group: str) -> Consumer:
        if group not in self._consumers:
            self._consumers[group] = Consumer(
                {
                    **self._config,
                    "group.id": group,
                    "enable.auto.commit": False,
                    # read_committed would ask for stable offsets (KIP-447), and the brokers
                    # answer UNSTABLE_OFFSET_COMMIT while any transaction of the group is open,
                    # which is almost always under exactly-once: lag wants the last commit.
                    "isolation.level": "read_uncommitted",
                }
            )
        return self._consumers[group]


def consumer_lag(
    admin: AdminClient, committed: CommittedOffsets, timeout: float = 10.0
) -> list[ConsumerLag]:
    """Lag per (group, topic), summed over partitions, for every group with committed offsets."""
    listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout)
    groups = sorted(g.group_id for g in listing.valid)
    committed.forget_except(set(groups))
    if not groups:
        return []
    meta = admin.list_topics(timeout=timeout)
    parts = [
        TopicPartition(name, p)
        for name, topic in meta.topics.items()
        if not name.startswith("__")
        for p in topic.partitions
    ]
    offsets = {group: committed.of(group, parts, timeout) for group in groups}
    wanted = {(tp.topic, tp.partition) for tps in offsets.values() for tp in tps}
    if not wanted:
        return []
    ends = admin.list_offsets(
        {TopicPartition(t, p): OffsetSpec.latest() for t, p in wanted},  # type: ignore[no-untyped-call]
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=timeout,
    )
    end_of = {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in ends.items()}
    lag: dict[tuple[str, str], list[int]] = defaultdict(list)
    for group, tps in offsets.items():
        for tp in tps:
            lag[(group, tp.topic)].append(max(end_of[(tp.topic, tp.partition)] - tp.offset, 0))
    return [ConsumerLag(g, t, sum(v), len(v)) for (g, t), v in sorted(lag.items())]


class LagPoller:
    """A daemon thread that refreshes the live view's lag every ``interval_s``.

    ``consumer_config`` is a consumer configuration for the cluster (its ``group.id`` is
    replaced per group).
    """

    def __init__(
        self,
        admin: AdminClient,
        live: LiveView,
        interval_s: float = 2.0,
        *,
        consumer_config: Mapping[str, Any],
    ) -> None:
        self._admin = admin
        self._live = live
        self._interval = interval_s
        self._consumer_config = consumer_config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        committed = CommittedOffsets(self._consumer_config)
        try:
            while not self._stop.is_set():
                try:
                    self._live.set_lag(consumer_lag(self._admin, committed))
                except (KafkaException, TimeoutError) as exc:
                    logger.warning("consumer lag unavailable", extra={"error": str(exc)})
                self._stop.wait(self._interval)
        finally:
            committed.close()  # in this thread, after its last call: never during one
