"""The audit's payment invariants (6a-6d and check 2 with releases) on folded events."""

from __future__ import annotations

import time
from typing import cast

from orderstream.config import Settings
from orderstream.ops.audit import AuditSnapshot, check_stock_conserved
from orderstream.ops.audit_payments import (
    check_no_payment_without_reservation,
    check_paid_or_released,
    check_releases_match_reservations,
    check_reservations_end,
)
from orderstream.serde import (
    EnrichedOrder,
    EventSerde,
    InventoryAdjusted,
    PaymentCompleted,
    PaymentFailed,
    StockReleased,
)

OLD_MS = 120_000  # twice the snapshot's reservation timeout


def now_ms() -> int:
    """The wall clock when the test runs: check 6b compares reservations with it, and a value
    taken at import goes stale in a long session (a "young" order was 38 min old in one)."""
    return int(time.time() * 1000)


def snapshot() -> AuditSnapshot:
    snap = AuditSnapshot(
        Settings(), cast(EventSerde, None), reservation_timeout_ms=60_000, payments_deployed=True
    )
    snap.add_restock(InventoryAdjusted("p1", 10, "seed", 1))
    return snap


def order(
    snap: AuditSnapshot, order_id: str, status: str = "RESERVED", at: int | None = None
) -> None:
    at = now_ms() - OLD_MS if at is None else at
    reason = None if status == "RESERVED" else "OUT_OF_STOCK"
    snap.add_enriched(
        EnrichedOrder(order_id, "c", "p1", 2, 100, "EUR", at, "L", "h", status, reason, 0, at)  # type: ignore[arg-type]
    )


def paid(snap: AuditSnapshot, order_id: str) -> None:
    snap.paid[order_id].append(PaymentCompleted(order_id, "c", "p1", 2, 100, "EUR", "x", 1, 2))


def failed(snap: AuditSnapshot, order_id: str) -> None:
    event = PaymentFailed(order_id, "c", "p1", 2, 100, "EUR", "DECLINED", None, 1, 2)
    snap.failed[order_id].append(event)


def released(snap: AuditSnapshot, order_id: str, quantity: int = 2) -> None:
    event = StockReleased(order_id, "p1", quantity, "PAYMENT_FAILED", "DECLINED", 0, 3)
    snap.releases[order_id].append(event)
    snap.released["p1"] += quantity


def test_a_good_run_passes_every_payment_check() -> None:
    snap = snapshot()
    order(snap, "o1")
    order(snap, "o2")
    order(snap, "o3", at=now_ms())  # young: may still be open
    order(snap, "o4", "REJECTED")
    paid(snap, "o1")
    failed(snap, "o2")
    released(snap, "o2")
    snap.stock["p1"] = 10 - 6 + 2
    for check in (
        check_stock_conserved,
        check_releases_match_reservations,
        check_reservations_end,
        check_paid_or_released,
        check_no_payment_without_reservation,
    ):
        assert check(snap).ok, check(snap)


def test_stock_counts_releases() -> None:
    snap = snapshot()
    order(snap, "o1")
    released(snap, "o1")
    snap.stock["p1"] = 8  # the release was not applied to the stock
    assert not check_stock_conserved(snap).ok


def test_a_release_twice_or_of_another_quantity_fails() -> None:
    snap = snapshot()
    order(snap, "o1")
    released(snap, "o1")
    released(snap, "o1")
    assert not check_releases_match_reservations(snap).ok
    snap = snapshot()
    order(snap, "o1")
    released(snap, "o1", quantity=3)
    assert not check_releases_match_reservations(snap).ok


def test_an_old_open_reservation_fails() -> None:
    snap = snapshot()
    order(snap, "o1")
    result = check_reservations_end(snap)
    assert not result.ok and "o1" in result.detail


def test_paid_and_released_or_two_outcomes_fail() -> None:
    snap = snapshot()
    order(snap, "o1")
    paid(snap, "o1")
    released(snap, "o1")
    assert not check_paid_or_released(snap).ok
    snap = snapshot()
    order(snap, "o1")
    paid(snap, "o1")
    failed(snap, "o1")
    assert not check_paid_or_released(snap).ok


def test_a_payment_for_a_rejected_order_fails() -> None:
    snap = snapshot()
    order(snap, "o1", "REJECTED")
    paid(snap, "o1")
    assert not check_no_payment_without_reservation(snap).ok
