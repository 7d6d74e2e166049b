"""Request validation of the orders API and the load generator's figures, without a server."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orderstream.ops.load import (
    LoadSpec,
    build_orders,
    http_bodies,
    keyed_http_bodies,
)
from orderstream.services.orders.idempotency import order_id_for_key
from orderstream.services.orders.models import field_errors, parse_batch, parse_order


def test_order_gets_a_server_assigned_id_and_defaults() -> None:
    order = parse_order(b'{"customerId": "c1", "productId": "p1", "quantity": 3}')
    assert order.orderId is None
    assigned = order.with_order_id(None).orderId
    assert assigned and len(assigned) == 36
    assert (order.amountCents, order.currency) == (0, "EUR")
    kept = parse_order(b'{"orderId": "o-1", "customerId": "c", "productId": "p", "quantity": 1}')
    assert kept.orderId == "o-1"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"productId": "p", "quantity": 1}', ["body", "customerId"]),
        (b'{"customerId": "c", "productId": "p", "quantity": 1001}', ["body", "quantity"]),
        (b'{"customerId": "c", "productId": "p", "quantity": 1.5}', ["body", "quantity"]),
        (b'{"customerId": "c d", "productId": "p", "quantity": 1}', ["body", "customerId"]),
    ],
)
def test_field_errors_name_the_field(body: bytes, loc: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_order(body)
    assert [e["loc"] for e in field_errors(info.value)] == [loc]


def test_batch_must_hold_1_to_1000_items() -> None:
    assert len(parse_batch(b"[1, 2]")) == 2
    for body in (b"[]", b"{}", b"[" + b",".join([b"1"] * 1001) + b"]"):
        with pytest.raises(ValidationError):
            parse_batch(body)


def test_load_payloads_are_reproducible_and_batched() -> None:
    spec = LoadSpec(count=10, rate=0, products=3, batch=4)
    first, again = build_orders(spec, "r"), build_orders(spec, "r")
    assert [o.product_id for o in first] == [o.product_id for o in again]
    assert {o.product_id for o in first} <= {"p-00000", "p-00001", "p-00002"}
    assert [len(b.order_ids) for b in http_bodies(first, 4)] == [4, 4, 2]


def test_keyed_load_bodies_carry_the_key_and_expect_the_derived_order_ids() -> None:
    orders = build_orders(LoadSpec(count=5, rate=0, products=3), "r")
    single = keyed_http_bodies(orders, 1)
    assert [b.key for b in single] == [o.order_id for o in orders]
    assert single[0].order_ids == [order_id_for_key(orders[0].order_id)]
    assert b"orderId" not in single[0].payload
    batched = keyed_http_bodies(orders, 3)
    assert [b.key for b in batched] == [orders[0].order_id, orders[3].order_id]
    assert batched[1].order_ids == [order_id_for_key(orders[3].order_id, i) for i in range(2)]
