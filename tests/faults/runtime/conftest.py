"""Fault-test fixtures: verification processors as real subprocesses we can kill -9 or SIGSTOP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import EosTopics, make_eos_topics
from orderstream.testing.instances import AggregateProcess


@pytest.fixture
def eos_topics(kafka_cluster: LocalCluster) -> EosTopics:
    return make_eos_topics(kafka_cluster)


Spawn = Callable[[str], AggregateProcess]


@pytest.fixture
def spawn(kafka_cluster: LocalCluster, eos_topics: EosTopics, tmp_path: Path) -> Iterator[Spawn]:
    """Start aggregate processes (each with its own state dir); all are killed at teardown."""
    procs: list[AggregateProcess] = []

    def start(instance_id: str) -> AggregateProcess:
        proc = AggregateProcess(
            kafka_cluster.bootstrap,
            eos_topics,
            instance_id,
            tmp_path / f"state-{instance_id}",
            tmp_path / f"{instance_id}.log",
        )
        proc.start()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.cleanup()
