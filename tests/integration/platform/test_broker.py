"""The real broker: durable round trips and transaction visibility."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer

from orderstream.config import Role, kafka_config
from orderstream.testing.cluster import LocalCluster


def _consume_all(cluster: LocalCluster, topic: str, isolation: str, expect: int) -> list[bytes]:
    conf = kafka_config(
        Role.CONSUMER, "test-reader", settings=cluster.settings(),
        group_id=f"g-{uuid.uuid4().hex[:8]}", overrides={"isolation.level": isolation},
    )  # fmt: skip
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    values: list[bytes] = []
    idle = 0
    try:
        while len(values) < expect or idle < 3:
            batch = consumer.consume(1000, timeout=1.0)
            idle = idle + 1 if not batch else 0
            values += [m.value() for m in batch if m.error() is None]
            if idle >= 10:
                break
    finally:
        consumer.close()
    return values


def test_idempotent_round_trip_of_10k_records(kafka_cluster: LocalCluster) -> None:
    topic = kafka_cluster.create_topic(partitions=3)
    producer = Producer(kafka_config(Role.PRODUCER, "rt", settings=kafka_cluster.settings()))
    acked: list[bytes] = []

    def on_delivery(err: object, msg: object) -> None:
        assert err is None
        acked.append(msg.value())  # type: ignore[attr-defined]

    sent = [f"record-{i}".encode() for i in range(10_000)]
    for i, value in enumerate(sent):
        producer.produce(topic, key=str(i).encode(), value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert sorted(acked) == sorted(sent)
    received = _consume_all(kafka_cluster, topic, "read_committed", len(sent))
    assert sorted(received) == sorted(sent)


def test_committed_visible_aborted_only_to_read_uncommitted(kafka_cluster: LocalCluster) -> None:
    topic = kafka_cluster.create_topic()
    producer = Producer(
        kafka_config(
            Role.TRANSACTIONAL_PRODUCER, "txn", settings=kafka_cluster.settings(),
            transactional_id=f"txn-{uuid.uuid4().hex[:8]}",
        )
    )  # fmt: skip
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, value=f"committed-{i}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, value=f"aborted-{i}".encode())
    producer.flush(30)
    producer.abort_transaction(30)

    committed = _consume_all(kafka_cluster, topic, "read_committed", 10)
    assert sorted(committed) == sorted(f"committed-{i}".encode() for i in range(10))
    uncommitted = _consume_all(kafka_cluster, topic, "read_uncommitted", 20)
    assert sum(v.startswith(b"aborted-") for v in uncommitted) == 10
    assert sum(v.startswith(b"committed-") for v in uncommitted) == 10
