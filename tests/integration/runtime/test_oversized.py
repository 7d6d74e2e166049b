"""Records near 1 MB: between librdkafka's default message.max.bytes (1,000,000) and
max_record_bytes (1,048,576) they are processed or dead-lettered, never a crash loop."""

from __future__ import annotations

import os
from collections.abc import Callable

from confluent_kafka import Producer

from orderstream.runtime import (
    H_ERROR_CLASS,
    ProcessingLoop,
    Processor,
    ProcessorContext,
    Record,
    RuntimeConfig,
)
from orderstream.testing.aggregate import AggregateProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import (
    dlq_rows,
    make_eos_topics,
    produce_inputs,
    verify,
    wait_committed,
)

StartLoop = Callable[[Processor, RuntimeConfig], ProcessingLoop]

NEAR = os.urandom(1_010_000)  # under max_record_bytes, over librdkafka's default limit
HUGE = os.urandom(1_100_000)  # over max_record_bytes
EMITS_BIG = os.urandom(600_000)  # its processing emits 1.1 MB


class _BigEmitter(AggregateProcessor):
    def process(self, record: Record, ctx: ProcessorContext) -> None:
        if record.key == b"emits-big":
            ctx.emit(self.output_topic, record.key, HUGE)
        super().process(record, ctx)


def test_records_near_one_megabyte_go_to_the_dlq_and_the_rest_is_exact(
    kafka_cluster: LocalCluster, start_loop: StartLoop
) -> None:
    bootstrap = kafka_cluster.bootstrap
    topics = make_eos_topics(kafka_cluster, input_config={"max.message.bytes": "2000000"})
    produce_inputs(bootstrap, topics.input, 2_000, keys=100, seed=7)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "message.max.bytes": 2_000_000, "compression.type": "none"}
    )
    for key, value, partition in (
        (b"near", NEAR, 0),
        (b"huge", HUGE, 1),
        (b"emits-big", EMITS_BIG, 2),
    ):
        producer.produce(topics.input, value, key, partition=partition)
    producer.flush(30)
    produce_inputs(bootstrap, topics.input, 2_000, keys=100, seed=8)
    processor = _BigEmitter(topics.input, topics.output, topics.changelog)
    loop = start_loop(processor, RuntimeConfig(app_id=topics.group, instance_id="a"))
    wait_committed(bootstrap, topics, 4_003, timeout=90)
    loop.stop()
    assert loop.finished.wait(60)
    assert loop.rebuilds == 0
    by_key = {row["key"]: row for row in dlq_rows(bootstrap, topics.input)}
    assert sorted(by_key) == [b"emits-big", b"huge", b"near"]
    assert by_key[b"near"]["value"] == NEAR
    assert by_key[b"near"]["headers"][H_ERROR_CLASS] == "DeserializationError"
    assert by_key[b"huge"]["value"] is None
    assert by_key[b"huge"]["headers"][H_ERROR_CLASS] == "RecordTooLarge"
    assert by_key[b"emits-big"]["value"] == EMITS_BIG
    assert by_key[b"emits-big"]["headers"][H_ERROR_CLASS] == "OutputTooLarge"
    verdict = verify(bootstrap, topics)
    assert verdict.ok, verdict.problems
    assert (verdict.processed, verdict.invalid) == (4_000, 3)
