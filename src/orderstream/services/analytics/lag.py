"""Consumer lag of every service: committed offsets of each group against the end offsets.

End offsets are read with READ_COMMITTED isolation (the last stable offset), the position a
``read_committed`` consumer can reach; transaction markers do not count as lag.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from orderstream.services.analytics.live import ConsumerLag, LiveView

logger = logging.getLogger(__name__)


def consumer_lag(admin: AdminClient, timeout: float = 10.0) -> list[ConsumerLag]:
    """Lag per (group, topic), summed over partitions, for every group with committed offsets."""
    listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout)
    committed: dict[str, list[Any]] = {}
    for group in sorted(g.group_id for g in listing.valid):
        futures = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
        )
        parts = futures[group].result(timeout).topic_partitions or []
        committed[group] = [tp for tp in parts if tp.offset >= 0]
    wanted = {(tp.topic, tp.partition) for parts in committed.values() for tp in parts}
    if not wanted:
        return []
    ends = admin.list_offsets(
        {TopicPartition(t, p): OffsetSpec.latest() for t, p in wanted},  # type: ignore[no-untyped-call]
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=timeout,
    )
    end_of = {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in ends.items()}
    lag: dict[tuple[str, str], list[int]] = defaultdict(list)
    for group, parts in committed.items():
        for tp in parts:
            lag[(group, tp.topic)].append(max(end_of[(tp.topic, tp.partition)] - tp.offset, 0))
    return [ConsumerLag(g, t, sum(v), len(v)) for (g, t), v in sorted(lag.items())]


class LagPoller:
    """A daemon thread that refreshes the live view's lag every ``interval_s``."""

    def __init__(self, admin: AdminClient, live: LiveView, interval_s: float = 2.0) -> None:
        self._admin = admin
        self._live = live
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._live.set_lag(consumer_lag(self._admin))
            except (KafkaException, TimeoutError) as exc:
                logger.warning("consumer lag unavailable", extra={"error": str(exc)})
            self._stop.wait(self._interval)
