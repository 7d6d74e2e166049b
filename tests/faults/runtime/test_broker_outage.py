"""The broker goes away while a session is being built and while a restore waits: the loop
logs it, backs off and retries, never exits, and the output stays exact once it is back."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from orderstream.config import load_settings
from orderstream.platform.cluster import restart_dead_nodes, wait_ready
from orderstream.runtime import ProcessingLoop, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor
from orderstream.testing.cluster import LocalCluster, local_cluster
from orderstream.testing.eos import (
    EosTopics,
    make_eos_topics,
    produce_inputs,
    verify,
    wait_committed,
    wait_for,
)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A 1-node cluster of this test alone: it stops and restarts the broker."""
    with local_cluster(tmp_path / "kafka", load_settings().cache_dir, nodes=1) as cluster:
        yield cluster


def _restart(cluster: LocalCluster) -> None:
    assert cluster.dist is not None and cluster.spec is not None
    assert restart_dead_nodes(cluster.dist, cluster.spec) == [1]
    wait_ready(cluster.spec, timeout=120)


def _start(cluster: LocalCluster, topics: EosTopics, instance: str) -> ProcessingLoop:
    processor = AggregateProcessor(topics.input, topics.output, topics.changelog)
    loop = ProcessingLoop(
        processor, RuntimeConfig(app_id=topics.group, instance_id=instance), cluster.settings()
    )
    threading.Thread(target=loop.run, name=f"loop-{instance}", daemon=True).start()
    return loop


def test_the_loop_survives_the_broker_going_down_during_a_rebuild_and_a_restore(
    own_cluster: LocalCluster,
) -> None:
    cluster = own_cluster
    bootstrap = cluster.bootstrap
    topics = make_eos_topics(cluster)
    produce_inputs(bootstrap, topics.input, 10_000, keys=500)
    # A transaction left open on every changelog partition: the restore waits for it.
    hanging = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"hanging-{uuid.uuid4().hex[:8]}",
            "transaction.timeout.ms": 120_000,
        }
    )
    hanging.init_transactions(30)
    hanging.begin_transaction()
    for partition in range(6):
        hanging.produce(topics.changelog, b"hanging", b"hanging", partition=partition)
    hanging.flush(30)

    loop: ProcessingLoop | None = None
    try:
        cluster.kill(1)
        # 1. Sessions built while the broker is down (list_topics fails).
        loop = _start(cluster, topics, "a")
        wait_for(
            lambda: loop.metrics.sample("orderstream_task_migrations_total") >= 2,
            90,
            "two failed session builds while the broker is down",
        )
        assert not loop.finished.is_set(), loop.error
        _restart(cluster)

        # 2. The broker goes away again while the restore waits for the hanging transaction.
        def restoring() -> bool:
            session = loop.session
            return session is not None and bool(session.registry.restoring())

        wait_for(restoring, 90, "the restore to begin")
        migrations = loop.metrics.sample("orderstream_task_migrations_total")
        cluster.kill(1)
        wait_for(
            lambda: loop.metrics.sample("orderstream_task_migrations_total") > migrations,
            90,
            "the restore to fail over to a rebuild",
        )
        assert not loop.finished.is_set(), loop.error
        _restart(cluster)
        hanging.abort_transaction(60)
        produce_inputs(bootstrap, topics.input, 10_000, keys=500, seed=9)
        wait_committed(bootstrap, topics, 20_000, timeout=120)
    finally:
        if loop is not None:
            loop.stop()
            assert loop.finished.wait(60), "the loop did not stop"
    assert loop.error is None
    verdict = verify(bootstrap, topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == 20_000
