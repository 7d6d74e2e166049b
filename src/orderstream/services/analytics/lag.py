"""Consumer lag of every service for the dashboard: per (group, topic), in records and seconds.

The partitions' lag comes from ``orderstream.monitoring.lag.LagReader``, the lag exporter's own
reader: end offsets are last stable offsets, a trailing transaction marker is not lag (an idle
exactly-once pipeline shows 0, not 1 per partition), and lag in seconds is the age of the oldest
unconsumed record. Its committed offsets are read with a never-subscribed consumer per group,
which survives a coordinator failover where ``AdminClient.list_consumer_group_offsets`` crashes
librdkafka 2.16 (librdkafka#4605, #5040). Every client lives and dies in the poller thread.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.monitoring.lag import LagReader, PartitionLag
from orderstream.services.analytics.live import ConsumerLag, LiveView

logger = logging.getLogger(__name__)


def consumer_lag(reader: LagReader, timeout: float = 10.0) -> list[ConsumerLag]:
    """Lag per (group, topic): records summed over partitions, seconds of the oldest."""
    by_topic: dict[tuple[str, str], list[PartitionLag]] = defaultdict(list)
    for part in reader.read(timeout):
        by_topic[(part.group, part.topic)].append(part)
    return [
        ConsumerLag(g, t, sum(p.records for p in ps), len(ps), max(p.seconds for p in ps))
        for (g, t), ps in sorted(by_topic.items())
    ]


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
        reader = LagReader(self._admin, self._consumer_config)
        try:
            while not self._stop.is_set():
                try:
                    self._live.set_lag(consumer_lag(reader))
                except (KafkaException, TimeoutError) as exc:
                    logger.warning("consumer lag unavailable", extra={"error": str(exc)})
                self._stop.wait(self._interval)
        finally:
            reader.close()  # in this thread, after its last call: never during one
