"""Invariant 3 as a pure function: exact windows pass; doubled, missing, wrong ones fail."""

from __future__ import annotations

import dataclasses
import random

from orderstream.serde import EnrichedOrder
from orderstream.services.analytics.audit import WindowAudit, audit_windows
from orderstream.services.analytics.events import OrderStats, stats_of
from orderstream.services.analytics.windows import WindowedPartition, WindowSpec

SPEC = WindowSpec(size_ms=1_000, grace_ms=200)


def _orders(n: int) -> list[tuple[int, int, EnrichedOrder]]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        ts = i * 5 + rng.randint(-100, 100) - (3_000 if i % 101 == 100 else 0)
        order = EnrichedOrder(
            order_id=f"O-{i}",
            customer_id="C",
            product_id=f"P-{rng.randint(1, 9)}",
            quantity=1,
            amount_cents=rng.randint(100, 900),
            currency="EUR",
            timestamp=ts,
            product_name="p",
            category=rng.choice(["a", "b"]),
            status=rng.choice(["RESERVED", "REJECTED"]),
            reject_reason=None,
            stock_after=0,
            enriched_at=ts + 3,
        )
        out.append((i % 2, i // 2, order))
    return out


def _analytics(
    orders: list[tuple[int, int, EnrichedOrder]],
) -> tuple[list[OrderStats], list[str]]:
    """What analytics emits for these orders (the pure reference model)."""
    from orderstream.services.analytics.events import facts_of

    parts = {0: WindowedPartition(SPEC), 1: WindowedPartition(SPEC)}
    stats: list[OrderStats] = []
    for partition, _, order in orders:
        parts[partition].add(facts_of(order))
        stats += [stats_of(w, partition, 0) for w in parts[partition].close_due()]
    late = [o.order_id for p in parts.values() for o in p.late]
    return stats, late


def _audit(
    orders: list[tuple[int, int, EnrichedOrder]], stats: list[OrderStats], late: list[str]
) -> WindowAudit:
    committed = {0: 10**9, 1: 10**9}
    return audit_windows(orders, committed, late, stats)


def test_exact_windows_pass() -> None:
    orders = _orders(2_000)
    stats, late = _analytics(orders)
    result = _audit(orders, stats, late)
    assert result.ok, result.summary()
    assert late and result.late == len(late)
    assert result.orders_in_windows + result.late + result.open_orders == len(orders)


def test_a_window_emitted_twice_fails() -> None:
    orders = _orders(2_000)
    stats, late = _analytics(orders)
    result = _audit(orders, [*stats, stats[3]], late)
    assert not result.ok
    assert "emitted 2 times" in result.summary()


def test_a_missing_window_fails() -> None:
    orders = _orders(2_000)
    stats, late = _analytics(orders)
    result = _audit(orders, stats[:2] + stats[3:], late)
    assert "never emitted" in result.summary()


def test_a_wrong_count_fails() -> None:
    orders = _orders(2_000)
    stats, late = _analytics(orders)
    stats[0] = dataclasses.replace(stats[0], orders=stats[0].orders + 1)
    assert "orders is" in _audit(orders, stats, late).summary()


def test_orders_beyond_the_committed_offset_are_not_checked_yet() -> None:
    orders = _orders(2_000)
    stats, late = _analytics(orders[:1_000])
    result = audit_windows(orders, {0: 500, 1: 500}, late, stats)
    assert result.ok, result.summary()
    assert result.unprocessed == 1_000
