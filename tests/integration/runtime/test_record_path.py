"""One record path: the broker-free driver and the real runtime give the same outcomes for the
same poison, oversized and transient records (``run_record`` is shared by both)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from orderstream.errors import RegistryUnavailable
from orderstream.runtime import (
    H_ERROR_CLASS,
    ProcessingLoop,
    Processor,
    ProcessorContext,
    Record,
    RuntimeConfig,
)
from orderstream.testing.aggregate import AggregateProcessor, encode_value
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.driver import ProcessorDriver
from orderstream.testing.eos import dlq_rows, make_eos_topics, read_all, wait_committed

StartLoop = Callable[[Processor, RuntimeConfig], ProcessingLoop]
LIMIT = 2_000
LONG_KEY = b"k" * 1_000  # key + value over the limit, the value alone under it: processed

# (key, value): one case each.
CASES = [
    (b"poison", b"\xff\x00garbage"),
    (b"huge-value", encode_value(1) + b"x" * (LIMIT + 500)),
    (b"emits-big", encode_value(2)),
    (LONG_KEY, encode_value(3) + b"y" * 1_400),
    (b"flaky", encode_value(4)),
]
DEAD_LETTERED = {
    b"poison": "DeserializationError",
    b"huge-value": "RecordTooLarge",
    b"emits-big": "OutputTooLarge",
}
PROCESSED = {LONG_KEY, b"flaky"}


class _Cases(AggregateProcessor):
    """The verification processor, plus one behaviour per case key."""

    def __init__(self, input_topic: str, output_topic: str, changelog: str) -> None:
        super().__init__(input_topic, output_topic, changelog)
        self.flaky_failures = 0

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        if record.key == b"flaky" and self.flaky_failures < 2:
            self.flaky_failures += 1
            raise RegistryUnavailable(503, 50002, "schema registry unreachable")
        if record.key == b"emits-big":
            ctx.emit(self.output_topic, record.key, b"z" * (LIMIT + 1))
        if record.key == LONG_KEY:
            ctx.emit(self.output_topic, record.key, record.value)
            return
        super().process(record, ctx)


def test_the_driver_and_the_runtime_agree_on_every_outcome(
    kafka_cluster: LocalCluster, start_loop: StartLoop
) -> None:
    # The driver: the transient case raises (the runtime retries it); everything else is final.
    driver = ProcessorDriver(_Cases("in", "out", "cl"), max_record_bytes=LIMIT)
    for key, value in CASES:
        if key == b"flaky":
            for _ in range(2):
                with pytest.raises(RegistryUnavailable):
                    driver.pipe("in", key, value)
        driver.pipe("in", key, value)
    driver_dlq = {o.key: o.header_map[H_ERROR_CLASS].decode() for o in driver.dlq("in")}
    driver_out = {o.key for o in driver.outputs("out")}

    # The runtime, over the same records.
    bootstrap = kafka_cluster.bootstrap
    topics = make_eos_topics(kafka_cluster, partitions=1)
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in CASES:
        producer.produce(topics.input, value, key)
    producer.flush(10)
    processor = _Cases(topics.input, topics.output, topics.changelog)
    config = RuntimeConfig(app_id=topics.group, instance_id="a", max_record_bytes=LIMIT)
    loop = start_loop(processor, config)
    wait_committed(bootstrap, topics, len(CASES))
    loop.stop()
    assert loop.finished.wait(60)
    runtime_dlq = {
        row["key"]: row["headers"][H_ERROR_CLASS] for row in dlq_rows(bootstrap, topics.input)
    }
    runtime_out = {row[2] for row in read_all(bootstrap, topics.output)}

    assert driver_dlq == runtime_dlq == DEAD_LETTERED
    assert driver_out == runtime_out == PROCESSED
    assert processor.flaky_failures == 2
    reasons = list(loop.metrics.abort_reasons)
    assert len(reasons) == 2 and all("transient error" in r for r in reasons), reasons
