"""A paused instance is fenced (zombie); instances join and leave mid-stream; all stays exact."""

from __future__ import annotations

from collections.abc import Callable

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
    assert c.metric("orderstream_assigned_partitions") == 6
    assert c.terminate() == 0
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == total
