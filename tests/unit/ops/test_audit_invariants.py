"""The audit's invariants 1, 2, 4 and 5 on folded events, without Kafka: the strengthened audit
fails the old behaviour (every order of a backlog rejected OUT_OF_STOCK because its product's
first restock had not been applied yet), which checks 1, 2 and 4 pass."""

from __future__ import annotations

from typing import cast

from orderstream.config import Settings
from orderstream.ops.audit import (
    AuditSnapshot,
    check_enriched_exactly_once,
    check_no_refusal_while_stocked,
    check_reserved_at_most_once,
    check_stock_conserved,
)
from orderstream.serde import EnrichedOrder, EventSerde, InventoryAdjusted

T0 = 1_700_000_000_000


def snapshot() -> AuditSnapshot:
    return AuditSnapshot(Settings(), cast(EventSerde, None))


def enriched(
    order_id: str,
    status: str,
    *,
    reason: str | None = None,
    quantity: int = 1,
    product: str = "p1",
    ts: int = T0 + 10,
    at: int = T0 + 100,
    stock_after: int = 0,
) -> EnrichedOrder:
    return EnrichedOrder(
        order_id, "c1", product, quantity, 100, "EUR", ts, "Lamp", "home",
        status, reason, stock_after, at,
    )  # fmt: skip


def fold(snap: AuditSnapshot, *events: EnrichedOrder) -> None:
    for event in events:
        snap.order_ids.add(event.order_id)
        snap.add_enriched(event)


def test_the_old_behaviour_fails_check_5_and_passes_the_others() -> None:
    snap = snapshot()
    snap.add_restock(InventoryAdjusted("p1", 100_000, "seed", T0))
    snap.stock["p1"] = snap.lowest_stock["p1"] = 100_000  # the restock, applied after all orders
    fold(snap, *(enriched(f"o{i}", "REJECTED", reason="OUT_OF_STOCK") for i in range(1_000)))

    assert check_enriched_exactly_once(snap).ok
    assert check_stock_conserved(snap).ok
    assert check_reserved_at_most_once(snap).ok
    verdict = check_no_refusal_while_stocked(snap)
    assert not verdict.ok
    assert "1000 of them while the stock at their timestamp covered them" in verdict.detail
    assert "at least 100000 in stock" in verdict.detail


def test_stock_that_really_ran_out_passes() -> None:
    snap = snapshot()
    snap.add_restock(InventoryAdjusted("p1", 5, "seed", T0))
    fold(
        snap,
        enriched("o1", "RESERVED", quantity=3, at=T0 + 100, stock_after=2),
        enriched("o2", "REJECTED", reason="OUT_OF_STOCK", quantity=3, at=T0 + 101, stock_after=2),
        # An order whose restock is stamped after it had no stock at its timestamp.
        enriched("o3", "REJECTED", reason="OUT_OF_STOCK", product="p2", ts=T0 - 1),
    )
    snap.add_restock(InventoryAdjusted("p2", 9, "seed", T0))
    assert check_no_refusal_while_stocked(snap).ok


def test_a_later_order_served_first_does_not_blame_the_earlier_ones_rejection() -> None:
    """Stage 2 sees orders in arrival order, not timestamp order: that is no violation."""
    snap = snapshot()
    snap.add_restock(InventoryAdjusted("p1", 1, "seed", T0))
    fold(
        snap,
        enriched("late", "RESERVED", ts=T0 + 20, at=T0 + 100),
        enriched("early", "REJECTED", reason="OUT_OF_STOCK", ts=T0 + 10, at=T0 + 100),
    )
    assert check_no_refusal_while_stocked(snap).ok


def test_no_stock_record_while_a_restock_was_stamped_before_fails() -> None:
    snap = snapshot()
    snap.add_restock(InventoryAdjusted("p1", 10, "seed", T0))
    fold(snap, enriched("o1", "REJECTED", reason="NO_STOCK_RECORD"))
    assert not check_no_refusal_while_stocked(snap).ok


def test_an_order_reserved_under_two_products_fails_check_4() -> None:
    snap = snapshot()
    fold(snap, enriched("o1", "RESERVED", product="p1"), enriched("o1", "RESERVED", product="p2"))
    verdict = check_reserved_at_most_once(snap)
    assert not verdict.ok
    assert "1 reserved more than once" in verdict.detail
    assert not check_enriched_exactly_once(snap).ok


def test_unknown_products_are_an_outcome_of_check_1() -> None:
    snap = snapshot()
    fold(snap, enriched("o1", "REJECTED", reason="UNKNOWN_PRODUCT", product="nope"))
    verdict = check_enriched_exactly_once(snap)
    assert verdict.ok
    assert "REJECTED/UNKNOWN_PRODUCT 1" in verdict.detail
    assert check_no_refusal_while_stocked(snap).ok
