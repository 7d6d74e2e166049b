"""Prometheus metrics of one processing loop, in its own registry.

Per-record counts are kept in plain ints on the hot path and added to the counters once per
commit cycle (``flush_counts``), so that metrics cost nothing per record.
"""

from __future__ import annotations

from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class RuntimeMetrics:
    """The runtime's metrics: records, DLQ, transactions, restore progress, lag."""

    def __init__(self, app_id: str, instance_id: str) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, registry=reg)

        self.records_in = counter("orderstream_records_in", "Records consumed and processed")
        self.records_out = counter("orderstream_records_out", "Records emitted by the processor")
        self.dlq_records = counter("orderstream_dlq_records", "Records routed to a DLQ topic")
        self.txn_commits = counter("orderstream_txn_commits", "Committed transactions (cycles)")
        self.txn_aborts = counter("orderstream_txn_aborts", "Aborted transactions")
        self.partitions_lost = counter(
            "orderstream_partitions_lost", "Partitions lost (session timed out: fenced)"
        )
        self.backpressure_pauses = counter(
            "orderstream_backpressure_pauses", "Times input was paused for the producer to drain"
        )
        self.task_migrations = counter(
            "orderstream_task_migrations", "Fenced or fatal errors that rebuilt the runtime"
        )
        self.commit_latency = Histogram(
            "orderstream_commit_latency_seconds",
            "Time to commit one cycle (changelog flush, offsets, commit)",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.restored_records = counter(
            "orderstream_restored_records", "Changelog records replayed into stores"
        )
        self.restore_remaining = Gauge(
            "orderstream_restore_remaining_records",
            "Changelog records still to replay",
            ["store", "partition"],
            registry=reg,
        )
        self.assigned_partitions = Gauge(
            "orderstream_assigned_partitions", "Input partitions assigned", registry=reg
        )
        self.lag = Gauge(
            "orderstream_consumer_lag_records",
            "Records behind the end of the input partition",
            ["topic", "partition"],
            registry=reg,
        )
        self.dropped_outputs = counter(
            "orderstream_dropped_outputs",
            "Punctuation outputs or DLQ copies dropped because they were over the size limit",
        )
        # Why each transaction was aborted, newest last (the last 100): says what caused an
        # abort without reading the logs.
        self.abort_reasons: deque[str] = deque(maxlen=100)
        # Who these metrics are from: one info series, so the others keep their label sets.
        Gauge(
            "orderstream_runtime_info",
            "The app and instance of this processing loop (always 1)",
            ["app_id", "instance_id"],
            registry=reg,
        ).labels(app_id, instance_id).set(1)
        self.pending_in = 0
        self.pending_out = 0
        self.pending_dlq = 0

    def forget_partition(self, topic: str, partition: int) -> None:
        """Remove the series of a partition that is no longer ours (its lag would go stale)."""
        self.lag.remove(topic, str(partition))  # a no-op when none was reported yet

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of one exported sample, e.g. ``orderstream_txn_aborts_total``."""
        value = self.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value

    def aborted(self, reason: str) -> None:
        """A transaction was aborted: count it, and forget its uncommitted counts."""
        self.txn_aborts.inc()
        self.abort_reasons.append(reason)
        self.pending_in = self.pending_out = self.pending_dlq = 0

    def commit_done(self, seconds: float) -> None:
        self.txn_commits.inc()
        self.commit_latency.observe(seconds)
        self.flush_counts()

    def flush_counts(self) -> None:
        if self.pending_in:
            self.records_in.inc(self.pending_in)
            self.pending_in = 0
        if self.pending_out:
            self.records_out.inc(self.pending_out)
            self.pending_out = 0
        if self.pending_dlq:
            self.dlq_records.inc(self.pending_dlq)
            self.pending_dlq = 0
