"""The pipeline bench's probes on the real broker: per-group lag, record clocks per key."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from orderstream.bench.probes import Arrivals, LagSampler, record_time
from orderstream.config import Settings
from orderstream.ops.load import LoadSpec, build_orders, load_direct
from orderstream.services.topics import ORDERS
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, topic: str, count: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    sent = time.time()
    for i in range(count):
        producer.produce(topic, b"v", f"k{i}".encode(), partition=i % 2)
    assert producer.flush(30) == 0
    return sent


def _commit(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        consumer.commit(offsets=parts, asynchronous=False)
    finally:
        consumer.close()


def test_lag_per_group_leaves_the_benchs_own_groups_out(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    settings = Settings(bootstrap_servers=kafka_cluster.bootstrap, home=tmp_path)
    topic = kafka_cluster.create_topic(partitions=2)
    _produce(kafka_cluster.bootstrap, topic, 10)  # 5 per partition
    app, own = f"app-{uuid.uuid4().hex[:6]}", f"bench-{uuid.uuid4().hex[:6]}"
    _commit(kafka_cluster.bootstrap, topic, app, {0: 1, 1: 2})
    _commit(kafka_cluster.bootstrap, topic, own, {0: 0, 1: 0})

    sampler = LagSampler(settings)
    try:
        lags = sampler.read()
    finally:
        sampler.close()

    assert lags[app] == (5 - 1) + (5 - 2)
    assert own not in lags


def test_arrivals_by_record_time_are_the_produce_times(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    settings = Settings(bootstrap_servers=kafka_cluster.bootstrap, home=tmp_path)
    topic = kafka_cluster.create_topic(partitions=2)
    _produce(kafka_cluster.bootstrap, topic, 3)  # before the probe: not seen
    produced = Arrivals(settings, topic, record_time)
    try:
        sent = _produce(kafka_cluster.bootstrap, topic, 20)
        produced.wait_for(20, timeout_s=60)
    finally:
        produced.close()

    assert set(produced.seen) == {f"k{i}".encode() for i in range(20)}
    assert all(sent - 1 <= at <= time.time() for at in produced.seen.values())
    assert sum(per_s for _t, per_s in produced.series(bucket_s=10)) == 2  # 20 in one 10 s bucket


def test_a_direct_load_says_when_it_sent_its_first_order(
    kafka_cluster: LocalCluster, schema_registry_url: str, tmp_path: Path
) -> None:
    # The window-close figures of bench pipeline are taken from this moment: each order's
    # produce time (its CreateTime) is at or after it, the first one within the pacing step.
    settings = Settings(
        bootstrap_servers=kafka_cluster.bootstrap,
        registry_url=schema_registry_url,
        home=tmp_path,
        prefix=f"t{uuid.uuid4().hex[:8]}.",
    )
    orders = kafka_cluster.create_topic(settings.named(ORDERS), partitions=2)
    spec = LoadSpec(count=50, rate=500, products=5, direct=True, seed=1)
    produced = Arrivals(settings, orders, record_time)
    try:
        before = time.time()
        report = load_direct(spec, settings, build_orders(spec, uuid.uuid4().hex), lambda _n: None)
        produced.wait_for(50, timeout_s=60)
    finally:
        produced.close()

    assert report.accepted == 50
    assert before <= report.started_at <= min(produced.seen.values()) + 0.001  # ms clock
    assert max(produced.seen.values()) >= report.started_at + 49 / 500 - 0.001  # paced from it
