"""kill -9 analytics mid-stream and restart it: no window counted twice, none missing."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import pytest
from tests.integration.analytics.support import (
    OrderFeed,
    StatsReader,
    assert_exact,
    create_topics,
    expected_windows,
    start_analytics,
)

from orderstream.config import Settings
from orderstream.serde import EventSerde
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration


def test_kill_9_mid_stream_then_restart_keeps_windows_exact(
    kafka_cluster: LocalCluster,
    analytics_settings: Settings,
    serde: EventSerde,
    tmp_path: Path,
) -> None:
    topics = create_topics(kafka_cluster)
    feed = OrderFeed(analytics_settings, topics, serde)
    reader = StatsReader(analytics_settings, topics, serde)
    first = start_analytics(analytics_settings, topics, tmp_path)
    second = None
    try:
        first.wait_ready()
        producing = threading.Thread(target=feed.produce, args=(12_000, 3_000.0))
        producing.start()
        reader.wait_for(6, 60, first)  # windows are closing: we are mid-stream
        first.kill()
        assert feed.sent < 12_000, "the load ended before the kill: not mid-stream"
        second = start_analytics(analytics_settings, topics, tmp_path)
        producing.join(60)
        feed.close_windows()
        expected = expected_windows(analytics_settings, topics, serde)
        stats = reader.wait_for(len(expected.closed), 120, second)
        assert_exact(expected, stats)
        assert sum(s.orders for s in stats) + len(expected.late_ids) == 12_000
        # The anomaly models came back from their store snapshots, not from scratch.
        metrics = httpx.get(second.url + "/metrics", timeout=5).text
        restores = re.search(r"^analytics_model_restores_total (\S+)$", metrics, re.M)
        assert restores is not None and float(restores.group(1)) >= 1, metrics[-500:]
    finally:
        first.stop()
        if second is not None:
            second.stop()
        reader.close()


def test_two_instances_one_killed_the_other_takes_over_exactly(
    kafka_cluster: LocalCluster,
    analytics_settings: Settings,
    serde: EventSerde,
    tmp_path: Path,
) -> None:
    """Windows are per partition, so instances split the work; a survivor restores the
    dead one's partitions from the changelog and closes their windows exactly once."""
    topics = create_topics(kafka_cluster)
    feed = OrderFeed(analytics_settings, topics, serde)
    reader = StatsReader(analytics_settings, topics, serde)
    survivor = start_analytics(analytics_settings, topics, tmp_path, instance_id="0")
    victim = start_analytics(analytics_settings, topics, tmp_path, instance_id="1")
    try:
        survivor.wait_ready()
        victim.wait_ready()
        producing = threading.Thread(target=feed.produce, args=(12_000, 3_000.0))
        producing.start()
        reader.wait_for(6, 60, survivor)
        victim.kill()
        assert feed.sent < 12_000, "the load ended before the kill: not mid-stream"
        producing.join(60)
        feed.close_windows()
        expected = expected_windows(analytics_settings, topics, serde)
        stats = reader.wait_for(len(expected.closed), 120, survivor)
        assert_exact(expected, stats)
    finally:
        survivor.stop()
        victim.stop()
        reader.close()
