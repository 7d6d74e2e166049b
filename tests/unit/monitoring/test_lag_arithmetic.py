"""Lag arithmetic: records and seconds per partition, a trailing commit marker is not lag."""

from __future__ import annotations

from orderstream.monitoring.lag import Head, PartitionLag, lag_of
from orderstream.monitoring.lag_exporter import metric_families

NOW = 1_000_000


def test_idle_group_after_a_transactional_commit_has_no_lag() -> None:
    # records 0..9, commit marker at 10, LSO 11; the group committed 10 (the marker's offset)
    assert lag_of(10, 11, None, tail_is_marker=True, now_ms=NOW) == (0, 0.0)


def test_backlog_counts_real_records_and_the_oldest_ones_age() -> None:
    # committed 4, records 4..9, marker at 10: six records, the one at 4 is 7.5 s old
    assert lag_of(4, 11, Head(4, NOW - 7500), tail_is_marker=True, now_ms=NOW) == (6, 7.5)


def test_plain_topic_without_markers() -> None:
    assert lag_of(4, 10, Head(4, NOW - 2000), tail_is_marker=False, now_ms=NOW) == (6, 2.0)


def test_a_marker_before_the_first_unread_record_is_skipped() -> None:
    # committed 10 is a marker; the next transaction's records are 11..14, LSO 15
    assert lag_of(10, 15, Head(11, NOW - 1000), tail_is_marker=False, now_ms=NOW) == (4, 1.0)


def test_caught_up_and_clock_skew_never_go_negative() -> None:
    assert lag_of(12, 12, Head(11, NOW), tail_is_marker=False, now_ms=NOW) == (0, 0.0)
    assert lag_of(3, 5, Head(3, NOW + 5000), tail_is_marker=False, now_ms=NOW) == (2, 0.0)


def test_gauges_carry_kafka_lag_exporter_names_and_aggregates() -> None:
    lags = [
        PartitionLag("g", "orders", 0, 4, 11, 6, 7.5),
        PartitionLag("g", "orders", 1, 9, 9, 0, 0.0),
        PartitionLag("h", "orders", 0, 10, 11, 0, 0.0),
    ]
    families = {f.name: f for f in metric_families(lags, "c", 12.0)}
    samples = {
        (f.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    part0 = (("cluster_name", "c"), ("group", "g"), ("partition", "0"), ("topic", "orders"))
    assert samples[("kafka_consumergroup_group_lag", part0)] == 6
    assert samples[("kafka_consumergroup_group_lag_seconds", part0)] == 7.5
    assert samples[("kafka_consumergroup_group_offset", part0)] == 4
    group_g = (("cluster_name", "c"), ("group", "g"))
    assert samples[("kafka_consumergroup_group_max_lag_seconds", group_g)] == 7.5
    assert samples[("kafka_consumergroup_group_sum_lag", group_g)] == 6
    assert (
        samples[("kafka_consumergroup_group_max_lag", (("cluster_name", "c"), ("group", "h")))] == 0
    )
    latest = families["kafka_partition_latest_offset"].samples
    assert len(latest) == 2  # one per partition, not per group
