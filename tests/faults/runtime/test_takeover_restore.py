"""A takeover whose restore outlasts the transaction timeout: the open transaction is committed
before the restore, so it is not timed out by the coordinator (no fenced commit, no rebuild)."""

from __future__ import annotations

import threading
import time
import uuid

from confluent_kafka import Producer

from orderstream.runtime import ProcessingLoop, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import EosTopics, InputTrickle, verify, wait_committed, wait_for

TOTAL = 50_000
TXN_TIMEOUT_MS = 4_000
# Longer than the transaction timeout plus the coordinator's abort check (5 s on our clusters).
RESTORE_HELD_S = 11.0


def _hanging_transaction(bootstrap: str, topic: str, partitions: list[int]) -> Producer:
    """An open transaction on ``partitions`` of the changelog: a restore waits for it to end."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"hanging-{uuid.uuid4().hex[:8]}",
            "transaction.timeout.ms": 60_000,
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for partition in partitions:
        producer.produce(topic, b"hanging", b"hanging", partition=partition)
    producer.flush(30)
    return producer


def test_a_takeover_with_a_slow_restore_commits_first_and_is_not_fenced(
    kafka_cluster: LocalCluster, eos_topics: EosTopics
) -> None:
    bootstrap = kafka_cluster.bootstrap
    settings = kafka_cluster.settings()

    def processor() -> AggregateProcessor:
        return AggregateProcessor(eos_topics.input, eos_topics.output, eos_topics.changelog)

    # A keeps its transaction open most of the time: a long interval, no early idle commits.
    config_a = RuntimeConfig(
        app_id=eos_topics.group,
        instance_id="a",
        commit_interval_ms=2_000,
        idle_commit_ms=0,
        transaction_timeout_ms=TXN_TIMEOUT_MS,
    )
    a = ProcessingLoop(processor(), config_a, settings)
    b = ProcessingLoop(
        processor(), RuntimeConfig(app_id=eos_topics.group, instance_id="b"), settings
    )
    threads = {loop: threading.Thread(target=loop.run, daemon=True) for loop in (a, b)}
    trickle = InputTrickle(bootstrap, eos_topics.input, TOTAL, keys=1_000, rate=2_500)
    hanging: Producer | None = None
    try:
        threads[a].start()
        wait_committed(bootstrap, eos_topics, 2_000)
        threads[b].start()

        def b_partitions() -> list[int]:
            session = b.session
            return [tp[1] for tp in session.registry.tasks] if session is not None else []

        wait_for(lambda: bool(b_partitions()) and b.ready()[0], 60, "b to run its partitions")
        hanging = _hanging_transaction(bootstrap, eos_topics.changelog, b_partitions())
        b.stop()  # a takes b's partitions over, and must restore them
        assert b.finished.wait(60)

        def a_restoring() -> bool:
            session = a.session
            return session is not None and bool(session.registry.restoring())

        wait_for(a_restoring, 60, "a to restore b's partitions")
        time.sleep(RESTORE_HELD_S)  # the fault: the restore cannot finish while it hangs
        hanging.abort_transaction(30)
        hanging = None
        wait_for(lambda: not a_restoring(), 60, "a's restore to finish")
        trickle.join()
        wait_committed(bootstrap, eos_topics, TOTAL, timeout=90)
    finally:
        if hanging is not None:
            hanging.abort_transaction(30)
        for loop in (a, b):
            loop.stop()
        for thread in threads.values():
            if thread.ident is not None:  # started
                thread.join(60)
    assert (a.rebuilds, list(a.metrics.abort_reasons)) == (0, [])
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == TOTAL
