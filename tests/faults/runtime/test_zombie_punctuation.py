"""A zombie whose input is idle cannot make its punctuation output visible (KIP-447 fencing)."""

from __future__ import annotations

import threading
import time

from orderstream.runtime import ProcessingLoop, PunctuateContext, RuntimeConfig
from orderstream.testing.aggregate import STORE, AggregateProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import (
    EosTopics,
    produce_inputs,
    read_all,
    verify,
    wait_committed,
    wait_for,
)

STALL_S = 9.0  # longer than max.poll.interval.ms (6 s): the group gives the partitions away


class _StallingPunctuator(AggregateProcessor):
    """Once armed, stalls inside ``punctuate`` (a GC pause, a SIGSTOP) while its input is idle,
    then punctuates as a zombie: one marked record per store partition it still believes it has."""

    def __init__(self, t: EosTopics, ticks_topic: str) -> None:
        super().__init__(t.input, t.output, t.changelog)
        self.ticks_topic = ticks_topic
        self.armed = threading.Event()
        self.woke = threading.Event()
        self.emitted = 0

    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None:
        if not self.armed.is_set() or self.woke.is_set():
            return
        time.sleep(STALL_S)
        for partition in ctx.stores(STORE):
            ctx.emit(self.ticks_topic, str(partition).encode(), b"zombie")
            self.emitted += 1
        self.woke.set()


def test_a_zombie_cannot_commit_what_it_punctuated_while_its_input_was_idle(
    kafka_cluster: LocalCluster, eos_topics: EosTopics
) -> None:
    bootstrap = kafka_cluster.bootstrap
    ticks = kafka_cluster.create_topic(partitions=1)
    produce_inputs(bootstrap, eos_topics.input, 5_000, keys=500)
    settings = kafka_cluster.settings(librdkafka={"max.poll.interval.ms": 6_000})
    punctuator = _StallingPunctuator(eos_topics, ticks)
    zombie = ProcessingLoop(
        punctuator, RuntimeConfig(app_id=eos_topics.group, instance_id="zombie"), settings
    )
    healthy = ProcessingLoop(
        AggregateProcessor(eos_topics.input, eos_topics.output, eos_topics.changelog),
        RuntimeConfig(app_id=eos_topics.group, instance_id="healthy"),
        settings,
    )
    threads = [threading.Thread(target=loop.run, daemon=True) for loop in (zombie, healthy)]
    for thread in threads:
        thread.start()
    try:
        wait_committed(bootstrap, eos_topics, 5_000)

        def zombie_has_committed_partitions() -> bool:
            session = zombie.session
            running = session.registry.running() if session is not None else []
            return any(t.committed_offset is not None and t.committed_offset > 0 for t in running)

        wait_for(zombie_has_committed_partitions, 60, "the zombie to own committed partitions")
        punctuator.armed.set()  # the input is idle from here on
        wait_for(punctuator.woke.is_set, 60, "the zombie to wake up and punctuate")
        wait_for(
            lambda: zombie.metrics.sample("orderstream_txn_aborts_total")
            + zombie.metrics.sample("orderstream_task_migrations_total")
            >= 1,
            60,
            "the zombie's transaction to be refused",
        )
        produce_inputs(bootstrap, eos_topics.input, 5_000, keys=500, seed=6)
        wait_committed(bootstrap, eos_topics, 10_000, timeout=90)
    finally:
        for loop in (zombie, healthy):
            loop.stop()
        for thread in threads:
            thread.join(60)
    assert punctuator.emitted >= 1, "the zombie punctuated nothing: the test proves nothing"
    assert read_all(bootstrap, ticks, "read_committed") == []
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == 10_000
