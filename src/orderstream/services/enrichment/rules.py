"""Enrichment's business rules as pure functions: reservation, restocks, dedupe, store keys.

Nothing here touches Kafka. The processor reads and writes the store through these helpers, so
the audit (which parses the changelog) and the processor agree on one key and value format:

    s:<productId>  -> stock, 8-byte signed big-endian integer
    d:<orderId>    -> when the order was first reserved or rejected (epoch ms, 8 bytes)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

STOCK_PREFIX = b"s:"
DEDUPE_PREFIX = b"d:"
_INT64 = struct.Struct(">q")


class Status(StrEnum):
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"


class RejectReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"


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


def apply_restock(stock: int, delta: int) -> int:
    """Stock after a restock; only positive deltas are restocks (DESIGN.md)."""
    if delta < 1:
        raise InvalidAdjustment(f"inventory delta must be a positive restock, got {delta}")
    return stock + delta


def is_duplicate(seen_at_ms: int | None, now_ms: int, ttl_ms: int) -> bool:
    """True when this orderId was already handled within the dedupe TTL."""
    return seen_at_ms is not None and now_ms - seen_at_ms < ttl_ms


def expired_dedupe_keys(
    entries: Iterable[tuple[bytes, int]], now_ms: int, ttl_ms: int, max_entries: int
) -> list[bytes]:
    """Dedupe keys to forget: those older than the TTL, then the oldest beyond ``max_entries``."""
    live: list[tuple[int, bytes]] = []
    expired: list[bytes] = []
    for key, seen_at in entries:
        if now_ms - seen_at >= ttl_ms:
            expired.append(key)
        else:
            live.append((seen_at, key))
    if len(live) > max_entries:
        live.sort()
        expired.extend(key for _, key in live[: len(live) - max_entries])
    return expired


def stock_key(product_id: str) -> bytes:
    return STOCK_PREFIX + product_id.encode()


def dedupe_key(order_id: str) -> bytes:
    return DEDUPE_PREFIX + order_id.encode()


def product_of_stock_key(key: bytes) -> str | None:
    """The productId of a stock key, or None for any other key of the store."""
    if key.startswith(STOCK_PREFIX):
        return key[len(STOCK_PREFIX) :].decode()
    return None


def encode_int(value: int) -> bytes:
    return _INT64.pack(value)


def decode_int(value: bytes | None) -> int:
    """A stored integer; a missing value is zero (no stock yet)."""
    if value is None:
        return 0
    if len(value) != _INT64.size:
        raise ValueError(f"stored integer must be {_INT64.size} bytes, got {len(value)}")
    result: int = _INT64.unpack(value)[0]
    return result


def repartition_key(product_id: str) -> bytes:
    """Orders and restocks of one product share a key, so stock has a single writer."""
    if not product_id:
        raise ValueError("productId must not be empty")
    return product_id.encode()
