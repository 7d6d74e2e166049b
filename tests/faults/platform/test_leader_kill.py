"""3 nodes, RF 3, min ISR 2: SIGKILL the leader mid-stream; no acknowledged record is lost."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer

from orderstream.config import Role, kafka_config
from orderstream.platform.status import active_controller
from orderstream.testing.cluster import LocalCluster, wait_for_topic_leaders

RECORDS = 20_000


def test_leader_sigkill_loses_no_acknowledged_record(healthy_cluster3: LocalCluster) -> None:
    kafka_cluster3 = healthy_cluster3
    topic = kafka_cluster3.create_topic(partitions=1, replication=3,
                                        config={"min.insync.replicas": "2"})  # fmt: skip
    wait_for_topic_leaders(kafka_cluster3.admin, topic)
    leader = kafka_cluster3.leader_of(topic)
    settings = kafka_cluster3.settings()
    producer = Producer(kafka_config(Role.PRODUCER, "fault", settings=settings,
                                     overrides={"linger.ms": 2}))  # fmt: skip
    acked: set[bytes] = set()
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: object) -> None:
        if err is None:
            acked.add(msg.value())  # type: ignore[attr-defined]
        else:
            failed.append(err)

    for i in range(RECORDS):
        producer.produce(topic, value=f"v-{i:06d}".encode(), on_delivery=on_delivery)
        producer.poll(0)
        if i == RECORDS // 3:
            producer.flush(30)
            kafka_cluster3.kill(leader)
    assert producer.flush(120) == 0
    assert len(acked) == RECORDS and not failed, f"{len(failed)} failed: {failed[:3]}"
    new_leader = kafka_cluster3.leader_of(topic)
    assert new_leader != leader
    # the KRaft quorum has (or elects) an active controller among the two live nodes
    assert kafka_cluster3.spec is not None
    live = {n.node_id for n in kafka_cluster3.spec.nodes} - {leader}
    deadline = time.monotonic() + 20
    while active_controller(kafka_cluster3.spec) not in live and time.monotonic() < deadline:
        time.sleep(0.2)
    assert active_controller(kafka_cluster3.spec) in live

    consumer = Consumer(kafka_config(Role.CONSUMER, "fault-reader", settings=settings,
                                     group_id=f"g-{uuid.uuid4().hex[:6]}"))  # fmt: skip
    consumer.subscribe([topic])
    seen: list[bytes] = []
    try:
        for _ in range(60):
            seen += [m.value() for m in consumer.consume(5000, timeout=1.0) if not m.error()]
            if len(seen) >= RECORDS:
                break
    finally:
        consumer.close()
    assert acked <= set(seen)
    # in order on one partition, and no duplicates from the idempotent producer
    assert seen == sorted(seen) and len(seen) == len(set(seen))

    # the cluster keeps serving on 2 nodes: acks=all writes with min ISR 2 still succeed
    more: list[KafkaError | None] = []
    for i in range(100):
        producer.produce(topic, value=f"after-{i}".encode(),
                         on_delivery=lambda err, _msg: more.append(err))  # fmt: skip
    assert producer.flush(60) == 0
    assert len(more) == 100 and all(err is None for err in more)
