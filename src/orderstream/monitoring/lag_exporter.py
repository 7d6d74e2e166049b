"""``orderstream lag-exporter``: consumer lag as Prometheus gauges, with kafka-lag-exporter's names.

A poller thread reads the lag every ``interval_s`` and swaps in a new snapshot; scrapes read the
latest snapshot, so a scrape never waits on Kafka, and the series of a partition a group no longer
has committed offsets for disappear with the next snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orderstream.monitoring.lag import LagReader, PartitionLag

logger = logging.getLogger(__name__)

PARTITION_LABELS = ["cluster_name", "group", "topic", "partition"]


def metric_families(
    lags: Iterable[PartitionLag], cluster: str, poll_ms: float
) -> list[GaugeMetricFamily]:
    """kafka-lag-exporter's gauges for one snapshot."""
    lag = GaugeMetricFamily(
        "kafka_consumergroup_group_lag", "Records behind, per partition", labels=PARTITION_LABELS
    )
    lag_s = GaugeMetricFamily(
        "kafka_consumergroup_group_lag_seconds",
        "Age of the oldest unconsumed record, per partition",
        labels=PARTITION_LABELS,
    )
    offset = GaugeMetricFamily(
        "kafka_consumergroup_group_offset", "Committed offset", labels=PARTITION_LABELS
    )
    latest = GaugeMetricFamily(
        "kafka_partition_latest_offset",
        "Last stable offset (read_committed end)",
        labels=["cluster_name", "topic", "partition"],
    )
    group_labels = ["cluster_name", "group"]
    max_lag = GaugeMetricFamily(
        "kafka_consumergroup_group_max_lag", "Max records behind", labels=group_labels
    )
    max_lag_s = GaugeMetricFamily(
        "kafka_consumergroup_group_max_lag_seconds", "Max lag in seconds", labels=group_labels
    )
    sum_lag = GaugeMetricFamily(
        "kafka_consumergroup_group_sum_lag", "Records behind, summed", labels=group_labels
    )
    topic_sum = GaugeMetricFamily(
        "kafka_consumergroup_group_topic_sum_lag",
        "Records behind, summed per topic",
        labels=["cluster_name", "group", "topic"],
    )
    per_group: dict[str, list[PartitionLag]] = defaultdict(list)
    per_topic: dict[tuple[str, str], int] = defaultdict(int)
    seen_partitions: set[tuple[str, int]] = set()
    for p in lags:
        labels = [cluster, p.group, p.topic, str(p.partition)]
        lag.add_metric(labels, p.records)
        lag_s.add_metric(labels, p.seconds)
        offset.add_metric(labels, p.committed)
        if (p.topic, p.partition) not in seen_partitions:
            seen_partitions.add((p.topic, p.partition))
            latest.add_metric([cluster, p.topic, str(p.partition)], p.stable_end)
        per_group[p.group].append(p)
        per_topic[(p.group, p.topic)] += p.records
    for group, parts in per_group.items():
        max_lag.add_metric([cluster, group], max(p.records for p in parts))
        max_lag_s.add_metric([cluster, group], max(p.seconds for p in parts))
        sum_lag.add_metric([cluster, group], sum(p.records for p in parts))
    for (group, topic), records in per_topic.items():
        topic_sum.add_metric([cluster, group, topic], records)
    poll = GaugeMetricFamily("kafka_consumergroup_poll_time_ms", "Time to read all lag")
    poll.add_metric([], poll_ms)
    return [lag, lag_s, offset, latest, max_lag, max_lag_s, sum_lag, topic_sum, poll]


class LagCollector(Collector):
    """Serves the latest snapshot the poller swapped in."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._snapshot: tuple[list[PartitionLag], float] = ([], 0.0)
        self.updated = threading.Event()

    def update(self, lags: list[PartitionLag], poll_ms: float) -> None:
        self._snapshot = (lags, poll_ms)  # one reference swap: scrapes see old or new, whole
        self.updated.set()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lags, poll_ms = self._snapshot
        yield from metric_families(lags, self.cluster, poll_ms)


class LagExporter:
    """The poller thread and the HTTP endpoint of ``orderstream lag-exporter``."""

    def __init__(
        self,
        admin_config: Mapping[str, Any],
        consumer_config: Mapping[str, Any],
        *,
        cluster: str = "orderstream",
        interval_s: float = 5.0,
    ) -> None:
        self._admin_config = dict(admin_config)
        self._consumer_config = dict(consumer_config)
        self._interval = interval_s
        self.collector = LagCollector(cluster)
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-exporter", daemon=True)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Start the poller and the /metrics endpoint (returns; both run in daemon threads)."""
        start_http_server(port, addr=host, registry=self.registry)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait(self) -> None:
        """Block until ``stop`` (from a signal handler)."""
        while not self._stop.wait(1.0):
            pass

    def _run(self) -> None:
        reader = LagReader(AdminClient(self._admin_config), self._consumer_config)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    lags = reader.read()
                    self.collector.update(lags, (time.monotonic() - started) * 1000)
                except (KafkaException, TimeoutError) as exc:
                    logger.warning("consumer lag unavailable; retrying", extra={"error": str(exc)})
                self._stop.wait(self._interval)
        finally:
            reader.close()  # in this thread, after its last call: never during one
