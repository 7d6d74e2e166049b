"""TopicTable against the shared real broker: a latest-value table, and an unknown topic that
is a clear error after a bounded wait (with assign() it used to be a silent, endless wait)."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Message, Producer

from orderstream.kafka.errors import TopicMissing
from orderstream.kafka.table import TopicTable
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration


def _table(cluster: LocalCluster, topic: str, **kwargs: object) -> TopicTable:
    conf = {"bootstrap.servers": cluster.bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}"}
    admin = {"bootstrap.servers": cluster.bootstrap}
    return TopicTable(conf, admin, topic, **kwargs)  # type: ignore[arg-type]


def _produce(cluster: LocalCluster, topic: str, rows: list[tuple[bytes, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True})
    for key, value in rows:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def test_the_table_keeps_the_latest_value_and_follows(kafka_cluster: LocalCluster) -> None:
    topic = kafka_cluster.create_topic(f"table-{uuid.uuid4().hex[:8]}", partitions=3)
    _produce(kafka_cluster, topic, [(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1")])
    table = _table(kafka_cluster, topic, decode=bytes.decode)
    batches: list[list[Message]] = []
    table.subscribe(batches.append)
    table.start()
    try:
        table.wait_caught_up(timeout_s=60)
        assert table.ready.wait(30)
        assert (table.get("a"), table.get("b"), len(table)) == ("2", "1", 3)
        _produce(kafka_cluster, topic, [(b"b", None), (b"d", b"7")])  # a tombstone deletes
        table.wait_caught_up(timeout_s=60)
        assert (table.get("b"), table.get("d"), len(table)) == (None, "7", 3)
        assert sum(len(b) for b in batches) == 6
        assert table.failure is None
    finally:
        table.close()


def test_an_unknown_topic_is_a_clear_error_in_both_modes(kafka_cluster: LocalCluster) -> None:
    topic = f"no-such-topic-{uuid.uuid4().hex[:8]}"
    reader = _table(kafka_cluster, topic, missing_wait_s=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(TopicMissing, match=f"topic {topic} does not exist"):
            reader.catch_up(timeout_s=60)
    finally:
        reader.close()
    assert time.monotonic() - started < 30  # bounded: not the 60 s of the caller's timeout
    follower = _table(kafka_cluster, topic, missing_wait_s=1.0)
    follower.start()
    try:
        with pytest.raises(TopicMissing, match="orderstream topics apply"):
            follower.wait_caught_up(timeout_s=60)
        assert isinstance(follower.failure, TopicMissing)
        assert not follower.assigned.is_set()
    finally:
        follower.close()
