"""The analytics lag poller's reads survive a group-coordinator failover, and are right.

``AdminClient.list_consumer_group_offsets`` aborts the process inside librdkafka when the group
coordinator's broker dies mid-request (``rd_kafka_enq_once_del_source_return: Assertion
`eonce->refcnt > 0'``, librdkafka#4605; seen here in 2 of 3 kill loops of 15-25 kills). The poller
reads committed offsets through a never-subscribed consumer per group instead. This test runs
that read in a tight loop in a child process while the coordinator is SIGKILLed and restarted,
and the child must live through it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.monitoring.lag import LagReader
from orderstream.platform.cluster import restart_dead_nodes, wait_ready
from orderstream.services.analytics.lag import consumer_lag
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.faults

KILLS = 2
POLLER = """
import faulthandler, sys
faulthandler.enable(all_threads=True)
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from orderstream.monitoring.lag import LagReader
from orderstream.services.analytics.lag import consumer_lag
admin = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0})
reader = LagReader(admin, {"bootstrap.servers": sys.argv[1], "log_level": 0})
while True:
    try:
        consumer_lag(reader, timeout=5)
        print("ok", flush=True)
    except (KafkaException, TimeoutError) as exc:
        print("unavailable", exc, flush=True)
"""


@pytest.fixture
def cluster(healthy_cluster3: LocalCluster) -> LocalCluster:
    return healthy_cluster3


def _committed_group(cluster: LocalCluster, topic: str, group: str, offset: int) -> None:
    conf = {"bootstrap.servers": cluster.bootstrap, "group.id": group}
    consumer = Consumer({**conf, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p, offset) for p in range(3)]
        consumer.commit(offsets=parts, asynchronous=False)
    finally:
        consumer.close()


def _coordinator(bootstrap: str, group: str, timeout_s: float = 60.0) -> int:
    """The group's coordinator. Right after a kill the old one answers NOT_COORDINATOR, and a
    long-lived AdminClient keeps asking it (it caches the coordinator), so each try uses a new
    client, until the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        try:
            described = admin.describe_consumer_groups([group], request_timeout=10)[group]
            return int(described.result(15).coordinator.id)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_lag_is_end_minus_committed(cluster: LocalCluster) -> None:
    topic = cluster.create_topic(partitions=3, replication=3)
    producer = Producer({"bootstrap.servers": cluster.bootstrap})
    for p in range(3):
        for _ in range(10):
            producer.produce(topic, b"x", partition=p)
    assert producer.flush(30) == 0
    group = f"lag-{topic}"
    _committed_group(cluster, topic, group, 4)
    reader = LagReader(cluster.admin, {"bootstrap.servers": cluster.bootstrap})
    try:
        lags = consumer_lag(reader)
    finally:
        reader.close()
    (mine,) = [lag for lag in lags if lag.group == group]
    assert (mine.topic, mine.lag, mine.partitions) == (topic, 3 * (10 - 4), 3)
    assert mine.seconds >= 0.0  # the age of the oldest of them


def test_lag_reads_survive_coordinator_kills(cluster: LocalCluster, tmp_path: Path) -> None:
    spec, dist = cluster.spec, cluster.dist
    assert spec is not None and dist is not None
    topic = cluster.create_topic(partitions=3, replication=3)
    groups = [f"failover-{topic}-{i}" for i in range(4)]
    for group in groups:
        _committed_group(cluster, topic, group, 0)
    log_path = tmp_path / "poller.log"
    with log_path.open("wb") as log:
        poller = subprocess.Popen(
            [sys.executable, "-c", POLLER, cluster.bootstrap], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(KILLS):
            _wait_lines(log_path, "ok", poller)
            victim = _coordinator(cluster.bootstrap, groups[0])
            cluster.kill(victim)
            restart_dead_nodes(dist, spec)
            wait_ready(spec, 120)
            assert poller.poll() is None, log_path.read_text(errors="replace")[-3000:]
        _wait_lines(log_path, "ok", poller)  # and it still answers after the last failover
    finally:
        poller.kill()
        poller.wait(10)
    assert poller.returncode == -9  # killed by us, not by librdkafka


def _wait_lines(path: Path, word: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Block until the poller prints ``word`` once more than now."""
    seen = path.read_text(errors="replace").split().count(word)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, path.read_text(errors="replace")[-3000:]
        if path.read_text(errors="replace").split().count(word) > seen:
            return
        time.sleep(0.1)
    raise AssertionError(f"the lag poller printed no new {word!r} in {timeout:.0f}s")
