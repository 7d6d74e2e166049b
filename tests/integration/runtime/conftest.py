"""Fixtures for runtime tests on the real broker: EOS topic sets and in-process loops."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import pytest

from orderstream.runtime import ProcessingLoop, Processor, RuntimeConfig
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import EosTopics, make_eos_topics


@pytest.fixture
def eos_topics(kafka_cluster: LocalCluster) -> EosTopics:
    return make_eos_topics(kafka_cluster)


StartLoop = Callable[[Processor, RuntimeConfig], ProcessingLoop]


@pytest.fixture
def start_loop(kafka_cluster: LocalCluster) -> Iterator[StartLoop]:
    """Start ProcessingLoops in threads; every one is stopped and joined at teardown."""
    running: list[tuple[ProcessingLoop, threading.Thread]] = []

    def start(processor: Processor, config: RuntimeConfig) -> ProcessingLoop:
        loop = ProcessingLoop(processor, config, kafka_cluster.settings())

        def run() -> None:
            with contextlib.suppress(Exception):  # kept in loop.error for the test
                loop.run()

        thread = threading.Thread(target=run, name=f"loop-{config.instance_id}", daemon=True)
        thread.start()
        running.append((loop, thread))
        return loop

    yield start
    for loop, _ in running:
        loop.stop()
    for _, thread in running:
        thread.join(60)
        assert not thread.is_alive(), "a processing loop did not stop"


def stop_loop(loop: ProcessingLoop, timeout: float = 60) -> None:
    """Stop gracefully (commit, snapshot, leave the group) and wait for it."""
    loop.stop()
    assert loop.finished.wait(timeout), "the loop did not stop"
