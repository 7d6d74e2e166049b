"""The order lifecycle GET /orders/{id} answers: status and path from the facts, in any order."""

from __future__ import annotations

from orderstream.serde import PaymentCompleted, PaymentFailed, StockReleased
from orderstream.services.orders.models import lifecycle_json, order_view

ENRICHED = {
    "orderId": "o1", "status": "RESERVED", "rejectReason": None, "timestamp": 1, "enrichedAt": 2,
}  # fmt: skip


def test_a_paid_order_ends_paid_with_its_path() -> None:
    fact = lifecycle_json(PaymentCompleted("o1", "c", "p", 1, 10, "EUR", "pay-1", 2, 3))
    assert fact is not None and fact["event"] == "PaymentCompleted"
    view = order_view(ENRICHED, {"PaymentCompleted": fact})
    assert view["status"] == "PAID"
    assert [(s["status"], s["at"]) for s in view["path"]] == [
        ("CREATED", 1), ("RESERVED", 2), ("PAID", 3),
    ]  # fmt: skip


def test_a_failed_payment_ends_cancelled_with_reasons() -> None:
    failed = lifecycle_json(PaymentFailed("o1", "c", "p", 1, 10, "EUR", "DECLINED", None, 2, 3))
    released = lifecycle_json(StockReleased("o1", "p", 1, "PAYMENT_FAILED", "DECLINED", 5, 4))
    assert failed is not None and released is not None
    view = order_view(ENRICHED, {"StockReleased": released, "PaymentFailed": failed})
    assert view["status"] == "CANCELLED"
    assert [(s["status"], s["reason"]) for s in view["path"][2:]] == [
        ("PAYMENT_FAILED", "DECLINED"), ("CANCELLED", "PAYMENT_FAILED: DECLINED"),
    ]  # fmt: skip


def test_a_rejected_order_stays_rejected() -> None:
    rejected = {**ENRICHED, "status": "REJECTED", "rejectReason": "OUT_OF_STOCK"}
    view = order_view(rejected, {})
    assert view["status"] == "REJECTED" and view["path"][1]["reason"] == "OUT_OF_STOCK"


def test_other_events_are_not_lifecycle_facts() -> None:
    assert lifecycle_json(object()) is None
