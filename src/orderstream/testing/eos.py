"""Exactly-once verification, as Kafka's streams EOS test does it.

Recompute the aggregates from the input up to the committed offsets, then compare them with the
emitted updates (every key's counts must run 1, 2, ..., n: nothing doubled, nothing missing) and
with the changelog (the state a restore rebuilds). No transaction may hang: on every output
topic the last stable offset must equal the log end offset.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from orderstream.config import KafkaConfig
from orderstream.errors import DeserializationError
from orderstream.kafka.table import TopicTable
from orderstream.testing.aggregate import Aggregate, decode_value, encode_value
from orderstream.testing.cluster import LocalCluster

Row = tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]

# How long a finished transaction's markers may take to reach every partition (``wait_settled``)
# before a partition behind its log end counts as an open transaction.
SETTLE_S = 30.0


def _consumer(bootstrap: str, isolation: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"verify-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )


def _input_producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
        }
    )


def produce_inputs(
    bootstrap: str, topic: str, count: int, keys: int, seed: int = 1, start: int = 0
) -> None:
    """``count`` integer inputs over ``keys`` keys, with a plain idempotent producer."""
    write_integers(_input_producer(bootstrap), topic, count, keys, seed)


def write_integers(
    producer: Producer, topic: str, count: int, keys: int, seed: int = 1, flush_s: float = 60.0
) -> None:
    """``count`` integers in -1000..1000 over ``keys`` keys (seeded), written by ``producer``."""
    rng = random.Random(seed)
    for _ in range(count):
        key = f"k{rng.randrange(keys)}".encode()
        while True:
            try:
                producer.produce(topic, encode_value(rng.randint(-1000, 1000)), key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(flush_s) != 0:
        raise RuntimeError(f"inputs to {topic} not delivered")


class InputTrickle:
    """Produces inputs at a steady rate in a thread, so that work is in flight during faults."""

    def __init__(
        self, bootstrap: str, topic: str, count: int, keys: int, rate: int, seed: int = 7
    ) -> None:
        self.produced = 0
        self._args = (bootstrap, topic, count, keys, rate, seed)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        bootstrap, topic, count, keys, rate, seed = self._args
        rng = random.Random(seed)
        producer = _input_producer(bootstrap)
        started = time.monotonic()
        while self.produced < count:
            due = min(count, int((time.monotonic() - started) * rate) + 1)
            for _ in range(self.produced, due):
                producer.produce(
                    topic,
                    encode_value(rng.randint(-1000, 1000)),
                    f"k{rng.randrange(keys)}".encode(),
                )
            self.produced = due
            producer.poll(0)
            time.sleep(0.01)
        producer.flush(60)

    def join(self, timeout: float = 120) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the input trickle did not finish")


def partitions_of(bootstrap: str, topic: str) -> list[int]:
    c = _consumer(bootstrap, "read_uncommitted")
    try:
        return sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    finally:
        c.close()


def read_all(bootstrap: str, topic: str, isolation: str = "read_committed") -> list[Row]:
    """Every visible record of ``topic``: (partition, offset, key, value, headers)."""
    conf: KafkaConfig = {
        "bootstrap.servers": bootstrap,
        "group.id": f"verify-{uuid.uuid4().hex[:8]}",  # never joined: we assign()
        "isolation.level": isolation,
        "enable.auto.commit": False,
    }
    table = TopicTable(conf, {"bootstrap.servers": bootstrap}, topic, name="eos-verifier")
    try:
        records = table.catch_up(timeout_s=120)
    finally:
        table.close()
    return [_row(m) for m in records]


def _row(m: Any) -> Row:
    return m.partition(), m.offset(), m.key(), m.value(), m.headers() or []


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p) for p in partitions_of(bootstrap, topic)]
        for attempt in range(20):
            try:
                return {tp.partition: tp.offset for tp in c.committed(parts, timeout=30)}
            except KafkaException:
                if attempt == 19:
                    raise
                time.sleep(0.5)  # the group coordinator is still loading
        raise AssertionError("unreachable")
    finally:
        c.close()


def hanging_partitions(bootstrap: str, topic: str) -> list[int]:
    """Partitions whose last stable offset is behind the log end (an open transaction)."""
    committed, raw = (
        _consumer(bootstrap, "read_committed"),
        _consumer(bootstrap, "read_uncommitted"),
    )
    try:
        out = []
        for p in partitions_of(bootstrap, topic):
            tp = TopicPartition(topic, p)
            if (
                committed.get_watermark_offsets(tp, timeout=10)[1]
                != raw.get_watermark_offsets(tp, timeout=10)[1]
            ):
                out.append(p)
        return out
    finally:
        committed.close()
        raw.close()


def wait_settled(bootstrap: str, topic: str, timeout_s: float = SETTLE_S) -> list[int]:
    """Wait until every partition's last stable offset is at its log end; returns the
    partitions still behind after ``timeout_s`` (a transaction that is really open).

    ``commit_transaction`` returns once the coordinator has decided the commit; its markers
    reach each partition a little later, and the group's offsets may show the commit before a
    partition's read_committed readers can see it. Reading right after a commit waits here.
    """
    deadline = time.monotonic() + timeout_s
    hanging = hanging_partitions(bootstrap, topic)
    while hanging and time.monotonic() < deadline:
        time.sleep(0.1)
        hanging = hanging_partitions(bootstrap, topic)
    return hanging


def expected_aggregates(
    inputs: list[Row], committed: dict[int, int]
) -> tuple[dict[bytes, Aggregate], int, int]:
    """(aggregates, valid records, invalid records) of the input up to the committed offsets."""
    aggs: dict[bytes, Aggregate] = {}
    valid = invalid = 0
    for partition, offset, key, value, _ in sorted(inputs, key=lambda r: (r[0], r[1])):
        if offset >= committed.get(partition, -1):
            continue
        try:
            n = decode_value(value)
        except DeserializationError:
            invalid += 1
            continue
        if key is None:
            invalid += 1
            continue
        valid += 1
        old = aggs.get(key)
        aggs[key] = Aggregate.first(n) if old is None else old.add(n)
    return aggs, valid, invalid


@dataclass
class Verdict:
    """What the verifier found; ``problems`` is empty when the run was exactly-once."""

    processed: int = 0
    invalid: int = 0
    outputs: int = 0
    keys: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_exactly_once(
    bootstrap: str, group: str, input_topic: str, output_topic: str, changelog_topic: str
) -> Verdict:
    """Compare the recomputed aggregates with the outputs and the changelog."""
    committed = committed_offsets(bootstrap, group, input_topic)
    aggs, valid, invalid = expected_aggregates(
        read_all(bootstrap, input_topic, "read_uncommitted"), committed
    )
    verdict = Verdict(processed=valid, invalid=invalid, keys=len(aggs))
    for topic in (output_topic, changelog_topic):
        hanging = wait_settled(bootstrap, topic)
        if hanging:
            verdict.problems.append(f"{topic} has open transactions on partitions {hanging}")
    outputs = read_all(bootstrap, output_topic)
    verdict.outputs = len(outputs)
    _check_outputs(outputs, aggs, verdict)
    _check_changelog(read_all(bootstrap, changelog_topic), aggs, verdict)
    return verdict


def _check_outputs(outputs: list[Row], aggs: dict[bytes, Aggregate], verdict: Verdict) -> None:
    counts: dict[bytes, list[int]] = defaultdict(list)
    last: dict[bytes, Aggregate] = {}
    for _, _, key, value, _ in sorted(outputs, key=lambda r: (r[0], r[1])):
        assert key is not None
        assert value is not None
        agg = Aggregate.decode(value)
        counts[key].append(agg.count)
        last[key] = agg
    for key, seen in counts.items():
        if seen != list(range(1, len(seen) + 1)):
            dup = len(seen) - len(set(seen))
            verdict.problems.append(
                f"key {key!r}: counts not 1..n ({dup} duplicates, {seen[:8]}...)"
            )
            if len(verdict.problems) > 20:
                return
    if last != aggs:
        missing = [k for k in aggs if last.get(k) != aggs[k]][:5]
        extra = [k for k in last if k not in aggs][:5]
        wrong = len([k for k in aggs if last.get(k) != aggs[k]])
        verdict.problems.append(
            f"last emitted != recomputed for {wrong} keys "
            f"(e.g. {[(k, last.get(k), aggs[k]) for k in missing]}), extra keys {extra}"
        )


def _check_changelog(rows: list[Row], aggs: dict[bytes, Aggregate], verdict: Verdict) -> None:
    state: dict[bytes, Aggregate] = {}
    for _, _, key, value, _ in sorted(rows, key=lambda r: (r[0], r[1])):
        assert key is not None
        if value is None:
            state.pop(key, None)
        else:
            state[key] = Aggregate.decode(value)
    if state != aggs:
        wrong = [k for k in aggs if state.get(k) != aggs[k]]
        verdict.problems.append(f"changelog state differs from recomputed for {len(wrong)} keys")


def dlq_rows(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The DLQ records of ``topic`` with their headers decoded (once its last transaction's
    markers are written: ``wait_settled``)."""
    wait_settled(bootstrap, topic + ".dlq")
    out = []
    for partition, offset, key, value, headers in read_all(bootstrap, topic + ".dlq"):
        out.append(
            {
                "partition": partition,
                "offset": offset,
                "key": key,
                "value": value,
                "headers": {k: v.decode() for k, v in headers},
            }
        )
    return out


@dataclass(frozen=True)
class EosTopics:
    """The topics of one verification run: 6-partition input, output and changelog, and DLQ."""

    input: str
    output: str
    changelog: str
    group: str

    @property
    def dlq(self) -> str:
        return self.input + ".dlq"


def make_eos_topics(
    cluster: LocalCluster, partitions: int = 6, input_config: dict[str, str] | None = None
) -> EosTopics:
    """Create a fresh set of verification topics (random names) and a group name."""
    u = uuid.uuid4().hex[:8]
    topics = EosTopics(f"agg-in-{u}", f"agg-out-{u}", f"agg-changelog-{u}", f"agg-app-{u}")
    cluster.create_topic(topics.input, partitions, config=input_config)
    cluster.create_topic(topics.dlq, 1)
    cluster.create_topic(topics.output, partitions)
    cluster.create_topic(topics.changelog, partitions, config={"cleanup.policy": "compact"})
    return topics


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def committed_total(bootstrap: str, topics: EosTopics) -> int:
    offsets = committed_offsets(bootstrap, topics.group, topics.input)
    return sum(max(0, o) for o in offsets.values())


def wait_committed(bootstrap: str, topics: EosTopics, total: int, timeout: float = 60) -> None:
    """Wait until the group's committed input offsets cover ``total`` records."""
    wait_for(
        lambda: committed_total(bootstrap, topics) >= total,
        timeout,
        f"{total} committed input records",
    )


def verify(bootstrap: str, topics: EosTopics) -> Verdict:
    return verify_exactly_once(
        bootstrap, topics.group, topics.input, topics.output, topics.changelog
    )
