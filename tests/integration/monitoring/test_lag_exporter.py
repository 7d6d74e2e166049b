"""The lag exporter on a real broker: a backlog shows its records and age, an idle group after a
transactional commit shows 0 (the commit marker is not lag), and /metrics serves it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from orderstream.monitoring.lag import LagReader, PartitionLag
from orderstream.monitoring.lag_exporter import LagExporter
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.registry import free_port

pytestmark = pytest.mark.integration
AGE_MS = 30_000


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def _transactional_topic(cluster: LocalCluster) -> str:
    """Records 0..2 in one committed transaction (marker at 3), stamped AGE_MS ago."""
    topic = cluster.create_topic()
    producer = Producer(
        {"bootstrap.servers": cluster.bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    stamp = int(time.time() * 1000) - AGE_MS
    for i in range(3):
        producer.produce(topic, value=b"%d" % i, timestamp=stamp + i)
    producer.commit_transaction(30)
    return topic


def _read_until(reader: LagReader, groups: set[str]) -> dict[str, PartitionLag]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = {p.group: p for p in reader.read() if p.group in groups}
        if set(found) == groups:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no lag for {groups} after 60 s")


def test_backlog_and_idle_group_on_a_transactional_topic(kafka_cluster: LocalCluster) -> None:
    topic = _transactional_topic(kafka_cluster)
    behind, idle = f"behind-{uuid.uuid4().hex[:6]}", f"idle-{uuid.uuid4().hex[:6]}"
    _commit(kafka_cluster.bootstrap, behind, topic, 1)
    _commit(kafka_cluster.bootstrap, idle, topic, 3)  # what an exactly-once consumer commits
    reader = LagReader(kafka_cluster.admin, {"bootstrap.servers": kafka_cluster.bootstrap})
    try:
        found = _read_until(reader, {behind, idle})
    finally:
        reader.close()
    assert found[idle].stable_end == 4  # the marker counts in the log end...
    assert (found[idle].records, found[idle].seconds) == (0, 0.0)  # ...but not as lag
    assert found[behind].records == 2
    assert AGE_MS / 1000 <= found[behind].seconds < AGE_MS / 1000 + 60


def test_exporter_serves_kafka_lag_exporter_gauges(kafka_cluster: LocalCluster) -> None:
    topic = kafka_cluster.create_topic()
    producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap})
    stamp = int(time.time() * 1000) - AGE_MS
    for i in range(10):
        producer.produce(topic, value=b"x", timestamp=stamp + i)
    assert producer.flush(30) == 0
    group = f"plain-{uuid.uuid4().hex[:6]}"
    _commit(kafka_cluster.bootstrap, group, topic, 4)
    conf = {"bootstrap.servers": kafka_cluster.bootstrap}
    exporter = LagExporter(conf, conf, cluster="test", interval_s=0.5)
    port = free_port()
    exporter.serve(port)
    try:
        labels = {"cluster_name": "test", "group": group, "topic": topic, "partition": "0"}
        values = _scrape_until(port, labels)
    finally:
        exporter.stop()
    assert values["kafka_consumergroup_group_lag"] == 6
    assert values["kafka_consumergroup_group_offset"] == 4
    assert AGE_MS / 1000 <= values["kafka_consumergroup_group_lag_seconds"] < AGE_MS / 1000 + 60


def _scrape_until(port: int, labels: dict[str, str]) -> dict[str, float]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        values = {
            s.name: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.labels == labels
        }
        if "kafka_consumergroup_group_lag" in values:
            return values
        time.sleep(0.2)
    raise AssertionError(f"no lag series for {labels} after 60 s")
