"""The stage-1 fingerprint is part of the orders-seen store's format: a store written by an older
version must still see a retry as a repeat, so the digest of an order never changes."""

from __future__ import annotations

from orderstream.serde import OrderCreated
from orderstream.services.enrichment.rules import order_fingerprint


def test_the_fingerprint_is_the_one_older_versions_stored() -> None:
    order = OrderCreated("o-1", "c-ü9", "p-7", 3, -4500, "EUR", 1)
    assert order_fingerprint(order).hex() == "2e31dd587f15139d"  # computed by the older code
    retry = OrderCreated("o-1", "c-ü9", "p-7", 3, -4500, "EUR", 99)
    assert order_fingerprint(retry) == order_fingerprint(order)
