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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orderstream.monitoring.lag import LagReader, PartitionLag
from orderstream.threads import StoppableThread

logger = logging.getLogger(__name__)

PARTITION_LABELS = ["cluster_name", "group", "topic", "partition"]
GROUP_LABELS = ["cluster_name", "group"]

# name: (help, the PartitionLag field): one series per partition of a group
_PARTITION_GAUGES = {
    "kafka_consumergroup_group_lag": ("Records behind, per partition", "records"),
    "kafka_consumergroup_group_lag_seconds": (
        "Age of the oldest unconsumed record, per partition",
        "seconds",
    ),
    "kafka_consumergroup_group_offset": ("Committed offset", "committed"),
}
# name: (help, how a group's partitions combine, the PartitionLag field): one series per group
_GROUP_GAUGES: dict[str, tuple[str, Callable[[list[float]], float], str]] = {
    "kafka_consumergroup_group_max_lag": ("Max records behind", max, "records"),
    "kafka_consumergroup_group_max_lag_seconds": ("Max lag in seconds", max, "seconds"),
    "kafka_consumergroup_group_sum_lag": ("Records behind, summed", sum, "records"),
}


def metric_families(
    lags: Iterable[PartitionLag], cluster: str, poll_ms: float
) -> list[GaugeMetricFamily]:
    """kafka-lag-exporter's gauges for one snapshot."""
    lags = list(lags)
    per_partition = [
        _gauge(name, help_text, PARTITION_LABELS, _partition_series(lags, cluster, field))
        for name, (help_text, field) in _PARTITION_GAUGES.items()
    ]
    poll = _gauge("kafka_consumergroup_poll_time_ms", "Time to read all lag", [], [([], poll_ms)])
    return [
        *per_partition,
        _latest_offsets(lags, cluster),
        *_group_gauges(lags, cluster),
        _topic_sums(lags, cluster),
        poll,
    ]


def _partition_series(
    lags: list[PartitionLag], cluster: str, field: str
) -> list[tuple[list[str], float]]:
    return [([cluster, p.group, p.topic, str(p.partition)], getattr(p, field)) for p in lags]


def _latest_offsets(lags: list[PartitionLag], cluster: str) -> GaugeMetricFamily:
    ends: dict[tuple[str, int], int] = {}  # one series per partition, whichever group read it
    for p in lags:
        ends.setdefault((p.topic, p.partition), p.stable_end)
    return _gauge(
        "kafka_partition_latest_offset",
        "Last stable offset (read_committed end)",
        ["cluster_name", "topic", "partition"],
        [([cluster, topic, str(partition)], end) for (topic, partition), end in ends.items()],
    )


def _group_gauges(lags: list[PartitionLag], cluster: str) -> list[GaugeMetricFamily]:
    per_group: dict[str, list[PartitionLag]] = defaultdict(list)
    for p in lags:
        per_group[p.group].append(p)
    return [
        _gauge(
            name,
            help_text,
            GROUP_LABELS,
            [
                ([cluster, group], combine([getattr(p, field) for p in parts]))
                for group, parts in per_group.items()
            ],
        )
        for name, (help_text, combine, field) in _GROUP_GAUGES.items()
    ]


def _topic_sums(lags: list[PartitionLag], cluster: str) -> GaugeMetricFamily:
    per_topic: dict[tuple[str, str], int] = defaultdict(int)
    for p in lags:
        per_topic[(p.group, p.topic)] += p.records
    return _gauge(
        "kafka_consumergroup_group_topic_sum_lag",
        "Records behind, summed per topic",
        ["cluster_name", "group", "topic"],
        [([cluster, group, topic], records) for (group, topic), records in per_topic.items()],
    )


def _gauge(
    name: str, help_text: str, labels: list[str], series: Iterable[tuple[list[str], float]]
) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, help_text, labels=labels)
    for values, value in series:
        gauge.add_metric(values, value)
    return gauge


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


class LagExporter(StoppableThread):
    """The poller thread and the HTTP endpoint of ``orderstream lag-exporter``."""

    def __init__(
        self,
        admin_config: Mapping[str, Any],
        consumer_config: Mapping[str, Any],
        *,
        cluster: str = "orderstream",
        interval_s: float = 5.0,
    ) -> None:
        super().__init__("lag-exporter")
        self._admin_config = dict(admin_config)
        self._consumer_config = dict(consumer_config)
        self._interval = interval_s
        self.collector = LagCollector(cluster)
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Start the poller and the /metrics endpoint (returns; both run in daemon threads)."""
        start_http_server(port, addr=host, registry=self.registry)
        self.start()

    def stop(self, timeout_s: float = 30) -> None:
        super().stop(timeout_s)

    def wait(self) -> None:
        """Block until ``stop`` (from a signal handler)."""
        while not self.stopping.wait(1.0):
            pass

    def run(self) -> None:
        reader = LagReader(AdminClient(self._admin_config), self._consumer_config)
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    lags = reader.read()
                    self.collector.update(lags, (time.monotonic() - started) * 1000)
                except (KafkaException, TimeoutError) as exc:
                    logger.warning("consumer lag unavailable; retrying", extra={"error": str(exc)})
                self.stopping.wait(self._interval)
        finally:
            reader.close()  # in this thread, after its last call: never during one
