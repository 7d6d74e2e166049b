"""A broker killed and restarted many times in a row, while clients hammer its dead port with
reconnects, binds its port again every time.

Its ports lie outside the ephemeral range, so no reconnecting client can get one of them as its
own source port (a TCP self-connect that holds the port and makes the restart fail to bind).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from orderstream.config import load_settings
from orderstream.platform import ports
from orderstream.platform.cluster import restart_dead_nodes, wait_ready
from orderstream.testing.cluster import LocalCluster, local_cluster

RESTARTS = 5
CLIENTS = 4


class _Refusals(logging.Handler):
    """Counts librdkafka's 'Connection refused' lines: each is one reconnect attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Connection refused" in record.getMessage():
            self.count += 1


@pytest.fixture
def lone_broker(tmp_path: Path) -> Iterator[LocalCluster]:
    with local_cluster(tmp_path / "kafka", load_settings().cache_dir, nodes=1) as cluster:
        yield cluster


def _wait(what: str, check: Callable[[], bool], poll: Callable[[], None], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll()
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_broker_comes_back_after_every_restart(lone_broker: LocalCluster) -> None:
    spec, dist = lone_broker.spec, lone_broker.dist
    assert spec is not None and dist is not None
    node = spec.nodes[0]
    assert not ports.is_ephemeral(node.broker_port)
    assert not ports.is_ephemeral(node.controller_port)
    topic = lone_broker.create_topic(partitions=1)
    refusals = _Refusals()
    quiet = logging.getLogger("test.reconnects")
    quiet.propagate, quiet.level = False, logging.DEBUG
    quiet.addHandler(refusals)
    fast = {"bootstrap.servers": spec.bootstrap, "reconnect.backoff.ms": 1,
            "reconnect.backoff.max.ms": 20, "log_level": 7}  # fmt: skip
    producers = [Producer(fast, logger=quiet) for _ in range(CLIENTS)]
    consumer = Consumer({**fast, "group.id": "reconnects"}, logger=quiet)
    consumer.subscribe([topic])
    delivered: list[int] = []

    def poll() -> None:
        for p in producers:
            p.poll(0)
        consumer.poll(0)

    try:
        for round_no in range(RESTARTS):
            lone_broker.kill(node.node_id)
            before = refusals.count
            # Restart only once every client is seen reconnecting to the dead port (librdkafka
            # logs a repeated failure once, so one refusal per client is the signal).
            _wait("reconnects", lambda b=before: refusals.count >= b + CLIENTS, poll, 60)
            assert restart_dead_nodes(dist, spec) == [node.node_id]
            wait_ready(spec, timeout=120)
            log = spec.log_file(node).read_text(errors="replace")
            assert "Address already in use" not in log, f"restart {round_no} could not bind"
            for p in producers:
                p.produce(topic, b"x", on_delivery=lambda err, _m: delivered.append(err is None))
            want = (round_no + 1) * CLIENTS
            _wait("deliveries", lambda w=want: sum(delivered) >= w, poll, 120)
    finally:
        consumer.close()
        for p in producers:
            p.flush(5)
    assert sum(delivered) == RESTARTS * CLIENTS
