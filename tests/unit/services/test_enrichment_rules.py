"""Reservation, restock, dedupe and re-keying rules, without Kafka."""

from __future__ import annotations

import pytest

from orderstream.services.enrichment.rules import (
    InvalidAdjustment,
    RejectReason,
    Status,
    apply_restock,
    decode_int,
    dedupe_key,
    encode_int,
    expired_dedupe_keys,
    is_duplicate,
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


def test_duplicate_within_ttl_only() -> None:
    assert not is_duplicate(None, 1_000, 500)
    assert is_duplicate(900, 1_000, 500)
    assert not is_duplicate(400, 1_000, 500)


def test_expired_dedupe_keys_by_ttl_then_bound() -> None:
    entries = [(b"d:a", 100), (b"d:b", 950), (b"d:c", 960), (b"d:d", 970)]
    assert expired_dedupe_keys(entries, 1_000, 500, 10) == [b"d:a"]
    assert sorted(expired_dedupe_keys(entries, 1_000, 500, 2)) == [b"d:a", b"d:b"]


def test_store_keys_and_values_round_trip() -> None:
    assert product_of_stock_key(stock_key("p-1")) == "p-1"
    assert product_of_stock_key(dedupe_key("o-1")) is None
    assert decode_int(encode_int(-5)) == -5
    assert decode_int(None) == 0
    with pytest.raises(ValueError, match="8 bytes"):
        decode_int(b"\x01")


def test_repartition_key_is_the_product() -> None:
    assert repartition_key("p-42") == b"p-42"
    with pytest.raises(ValueError, match="productId"):
        repartition_key("")
