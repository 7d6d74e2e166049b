"""Enrichment's business rules as pure functions: reservation, restocks, store keys and values.

Nothing here touches Kafka. The processor reads and writes its stores through these helpers, so
the audit (which parses the changelog) and the processor agree on one key and value format.

The stock store (``enrichment-stock-changelog``, co-partitioned with ``orders-by-product``)::

    s:<productId>            -> stock, 8-byte signed big-endian integer; MISSING = never stocked
    w:<productId>            -> the queue of orders parked until the first restock (parking.py)
    q:<productId>\\0<seq>     -> one parked order
    W                        -> the products of this partition that have parked orders
    d:<orderId>              -> legacy stage-2 dedupe entries of older versions (no longer written)

The orders-seen store (``enrichment-orders-changelog``, co-partitioned with ``orders``)::

    o:<digest of orderId>    -> fingerprint of the order's content (dedupe.py)
    i:<chunk>, m             -> the time-ordered index of those entries and its bounds
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import StrEnum

from orderstream.serde import OrderCreated

STOCK_PREFIX = b"s:"
DEDUPE_PREFIX = b"d:"
_INT64 = struct.Struct(">q")
_LEN = struct.Struct(">I")


class Status(StrEnum):
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"


class RejectReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    # A known product whose first stock did not arrive within the parking deadline.
    NO_STOCK_RECORD = "NO_STOCK_RECORD"


class InvalidAdjustment(ValueError):
    """An inventory adjustment that is not a positive restock; it goes to the DLQ."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """The outcome of one order against the stock of its product."""

    status: Status
    reject_reason: RejectReason | None
    stock_after: int


def reserve_stock(stock: int, quantity: int, *, product_known: bool) -> Reservation:
    """Reserve ``quantity`` units when the product is known and enough stock is left."""
    if quantity < 1:
        raise ValueError(f"quantity must be at least 1, got {quantity}")
    if not product_known:
        return Reservation(Status.REJECTED, RejectReason.UNKNOWN_PRODUCT, stock)
    if stock < quantity:
        return Reservation(Status.REJECTED, RejectReason.OUT_OF_STOCK, stock)
    return Reservation(Status.RESERVED, None, stock - quantity)


def no_stock_record() -> Reservation:
    """The outcome of a parked order whose product was never stocked before its deadline."""
    return Reservation(Status.REJECTED, RejectReason.NO_STOCK_RECORD, 0)


def apply_restock(stock: int | None, delta: int) -> int:
    """Stock after a restock (None: never stocked); only positive deltas are restocks."""
    if delta < 1:
        raise InvalidAdjustment(f"inventory delta must be a positive restock, got {delta}")
    return (stock or 0) + delta


def order_fingerprint(order: OrderCreated) -> bytes:
    """8 bytes that differ when two orders of one orderId ask for different things.

    The timestamp is left out: the API stamps each (re)submission anew, and a retry is the same
    order. Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    """
    customer, product, currency = (
        t.encode() for t in (order.customer_id, order.product_id, order.currency)
    )
    # One call over the whole input: the same digest as hashing it piece by piece.
    return hashlib.blake2b(
        b"".join(
            (
                _LEN.pack(len(customer)), customer, _LEN.pack(len(product)), product,
                _LEN.pack(len(currency)), currency,
                _INT64.pack(order.quantity), _INT64.pack(order.amount_cents),
            )
        ),
        digest_size=8,
    ).digest()  # fmt: skip


def stock_key(product_id: str) -> bytes:
    return STOCK_PREFIX + product_id.encode()


def dedupe_key(order_id: str) -> bytes:
    """The key of a legacy stage-2 dedupe entry (older versions wrote them)."""
    return DEDUPE_PREFIX + order_id.encode()


def product_of_stock_key(key: bytes) -> str | None:
    """The productId of a stock key, or None for any other key of the store."""
    if key.startswith(STOCK_PREFIX):
        return key[len(STOCK_PREFIX) :].decode()
    return None


def encode_int(value: int) -> bytes:
    return _INT64.pack(value)


def decode_int(value: bytes) -> int:
    """A stored 8-byte integer."""
    if len(value) != _INT64.size:
        raise ValueError(f"stored integer must be {_INT64.size} bytes, got {len(value)}")
    result: int = _INT64.unpack(value)[0]
    return result


def decode_stock(value: bytes | None) -> int | None:
    """A product's stock; None when it was never stocked (which is NOT the same as 0)."""
    return None if value is None else decode_int(value)


def repartition_key(product_id: str) -> bytes:
    """Orders and restocks of one product share a key, so stock has a single writer."""
    if not product_id:
        raise ValueError("productId must not be empty")
    return product_id.encode()
