"""Event-time tumbling windows over enriched orders: pure logic, no Kafka.

A window ``[start, start + size)`` holds the orders whose order timestamp falls in it. Each input
partition keeps its own *stream time*, the largest order timestamp it has seen. The window closes
once stream time reaches ``end + grace``; an order whose window has closed is *late*: it is
counted apart and written to ``enriched-orders.late``, never added to a closed window. Closing and
lateness use the same test (:meth:`WindowSpec.is_closed`), so an order is in exactly one of the
two places.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orderstream.errors import ConfigError
from orderstream.services.analytics.latency import LatencySketch

RESERVED = "RESERVED"
REJECTED = "REJECTED"
TOP_PRODUCTS = 5


@dataclass(frozen=True)
class WindowSpec:
    """Window size and grace period, in milliseconds."""

    size_ms: int = 10_000
    grace_ms: int = 2_000

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise ConfigError(f"window size must be positive, got {self.size_ms} ms")
        if self.grace_ms < 0:
            raise ConfigError(f"window grace must not be negative, got {self.grace_ms} ms")

    def start_of(self, timestamp_ms: int) -> int:
        """The start of the window holding ``timestamp_ms`` (floor, also for negative times)."""
        return timestamp_ms - timestamp_ms % self.size_ms

    def end_of(self, start_ms: int) -> int:
        return start_ms + self.size_ms

    def closes_at(self, start_ms: int) -> int:
        """The stream time at which the window starting at ``start_ms`` closes."""
        return start_ms + self.size_ms + self.grace_ms

    def is_closed(self, start_ms: int, stream_time_ms: int) -> bool:
        return stream_time_ms >= self.closes_at(start_ms)

    def is_late(self, timestamp_ms: int, stream_time_ms: int) -> bool:
        """True when the order's window has already closed at this stream time."""
        return self.is_closed(self.start_of(timestamp_ms), stream_time_ms)


class OrderFacts(NamedTuple):
    """What windows and the anomaly model need from one EnrichedOrder.

    A named tuple, not a frozen dataclass: one is built per order, and a tuple costs a fifth.
    """

    order_id: str
    customer_id: str
    product_id: str
    category: str
    status: str
    quantity: int
    amount_cents: int
    timestamp_ms: int
    enriched_at_ms: int

    @property
    def latency_ms(self) -> int:
        """End-to-end latency: order timestamp to enrichment."""
        return self.enriched_at_ms - self.timestamp_ms


@dataclass
class WindowAggregate:
    """The running totals of one window (of one partition, or merged over partitions)."""

    start_ms: int
    end_ms: int
    orders: int = 0
    reserved: int = 0
    rejected: int = 0
    revenue_cents: int = 0
    revenue_by_category: dict[str, int] = field(default_factory=dict)
    product_orders: dict[str, int] = field(default_factory=dict)
    latency: LatencySketch = field(default_factory=LatencySketch)

    def add(self, order: OrderFacts) -> int:
        """Count one order; revenue counts RESERVED orders only. Returns the latency bucket."""
        self.orders += 1
        if order.status == RESERVED:
            self.reserved += 1
            self.revenue_cents += order.amount_cents
            cat = self.revenue_by_category
            cat[order.category] = cat.get(order.category, 0) + order.amount_cents
        elif order.status == REJECTED:
            self.rejected += 1
        self.product_orders[order.product_id] = self.product_orders.get(order.product_id, 0) + 1
        return self.latency.add(order.latency_ms)

    def merge(self, other: WindowAggregate) -> WindowAggregate:
        """The aggregate of both (same window, e.g. two partitions); neither is changed."""
        if (self.start_ms, self.end_ms) != (other.start_ms, other.end_ms):
            raise ValueError(
                f"cannot merge window [{self.start_ms}, {self.end_ms}) "
                f"with [{other.start_ms}, {other.end_ms})"
            )
        return WindowAggregate(
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            orders=self.orders + other.orders,
            reserved=self.reserved + other.reserved,
            rejected=self.rejected + other.rejected,
            revenue_cents=self.revenue_cents + other.revenue_cents,
            revenue_by_category=_add_counts(self.revenue_by_category, other.revenue_by_category),
            product_orders=_add_counts(self.product_orders, other.product_orders),
            latency=self.latency.merge(other.latency),
        )

    def top_products(self, n: int = TOP_PRODUCTS) -> list[tuple[str, int]]:
        """The ``n`` most ordered products, ties broken by product id."""
        return heapq.nsmallest(n, self.product_orders.items(), key=lambda kv: (-kv[1], kv[0]))

    def core_json(self) -> dict[str, Any]:
        """Everything but the product counts (those are stored under their own keys)."""
        return {
            "s": self.start_ms,
            "e": self.end_ms,
            "n": self.orders,
            "ok": self.reserved,
            "no": self.rejected,
            "rev": self.revenue_cents,
            "cat": self.revenue_by_category,
            "lat": self.latency.to_json(),
        }

    @classmethod
    def from_core_json(cls, data: Mapping[str, Any]) -> WindowAggregate:
        return cls(
            start_ms=int(data["s"]),
            end_ms=int(data["e"]),
            orders=int(data["n"]),
            reserved=int(data["ok"]),
            rejected=int(data["no"]),
            revenue_cents=int(data["rev"]),
            revenue_by_category={str(k): int(v) for k, v in data["cat"].items()},
            latency=LatencySketch.from_json(data["lat"]),
        )


def _add_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    merged = dict(a)
    add_into(merged, b)
    return merged


def add_into(counts: dict[str, int], more: Mapping[str, int]) -> None:
    """Add ``more``'s counts into ``counts``, key by key."""
    for key, n in more.items():
        counts[key] = counts.get(key, 0) + n


def merge_all(aggregates: Iterable[WindowAggregate]) -> WindowAggregate | None:
    """The merge of several aggregates of one window, or None when there are none."""
    result: WindowAggregate | None = None
    for agg in aggregates:
        result = agg if result is None else result.merge(agg)
    return result


@dataclass
class WindowedPartition:
    """Windows of one partition in memory: the reference model the store-backed code follows.

    Tests and the audit replay a partition through it in offset order.
    """

    spec: WindowSpec
    stream_time_ms: int | None = None
    open: dict[int, WindowAggregate] = field(default_factory=dict)
    late: list[OrderFacts] = field(default_factory=list)

    def add(self, order: OrderFacts) -> bool:
        """Count the order in its window; False (and kept in ``late``) when that window closed."""
        if self.stream_time_ms is not None and self.spec.is_late(
            order.timestamp_ms, self.stream_time_ms
        ):
            self.late.append(order)
            return False
        start = self.spec.start_of(order.timestamp_ms)
        window = self.open.get(start)
        if window is None:
            window = self.open[start] = WindowAggregate(start, self.spec.end_of(start))
        window.add(order)
        if self.stream_time_ms is None or order.timestamp_ms > self.stream_time_ms:
            self.stream_time_ms = order.timestamp_ms
        return True

    def close_due(self) -> list[WindowAggregate]:
        """Remove and return the windows closed at the current stream time, oldest first."""
        if self.stream_time_ms is None:
            return []
        due = sorted(s for s in self.open if self.spec.is_closed(s, self.stream_time_ms))
        return [self.open.pop(s) for s in due]
