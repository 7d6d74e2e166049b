"""kill -9 the processor five times during 200k input records: the result is still exact."""

from __future__ import annotations

from collections.abc import Callable

from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import (
    EosTopics,
    committed_total,
    produce_inputs,
    verify,
    wait_committed,
    wait_for,
)
from orderstream.testing.instances import AggregateProcess

Spawn = Callable[[str], AggregateProcess]
TOTAL = 200_000
KILLS = 5


def test_kill9_five_times_during_200k_records(
    kafka_cluster: LocalCluster, eos_topics: EosTopics, spawn: Spawn
) -> None:
    bootstrap = kafka_cluster.bootstrap
    # The input arrives in chunks, so every kill lands while input is still to come however
    # fast the processor is; each kill waits until the current chunk is half committed.
    chunk = TOTAL // (KILLS + 1)
    produced = 0
    proc = spawn("a")
    killed_at = []
    for i in range(KILLS):
        produce_inputs(bootstrap, eos_topics.input, chunk, keys=5_000, seed=i + 1, start=produced)
        produced += chunk
        wait_committed(bootstrap, eos_topics, produced - chunk // 2, timeout=120)
        assert proc.alive(), proc.log.read_text()[-2000:]
        proc.kill9()
        killed_at.append(committed_total(bootstrap, eos_topics))
        proc.start()
    produce_inputs(
        bootstrap, eos_topics.input, TOTAL - produced, keys=5_000, seed=99, start=produced
    )
    wait_committed(bootstrap, eos_topics, TOTAL, timeout=120)
    wait_for(proc.ready, 30, "the last instance to be ready")
    assert proc.terminate() == 0
    assert len(killed_at) == KILLS
    assert killed_at == sorted(killed_at)
    assert killed_at[-1] < TOTAL, "every kill must land before the end of the input"
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == TOTAL
