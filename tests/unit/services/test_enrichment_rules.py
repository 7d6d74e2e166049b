"""Reservation, restock, fingerprint and re-keying rules, without Kafka."""

from __future__ import annotations

import pytest

from orderstream.serde import OrderCreated
from orderstream.services.enrichment.rules import (
    InvalidAdjustment,
    RejectReason,
    Status,
    apply_restock,
    decode_int,
    decode_stock,
    dedupe_key,
    encode_int,
    no_stock_record,
    order_fingerprint,
    product_of_stock_key,
    repartition_key,
    reserve_stock,
    stock_key,
)


def test_reserves_when_stock_covers_quantity() -> None:
    r = reserve_stock(10, 10, product_known=True)
    assert (r.status, r.reject_reason, r.stock_after) == (Status.RESERVED, None, 0)


def test_rejects_out_of_stock_and_keeps_stock() -> None:
    r = reserve_stock(3, 4, product_known=True)
    assert (r.status, r.reject_reason, r.stock_after) == (
        Status.REJECTED,
        RejectReason.OUT_OF_STOCK,
        3,
    )


def test_unknown_product_is_rejected_even_with_stock() -> None:
    r = reserve_stock(100, 1, product_known=False)
    assert (r.status, r.reject_reason) == (Status.REJECTED, RejectReason.UNKNOWN_PRODUCT)
    assert r.stock_after == 100


def test_sequence_of_orders_never_takes_stock_below_zero() -> None:
    stock, reserved = 7, 0
    for qty in (3, 3, 3, 1, 1):
        r = reserve_stock(stock, qty, product_known=True)
        if r.status is Status.RESERVED:
            reserved += qty
        stock = r.stock_after
        assert stock >= 0
    assert (stock, reserved) == (0, 7)


def test_quantity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="quantity"):
        reserve_stock(5, 0, product_known=True)


def test_restock_adds_positive_delta_only() -> None:
    assert apply_restock(2, 5) == 7
    with pytest.raises(InvalidAdjustment):
        apply_restock(2, 0)
    with pytest.raises(InvalidAdjustment):
        apply_restock(2, -1)


def test_a_first_restock_starts_from_nothing() -> None:
    assert apply_restock(None, 5) == 5


def test_the_fingerprint_ignores_the_timestamp_and_nothing_else() -> None:
    base = OrderCreated("o1", "c1", "p1", 2, 300, "EUR", 1)
    assert order_fingerprint(base) == order_fingerprint(
        OrderCreated("o1", "c1", "p1", 2, 300, "EUR", 9)
    )
    others = [
        OrderCreated("o1", "c2", "p1", 2, 300, "EUR", 1),
        OrderCreated("o1", "c1", "p2", 2, 300, "EUR", 1),
        OrderCreated("o1", "c1", "p1", 3, 300, "EUR", 1),
        OrderCreated("o1", "c1", "p1", 2, 301, "EUR", 1),
        OrderCreated("o1", "c1", "p1", 2, 300, "USD", 1),
        OrderCreated("o1", "c1p", "1", 2, 300, "EUR", 1),  # no ambiguity across fields
    ]
    prints = {order_fingerprint(o) for o in others}
    assert len(prints) == len(others) and order_fingerprint(base) not in prints


def test_no_stock_record_is_a_reason_of_its_own() -> None:
    r = no_stock_record()
    assert (r.status, r.reject_reason, r.stock_after) == (
        Status.REJECTED,
        RejectReason.NO_STOCK_RECORD,
        0,
    )


def test_store_keys_and_values_round_trip() -> None:
    assert product_of_stock_key(stock_key("p-1")) == "p-1"
    assert product_of_stock_key(dedupe_key("o-1")) is None
    assert decode_int(encode_int(-5)) == -5
    assert decode_stock(None) is None  # never stocked is not stock 0
    assert decode_stock(encode_int(0)) == 0
    with pytest.raises(ValueError, match="8 bytes"):
        decode_int(b"\x01")


def test_repartition_key_is_the_product() -> None:
    assert repartition_key("p-42") == b"p-42"
    with pytest.raises(ValueError, match="productId"):
        repartition_key("")
