"""`orderstream topics describe` on the real 3-node cluster: leader, replicas and ISR of each
partition, as JSON and as a table; an unknown topic is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from orderstream.testing.cluster import LocalCluster, wait_for_topic_leaders

pytestmark = pytest.mark.integration


def _cli(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
    env["ORDERSTREAM_BOOTSTRAP_SERVERS"] = cluster.bootstrap
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "topics", "describe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait_full_isr(cluster: LocalCluster, topic: str, timeout_s: float = 90.0) -> None:
    """A node that an earlier fault test restarted may still be catching up: it joins the ISR
    of a new topic only once it has, so wait for that before asking for a full ISR."""
    deadline = time.monotonic() + timeout_s
    while True:
        parts = cluster.admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
        if all(len(p.isrs) == len(p.replicas) for p in parts):
            return
        assert time.monotonic() < deadline, f"{topic}: ISR not full after {timeout_s:.0f}s"
        time.sleep(0.2)


def test_describe_shows_leader_replicas_and_isr(healthy_cluster3: LocalCluster) -> None:
    kafka_cluster3 = healthy_cluster3
    topic = kafka_cluster3.create_topic(partitions=3, replication=3)
    wait_for_topic_leaders(kafka_cluster3.admin, topic)
    _wait_full_isr(kafka_cluster3, topic)
    done = _cli(kafka_cluster3, topic, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["partition"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert row["topic"] == topic
        assert sorted(row["replicas"]) == [1, 2, 3]
        assert row["leader"] in row["replicas"]
        assert sorted(row["isr"]) == [1, 2, 3]
        assert (row["under_replicated"], row["offline"]) == (False, False)
    table = _cli(kafka_cluster3, topic)
    assert table.returncode == 0, table.stderr
    assert "3 partition(s) in 1 topic(s): 0 under-replicated" in table.stdout
    assert table.stdout.count(topic) >= 3


def test_unknown_topic_is_one_clear_error(kafka_cluster3: LocalCluster) -> None:
    done = _cli(kafka_cluster3, "no-such-topic")
    assert done.returncode == 1
    assert "no-such-topic" in done.stderr and "topics list" in done.stderr
    assert "Traceback" not in done.stderr
