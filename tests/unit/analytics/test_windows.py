from __future__ import annotations

import random

import pytest
from tests.unit.analytics.factories import order

from orderstream.errors import ConfigError
from orderstream.services.analytics.latency import LatencySketch
from orderstream.services.analytics.windows import (
    WindowAggregate,
    WindowedPartition,
    WindowSpec,
    merge_all,
)

SPEC = WindowSpec(size_ms=10_000, grace_ms=2_000)


@pytest.mark.parametrize(
    ("ts", "start"),
    [(0, 0), (9_999, 0), (10_000, 10_000), (123_456, 120_000), (-1, -10_000)],
)
def test_window_assignment_is_floor_of_the_timestamp(ts: int, start: int) -> None:
    assert SPEC.start_of(ts) == start
    assert SPEC.end_of(start) == start + 10_000


def test_invalid_specs_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="size"):
        WindowSpec(size_ms=0)
    with pytest.raises(ConfigError, match="grace"):
        WindowSpec(grace_ms=-1)


def test_window_closes_at_end_plus_grace_of_stream_time() -> None:
    part = WindowedPartition(SPEC)
    part.add(order(1_000))
    part.add(order(11_999))  # stream time 11_999 < 10_000 + 2_000
    assert part.close_due() == []
    part.add(order(12_000))
    closed = part.close_due()
    assert [w.start_ms for w in closed] == [0]
    assert closed[0].orders == 1


def test_order_within_grace_still_counts_in_its_window() -> None:
    part = WindowedPartition(SPEC)
    part.add(order(10_500))
    assert part.add(order(9_000)) is True  # out of order but within grace
    assert part.open[0].orders == 1


def test_late_order_is_kept_apart_never_in_a_closed_window() -> None:
    part = WindowedPartition(SPEC)
    part.add(order(1_000))
    part.add(order(12_000))
    [closed] = part.close_due()
    late = order(5_000)
    assert part.add(late) is False
    assert part.late == [late]
    assert closed.orders == 1
    assert 0 not in part.open


def test_late_order_counts_as_late_even_before_the_window_is_emitted() -> None:
    """Lateness and closing share one test, so an order is in exactly one place."""
    part = WindowedPartition(SPEC)
    part.add(order(1_000))
    part.add(order(15_000))
    assert part.add(order(2_000)) is False
    [closed] = part.close_due()
    assert closed.orders == 1


def test_every_order_is_either_windowed_or_late() -> None:
    rng = random.Random(7)
    part = WindowedPartition(SPEC)
    orders = [order(i * 10 + rng.randint(-4_000, 0)) for i in range(5_000)]
    closed: list[WindowAggregate] = []
    for o in orders:
        part.add(o)
        closed += part.close_due()
    closed += part.open.values()
    assert sum(w.orders for w in closed) + len(part.late) == len(orders)
    assert part.late, "the jitter of 4 s exceeds the 2 s grace, so some orders must be late"
    assert len({w.start_ms for w in closed}) == len(closed)


def test_aggregate_counts_revenue_of_reserved_orders_only() -> None:
    agg = WindowAggregate(0, 10_000)
    agg.add(order(1, amount=500, category="books"))
    agg.add(order(2, amount=700, category="games"))
    agg.add(order(3, amount=900, category="books", status="REJECTED"))
    assert (agg.orders, agg.reserved, agg.rejected) == (3, 2, 1)
    assert agg.revenue_cents == 1_200
    assert agg.revenue_by_category == {"books": 500, "games": 700}


def test_merge_equals_aggregating_everything_at_once() -> None:
    rng = random.Random(3)
    orders = [
        order(
            rng.randint(0, 9_999),
            status=rng.choice(["RESERVED", "REJECTED"]),
            amount=rng.randint(1, 10_000),
            product=f"P-{rng.randint(1, 20)}",
            category=rng.choice(["books", "games", "toys"]),
            latency=rng.randint(1, 500),
        )
        for _ in range(600)
    ]
    whole = WindowAggregate(0, 10_000)
    parts = [WindowAggregate(0, 10_000) for _ in range(3)]
    for i, o in enumerate(orders):
        whole.add(o)
        parts[i % 3].add(o)
    merged = merge_all(parts)
    assert merged is not None
    assert merged.core_json() == whole.core_json()
    assert merged.product_orders == whole.product_orders
    assert merged.top_products() == whole.top_products()
    assert parts[0].orders == 200  # merge did not change its inputs


def test_merge_refuses_different_windows() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        WindowAggregate(0, 10).merge(WindowAggregate(10, 20))


def test_top_products_breaks_ties_by_id() -> None:
    agg = WindowAggregate(0, 10_000)
    for product, n in [("P-b", 3), ("P-a", 3), ("P-c", 5), ("P-d", 1), ("P-e", 2), ("P-f", 2)]:
        for _ in range(n):
            agg.add(order(1, product=product))
    assert agg.top_products() == [("P-c", 5), ("P-a", 3), ("P-b", 3), ("P-e", 2), ("P-f", 2)]


def test_core_json_round_trips() -> None:
    agg = WindowAggregate(0, 10_000)
    agg.add(order(1, latency=42))
    again = WindowAggregate.from_core_json(agg.core_json())
    assert again.core_json() == agg.core_json()


def test_latency_percentiles_are_within_two_percent() -> None:
    rng = random.Random(11)
    samples = sorted(rng.randint(1, 5_000) for _ in range(10_000))
    sketch = LatencySketch.of(samples)
    for q in (0.5, 0.9, 0.99):
        exact = samples[int(q * len(samples)) - 1]
        assert abs(sketch.percentile(q) - exact) <= 0.021 * exact
    assert sketch.percentile(1.0) <= samples[-1]
    assert LatencySketch().percentile(0.5) == 0.0


def test_latency_sketches_merge_by_adding_buckets() -> None:
    a, b = LatencySketch.of([1, 10, 100]), LatencySketch.of([1_000, 10_000])
    merged = a.merge(b)
    assert merged.count == 5
    assert merged.max_ms == 10_000
    assert merged.percentile(0.5) == pytest.approx(100, rel=0.02)


def test_run_analytics_arguments_are_checked() -> None:
    from orderstream.services.analytics.service import AnalyticsArgs

    good = AnalyticsArgs("127.0.0.1", 8088, 10_000, 2_000, 5_000, 0.9, 42)
    assert good.options().window == WindowSpec(10_000, 2_000)
    assert good.options().idle_close_ms == 5_000
    with pytest.raises(ConfigError, match="threshold"):
        AnalyticsArgs("127.0.0.1", 8088, 10_000, 2_000, 5_000, 1.5, 42).options()
    with pytest.raises(ConfigError, match="window size"):
        AnalyticsArgs("127.0.0.1", 8088, 0, 2_000, 5_000, 0.9, 42).options()
    no_idle = AnalyticsArgs("127.0.0.1", 8088, 10_000, 2_000, 0, 0.9, 42).options()
    assert no_idle.idle_close_ms is None
