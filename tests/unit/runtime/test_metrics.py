"""Runtime metrics: aborted work is not counted, revoked partitions leave no lag series, and
the series say which app and instance they are from."""

from __future__ import annotations

from orderstream.runtime.metrics import RuntimeMetrics


def test_an_abort_forgets_the_counts_of_the_aborted_transaction() -> None:
    m = RuntimeMetrics("app", "a")
    m.pending_in, m.pending_out, m.pending_dlq = 10, 12, 1
    m.aborted("injected")
    m.pending_in = 3
    m.commit_done(0.01)
    assert m.sample("orderstream_records_in_total") == 3
    assert m.sample("orderstream_records_out_total") == 0
    assert m.sample("orderstream_dlq_records_total") == 0
    assert m.sample("orderstream_txn_aborts_total") == 1
    assert list(m.abort_reasons) == ["injected"]


def test_a_partition_given_up_leaves_no_lag_series() -> None:
    m = RuntimeMetrics("app", "a")
    m.lag.labels("orders", "0").set(5)
    m.lag.labels("orders", "1").set(7)
    m.forget_partition("orders", 0)
    m.forget_partition("orders", 3)  # never reported: nothing to remove
    assert m.sample("orderstream_consumer_lag_records", {"topic": "orders", "partition": "0"}) == 0
    lag = {"topic": "orders", "partition": "1"}
    assert m.registry.get_sample_value("orderstream_consumer_lag_records", lag) == 7
    assert (
        m.registry.get_sample_value(
            "orderstream_consumer_lag_records", {"topic": "orders", "partition": "0"}
        )
        is None
    )


def test_the_series_name_their_app_and_instance() -> None:
    m = RuntimeMetrics("enrichment", "b")
    labels = {"app_id": "enrichment", "instance_id": "b"}
    assert m.sample("orderstream_runtime_info", labels) == 1
