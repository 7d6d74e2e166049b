"""20k enriched orders through the real analytics process: closed windows are exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.analytics.support import (
    OrderFeed,
    StatsReader,
    assert_exact,
    create_topics,
    expected_windows,
    running_analytics,
)

from orderstream.config import Settings
from orderstream.ops.topics_reader import read_topic
from orderstream.serde import EventSerde
from orderstream.services.analytics.audit import audit_from_records, committed_offsets
from orderstream.testing.cluster import LocalCluster

pytestmark = pytest.mark.integration


def test_window_totals_equal_totals_recomputed_from_enriched_orders(
    kafka_cluster: LocalCluster,
    analytics_settings: Settings,
    serde: EventSerde,
    tmp_path: Path,
) -> None:
    topics = create_topics(kafka_cluster)
    feed = OrderFeed(analytics_settings, topics, serde)
    with running_analytics(analytics_settings, topics, tmp_path) as analytics:
        feed.produce(20_000)
        feed.close_windows()
        expected = expected_windows(analytics_settings, topics, serde)
        reader = StatsReader(analytics_settings, topics, serde)
        try:
            stats = reader.wait_for(len(expected.closed), 120, analytics)
        finally:
            reader.close()
        assert_exact(expected, stats)
        assert sum(s.orders for s in stats) + len(expected.late_ids) == 20_000

        late = [serde.decode(r.value) for r in read_topic(analytics_settings, topics.late)]
        assert {o.order_id for o in late} == expected.late_ids
        assert len(expected.late_ids) >= 15  # every 997th order is 5 s late

        alerts = [serde.decode(r.value) for r in read_topic(analytics_settings, topics.alerts)]
        flagged = {a.order_id for a in alerts}
        assert set(feed.outliers) <= flagged, (feed.outliers, len(alerts))
        assert len(alerts) <= 20_000 // 100  # at most 1% false alarms

        # The audit's invariant 3 agrees.
        group = topics.prefix + "analytics"
        committed = committed_offsets(analytics_settings, group, topics.enriched)
        verdict = audit_from_records(
            serde,
            read_topic(analytics_settings, topics.enriched),
            read_topic(analytics_settings, topics.late),
            read_topic(analytics_settings, topics.stats),
            committed,
        )
        assert verdict.ok, verdict.summary()
        assert verdict.orders_in_windows == sum(s.orders for s in stats)
