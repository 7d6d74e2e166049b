"""The analytics events (Avro ``OrderStats`` and ``OrderAlert``) and how they are built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderstream.naming import prefixed
from orderstream.serde import EnrichedOrder, avro_event
from orderstream.serde.events import to_record
from orderstream.services.analytics.latency import LatencySketch
from orderstream.services.analytics.model import Verdict
from orderstream.services.analytics.windows import OrderFacts, WindowAggregate
from orderstream.services.topics import ENRICHED_ORDERS, PAYMENTS_COMPLETED, PAYMENTS_FAILED

ORDER_STATS = "order-stats"
ORDER_ALERTS = "order-alerts"
LATE_ORDERS = "enriched-orders.late"
STATE_CHANGELOG = "analytics-state-changelog"
# The payment tallies, one store per input topic (a store follows one source topic's partitions).
PAID_CHANGELOG = "analytics-paid-changelog"
FAILED_CHANGELOG = "analytics-failed-changelog"
MODEL_NAME = "river.anomaly.HalfSpaceTrees"
APP_ID = "analytics"  # consumer group and transactional.id prefix


# AnalyticsTopics' attributes: each is the prefix plus one of these topics.
_TOPICS = {
    "enriched": ENRICHED_ORDERS,
    "stats": ORDER_STATS,
    "alerts": ORDER_ALERTS,
    "late": LATE_ORDERS,
    "changelog": STATE_CHANGELOG,
    "paid": PAYMENTS_COMPLETED,
    "failed": PAYMENTS_FAILED,
    "paid_changelog": PAID_CHANGELOG,
    "failed_changelog": FAILED_CHANGELOG,
}


@dataclass(frozen=True)
class AnalyticsTopics:
    """The topics analytics reads and writes; a prefix isolates test runs on a shared broker."""

    prefix: str = ""
    enriched: str = field(init=False)
    stats: str = field(init=False)
    alerts: str = field(init=False)
    late: str = field(init=False)
    changelog: str = field(init=False)
    paid: str = field(init=False)
    failed: str = field(init=False)
    paid_changelog: str = field(init=False)
    failed_changelog: str = field(init=False)

    def __post_init__(self) -> None:
        for name, topic in _TOPICS.items():
            object.__setattr__(self, name, prefixed(self.prefix, topic))

    def payment_topics(self) -> tuple[str, ...]:
        """The payment inputs, their DLQs and the tallies' changelogs (all partitioned)."""
        return (self.paid, self.failed, self.paid_changelog, self.failed_changelog)

    def all(self) -> tuple[str, ...]:
        return (
            self.enriched, self.stats, self.alerts, self.late, self.changelog,
            *self.payment_topics(), self.paid + ".dlq", self.failed + ".dlq",
        )  # fmt: skip


# the totals a window's record and its aggregate share, under the same names (the maps copied)
_COUNTS = ("orders", "reserved", "rejected", "revenue_cents")
_MAPS = ("revenue_by_category", "product_orders")


def _copied_totals(source: OrderStats | WindowAggregate) -> dict[str, Any]:
    totals: dict[str, Any] = {name: getattr(source, name) for name in _COUNTS}
    totals.update((name, dict(getattr(source, name))) for name in _MAPS)
    return totals


@avro_event
class OrderStats:
    """One closed window of one enriched-orders partition (topic ``order-stats``)."""

    window_start: int
    window_end: int
    partition: int
    orders: int
    reserved: int
    rejected: int
    revenue_cents: int
    revenue_by_category: dict[str, int]
    product_orders: dict[str, int]
    top_products: list[dict[str, Any]]  # [{"productId": ..., "orders": ...}]
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    latency_max_ms: int
    latency_buckets: dict[str, int]
    closed_at: int

    @property
    def key(self) -> bytes:
        return stats_key(self.window_start, self.partition)

    def aggregate(self) -> WindowAggregate:
        """The window aggregate this record carries (to merge partitions or compare)."""
        return WindowAggregate(
            start_ms=self.window_start,
            end_ms=self.window_end,
            **_copied_totals(self),
            latency=LatencySketch(
                {int(k): int(v) for k, v in self.latency_buckets.items()}, self.latency_max_ms
            ),
        )


@avro_event
class OrderAlert:
    """An order the anomaly model flagged (topic ``order-alerts``, key orderId)."""

    order_id: str
    customer_id: str
    product_id: str
    category: str
    quantity: int
    amount_cents: int
    status: str
    score: float
    threshold: float
    model: str
    reason: str
    order_timestamp: int
    detected_at: int


def stats_key(window_start: int, partition: int) -> bytes:
    return f"{window_start}-{partition}".encode()


def facts_of(order: EnrichedOrder) -> OrderFacts:
    return facts_of_fields(to_record(order))


def facts_of_fields(fields: dict[str, Any]) -> OrderFacts:
    """``facts_of`` straight from a decoded EnrichedOrder record (``EventSerde.decode_fields``)."""
    return OrderFacts(
        fields["orderId"],
        fields["customerId"],
        fields["productId"],
        fields["category"],
        fields["status"],
        fields["quantity"],
        fields["amountCents"],
        fields["timestamp"],
        fields["enrichedAt"],
    )


def stats_of(window: WindowAggregate, partition: int, closed_at: int) -> OrderStats:
    latency = window.latency
    return OrderStats(
        window_start=window.start_ms,
        window_end=window.end_ms,
        partition=partition,
        **_copied_totals(window),
        top_products=[{"productId": p, "orders": n} for p, n in window.top_products()],
        latency_p50_ms=latency.percentile(0.50),
        latency_p95_ms=latency.percentile(0.95),
        latency_p99_ms=latency.percentile(0.99),
        latency_max_ms=latency.max_ms,
        latency_buckets={str(k): v for k, v in latency.buckets.items()},
        closed_at=closed_at,
    )


# the order's own facts an alert repeats, under the same names in OrderFacts and OrderAlert
_ALERTED_FACTS = ("order_id", "customer_id", "product_id", "category", "quantity", "amount_cents")


def alert_of(order: OrderFacts, verdict: Verdict, threshold: float, detected_at: int) -> OrderAlert:
    facts = order._asdict()
    return OrderAlert(
        **{name: facts[name] for name in _ALERTED_FACTS},
        status=order.status,
        score=round(verdict.score, 6),
        threshold=threshold,
        model=MODEL_NAME,
        reason=verdict.reason,
        order_timestamp=order.timestamp_ms,
        detected_at=detected_at,
    )
