"""The analytics processor: enriched orders -> windows, late orders, anomaly alerts.

Per record (inside the runtime's transaction): decode, then either count the order in its
event-time window or, when that window has closed, copy it to ``enriched-orders.late``; then let
the anomaly model score it and emit an ``OrderAlert`` above the threshold.

Per commit cycle (``punctuate``, same transaction): advance the stream time of idle partitions,
close due windows and emit one ``OrderStats`` per (window, partition), snapshot the models every
few seconds, refresh the live view. Closed windows are deleted from the store in the same
transaction that emits them, so each is emitted exactly once.

The model is the one approximate part: a new model is snapshotted at its first commit, then
every ``model_snapshot_ms``; after a crash it resumes from its last snapshot and has not learnt
the orders since. Its alerts are still emitted inside the transaction: none is lost or doubled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import Counter, Histogram

from orderstream.runtime.api import ProcessorContext, PunctuateContext, Record, StoreSpec
from orderstream.runtime.tracing import Causes
from orderstream.serde import EnrichedOrder, EventSerde
from orderstream.serde.events import from_record
from orderstream.services.analytics.events import (
    AnalyticsTopics,
    OrderAlert,
    alert_of,
    facts_of_fields,
    stats_of,
)
from orderstream.services.analytics.live import LiveView
from orderstream.services.analytics.model import AnomalyModel, ModelConfig, tree_builder
from orderstream.services.analytics.payments import (
    FAILED_STORE,
    PAID_STORE,
    count_payment,
    payment_stores,
    tallies,
)
from orderstream.services.analytics.store import MODEL, PartitionWindows
from orderstream.services.analytics.windows import WindowAggregate, WindowSpec
from orderstream.state.store import KeyValueStore
from orderstream.tracing import active_tracer

logger = logging.getLogger(__name__)

STORE = "analytics-state"
# Headers of a record in enriched-orders.late: where it came from, and the stream time that
# made it late.
H_SOURCE_TOPIC = "late.source.topic"
H_SOURCE_PARTITION = "late.source.partition"
H_SOURCE_OFFSET = "late.source.offset"
H_STREAM_TIME = "late.stream-time"

LATE_ORDERS_TOTAL = Counter(
    "analytics_late_orders_total", "Orders later than their window's grace, sent to the late topic"
)
ALERTS_TOTAL = Counter("analytics_alerts_total", "Orders the anomaly model flagged")
MODEL_RESTORES_TOTAL = Counter(
    "analytics_model_restores_total", "Anomaly models restored from a store snapshot"
)
WINDOWS_CLOSED_TOTAL = Counter("analytics_windows_closed_total", "(window, partition) closed")
CLOSE_DELAY = Histogram(
    "analytics_window_close_delay_seconds",
    "Wall clock from window end + grace to the window's emission",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)


@dataclass(frozen=True)
class AnalyticsOptions:
    """Windows, model and timing of the analytics processor."""

    window: WindowSpec = field(default_factory=WindowSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    # Close windows of a partition that saw no order for this long (stream time then follows
    # the wall clock); None: stream time moves only with orders.
    idle_close_ms: int | None = 5_000
    model_snapshot_ms: int = 5_000
    topics: AnalyticsTopics = field(default_factory=AnalyticsTopics)
    # Where the dashboard reads the payment circuit's state (payments' /metrics); "": nowhere,
    # the dashboard shows it as unknown.
    payments_metrics_url: str = "http://127.0.0.1:8092/metrics"


class AnalyticsProcessor:
    """A runtime ``Processor`` with ``punctuate``; state lives in the ``analytics-state`` store."""

    def __init__(
        self,
        serde: EventSerde,
        options: AnalyticsOptions | None = None,
        live: LiveView | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        tree_builder()  # the model's library is loaded now, not in the first transaction
        self.serde = serde
        self.options = options or AnalyticsOptions()
        self.live = live or LiveView(self.options.window)
        self._clock = clock
        self.topics = topics = self.options.topics
        self.input_topics: tuple[str, ...] = (topics.enriched, topics.paid, topics.failed)
        self.stores: tuple[StoreSpec, ...] = (
            StoreSpec(STORE, topics.changelog, topics.enriched),
            *payment_stores(topics),
        )
        self._windows: dict[int, PartitionWindows] = {}
        self._models: dict[int, AnomalyModel] = {}
        self._snapshotted: dict[int, int] = {}  # partition -> model.seen at the last snapshot
        self._last_order_at: dict[int, float] = {}
        self._next_snapshot = 0.0
        # Tracing on: each window's stats continue the trace of a sampled order counted in it.
        self._causes = Causes() if active_tracer() is not None else None

    # -- per record ----------------------------------------------------------------------------
    def process(self, record: Record, ctx: ProcessorContext) -> None:
        event_type, fields = self.serde.decode_fields(record.value)
        if event_type is not EnrichedOrder:
            count_payment(record, from_record(event_type, fields), self.topics, ctx.store)
            return
        order = facts_of_fields(fields)
        store = ctx.store(STORE)
        windows = self._partition_windows(record.partition)
        self._last_order_at[record.partition] = self._clock()
        if windows.add(store, order):
            if self._causes is not None:
                self._causes.note((record.partition, windows.spec.start_of(order.timestamp_ms)))
        else:
            windows.count_late(store)
            ctx.emit(
                self.topics.late, record.key, record.value, _late_headers(record, windows, store)
            )
            LATE_ORDERS_TOTAL.inc()
        self.live.order_seen()
        verdict = self._model(record.partition, store).observe(order)
        if verdict.is_anomaly:
            alert = alert_of(order, verdict, self.options.model.threshold, self._now_ms())
            value = self.serde.encode(self.topics.alerts, alert)
            ctx.emit(self.topics.alerts, order.order_id.encode(), value)
            self._alerted(alert)

    def _alerted(self, alert: OrderAlert) -> None:
        ALERTS_TOTAL.inc()
        self.live.alert(alert)

    # -- per commit cycle ----------------------------------------------------------------------
    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None:
        stores = ctx.stores(STORE)
        self._forget_revoked(set(stores))
        snapshot_models = self._clock() >= self._next_snapshot
        for partition, store in sorted(stores.items()):
            windows = self._partition_windows(partition)
            self._advance_if_idle(partition, windows, store, now_ms)
            for window in windows.close_due(store):
                stats = stats_of(window, partition, now_ms)
                value = self.serde.encode(self.topics.stats, stats)
                ctx.emit(self.topics.stats, stats.key, value, **self._caused(partition, window))
                WINDOWS_CLOSED_TOTAL.inc()
                delay_ms = now_ms - self.options.window.closes_at(window.start_ms)
                CLOSE_DELAY.observe(max(delay_ms, 0) / 1000)
                self.live.window_closed(partition, window)
            # A new model is snapshotted as soon as it has learnt anything, then on the timer.
            if snapshot_models or self._snapshotted.get(partition) == 0:
                self._snapshot_model(partition, store)
            open_windows = {
                s: w for s in windows.open_starts(store) if (w := windows.window(store, s))
            }
            self.live.partition_state(partition, windows.totals(store), open_windows)
        if snapshot_models:
            self._next_snapshot = self._clock() + self.options.model_snapshot_ms / 1000
        self.live.payment_state(tallies(ctx.stores(PAID_STORE)), tallies(ctx.stores(FAILED_STORE)))
        self.live.cycle_done()

    def _caused(self, partition: int, window: WindowAggregate) -> dict[str, Any]:
        """``caused_by`` for a window's stats when tracing is on; none otherwise, so that any
        PunctuateContext serves when it is off."""
        if self._causes is None:
            return {}
        return {"caused_by": self._causes.pop((partition, window.start_ms))}

    def _advance_if_idle(
        self, partition: int, windows: PartitionWindows, store: KeyValueStore, now_ms: int
    ) -> None:
        idle_ms = self.options.idle_close_ms
        if idle_ms is None:
            return
        last = self._last_order_at.setdefault(partition, self._clock())
        if (self._clock() - last) * 1000 < idle_ms:
            return
        target = now_ms - idle_ms
        spec = self.options.window
        # Only write when it closes something: an idle partition costs no changelog traffic.
        if any(spec.is_closed(s, target) for s in windows.open_starts(store)):
            windows.advance(store, target)

    # -- state per partition -------------------------------------------------------------------
    def _partition_windows(self, partition: int) -> PartitionWindows:
        windows = self._windows.get(partition)
        if windows is None:
            windows = self._windows[partition] = PartitionWindows(self.options.window)
        return windows

    def _model(self, partition: int, store: KeyValueStore) -> AnomalyModel:
        model = self._models.get(partition)
        if model is None:
            raw = store.get(MODEL)
            if raw:
                # The learnt trees come from the snapshot; the threshold is today's setting.
                model = AnomalyModel.from_bytes(raw)
                model.config = replace(model.config, threshold=self.options.model.threshold)
                MODEL_RESTORES_TOTAL.inc()
            else:
                model = AnomalyModel(self.options.model)
            self._models[partition] = model
            self._snapshotted[partition] = model.seen
            logger.info(
                "anomaly model ready",
                extra={"partition": partition, "restored": raw is not None, "seen": model.seen},
            )
        return model

    def _snapshot_model(self, partition: int, store: KeyValueStore) -> None:
        model = self._models.get(partition)
        if model is not None and model.seen != self._snapshotted.get(partition):
            store.put(MODEL, model.to_bytes())
            self._snapshotted[partition] = model.seen

    def _forget_revoked(self, assigned: set[int]) -> None:
        """Drop in-memory state of partitions this instance no longer owns."""
        for partition in set(self._models) - assigned:
            del self._models[partition]
            self._snapshotted.pop(partition, None)
        for partition in set(self._windows) - assigned:
            del self._windows[partition]
            self._last_order_at.pop(partition, None)
        self.live.partitions_revoked(assigned)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _late_headers(
    record: Record, windows: PartitionWindows, store: KeyValueStore
) -> list[tuple[str, bytes]]:
    stream_time = windows.stream_time(store)
    return [
        *record.headers,
        (H_SOURCE_TOPIC, record.topic.encode()),
        (H_SOURCE_PARTITION, str(record.partition).encode()),
        (H_SOURCE_OFFSET, str(record.offset).encode()),
        (H_STREAM_TIME, str(stream_time).encode()),
    ]
