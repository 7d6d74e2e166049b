"""A paused instance is fenced (zombie); instances join and leave mid-stream; all stays exact."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from orderstream.runtime import ProcessingLoop, ProcessorContext, Record, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import (
    EosTopics,
    InputTrickle,
    produce_inputs,
    verify,
    wait_committed,
    wait_for,
)
from orderstream.testing.instances import AggregateProcess

Spawn = Callable[[str], AggregateProcess]


def test_a_paused_instance_is_fenced_and_nothing_it_writes_becomes_visible(
    kafka_cluster: LocalCluster, eos_topics: EosTopics, spawn: Spawn
) -> None:
    bootstrap = kafka_cluster.bootstrap
    produce_inputs(bootstrap, eos_topics.input, 10_000, keys=1_000)
    zombie, survivor = spawn("zombie"), spawn("survivor")
    wait_for(lambda: zombie.ready() and survivor.ready(), 60, "both instances to process")
    trickle = InputTrickle(bootstrap, eos_topics.input, 40_000, keys=1_000, rate=4_000)
    wait_committed(bootstrap, eos_topics, 15_000)
    zombie.pause()  # mid-transaction: inputs keep arriving
    wait_for(
        lambda: survivor.metric("orderstream_assigned_partitions") == 6,
        60,
        "the group to move the zombie's partitions",
    )
    wait_committed(bootstrap, eos_topics, 30_000)
    zombie.resume()
    wait_for(
        lambda: zombie.metric("orderstream_partitions_lost_total")
        + zombie.metric("orderstream_task_migrations_total")
        >= 1,
        60,
        "the zombie to notice it was fenced",
    )
    trickle.join()
    wait_committed(bootstrap, eos_topics, 50_000)
    assert zombie.terminate() == 0
    assert survivor.terminate() == 0
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == 50_000


def test_instances_join_and_leave_mid_stream(
    kafka_cluster: LocalCluster, eos_topics: EosTopics, spawn: Spawn
) -> None:
    bootstrap = kafka_cluster.bootstrap
    total = 100_000
    trickle = InputTrickle(bootstrap, eos_topics.input, total, keys=2_000, rate=10_000)
    a = spawn("a")
    wait_committed(bootstrap, eos_topics, 15_000)
    b = spawn("b")
    wait_committed(bootstrap, eos_topics, 30_000)
    c = spawn("c")
    wait_committed(bootstrap, eos_topics, 50_000)
    assert a.terminate() == 0  # leaves the group: its partitions move to b and c
    wait_committed(bootstrap, eos_topics, 70_000)
    assert b.terminate() == 0
    trickle.join()
    wait_committed(bootstrap, eos_topics, total)
    # b may have drained its partitions before it left, so the last commit can come before the
    # group hands them to c: wait for the handover itself, which is the outcome under test.
    wait_for(
        lambda: c.metric("orderstream_assigned_partitions") == 6,
        60,
        "c to own every partition after a and b left",
    )
    assert c.terminate() == 0
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == total


class _StallingAggregate(AggregateProcessor):
    """Stalls once, mid-transaction, for longer than the group tolerates (a GC pause, a VM
    freeze): the group gives its partitions away, and it wakes up as a zombie."""

    def __init__(self, t: EosTopics, stall_at: int, stall_s: float) -> None:
        super().__init__(t.input, t.output, t.changelog)
        self.stall_at, self.stall_s = stall_at, stall_s
        self.records = 0

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        super().process(record, ctx)
        self.records += 1
        if self.records == self.stall_at:
            time.sleep(self.stall_s)


def test_a_stalled_instance_cannot_commit_what_it_processed_as_a_zombie(
    kafka_cluster: LocalCluster, eos_topics: EosTopics
) -> None:
    bootstrap = kafka_cluster.bootstrap
    produce_inputs(bootstrap, eos_topics.input, 20_000, keys=1_000)
    # The stalled instance is fenced by the group generation (KIP-447) when it tries to commit.
    settings = kafka_cluster.settings(librdkafka={"max.poll.interval.ms": 6_000})
    stalling = _StallingAggregate(eos_topics, stall_at=2_000, stall_s=8)
    zombie = ProcessingLoop(
        stalling, RuntimeConfig(app_id=eos_topics.group, instance_id="zombie"), settings
    )
    healthy = ProcessingLoop(
        AggregateProcessor(eos_topics.input, eos_topics.output, eos_topics.changelog),
        RuntimeConfig(app_id=eos_topics.group, instance_id="healthy"),
        settings,
    )
    threads = [threading.Thread(target=loop.run, daemon=True) for loop in (zombie, healthy)]
    # The zombie starts alone: started together, the healthy instance could take every partition
    # and drain the input before the zombie is assigned any, and the stall would never begin.
    threads[0].start()
    try:
        wait_for(lambda: stalling.records >= 2_000, 60, "the stall to begin")
        threads[1].start()
        produce_inputs(bootstrap, eos_topics.input, 10_000, keys=1_000, seed=5)
        wait_committed(bootstrap, eos_topics, 30_000, timeout=90)
        wait_for(
            lambda: zombie.metrics.sample("orderstream_txn_aborts_total")
            + zombie.metrics.sample("orderstream_task_migrations_total")
            >= 1,
            60,
            "the zombie's transaction to be refused",
        )
    finally:
        for loop in (zombie, healthy):
            loop.stop()
        for thread in threads:
            if thread.is_alive():
                thread.join(60)
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == 30_000
