"""Idempotent ingest: an ``Idempotency-Key`` names one order, for a window of at least 24 h.

The contract (also in the OpenAPI document and the README):

- With ``Idempotency-Key: K`` on ``POST /orders`` the orderId is ``uuid5(KEY_NAMESPACE, K)``;
  on ``POST /orders/batch`` item ``i`` gets ``uuid5(KEY_NAMESPACE, f"{K}#{i}")``. A body orderId
  that differs from the derived one is a 409 (the key names another order). Without a key, a
  client orderId is the key.
- A retry with the same key and the same order (customerId, productId, quantity, amountCents,
  currency) is the same order: the same orderId and the same OrderCreated, timestamp included.
  If the API knows the first attempt was written, it answers 202 without writing again.
- The same key with a different order is a 409 that names both digests.
- Orders with neither a key nor an orderId get a fresh uuid4 and are not idempotent.

The memory behind it is ``IdempotencyLedger``: orderId -> (body digest, event timestamp, written).
It is fed by this process's own attempts and by ``OrdersFollower``, which reads ``orders`` from
``window`` ago (each record carries its digest in a header), so a restarted or second instance
knows the keys the others wrote. Its limits: at most ``max_entries`` keys (oldest forgotten
first), and a conflict that races two instances before either sees the other's record is caught
downstream (enrichment dedupes by orderId and dead-letters a conflicting repeat).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from orderstream.services.orders.models import OrderRequest

KEY_NAMESPACE = uuid.UUID("6f1c2b1e-8a4d-5c3e-9b7a-0d2e4f6a8c10")
DIGEST_HEADER = "orderstream.orderDigest"
WINDOW_S = 24 * 3600.0


class KeyMismatch(ValueError):
    """The body's orderId is not the one its Idempotency-Key maps to."""

    def __init__(self, message: str, derived: str) -> None:
        super().__init__(message)
        self.derived = derived


def order_id_for_key(key: str, index: int | None = None) -> str:
    """The orderId an Idempotency-Key maps to (item ``index`` of a batch when given)."""
    name = key if index is None else f"{key}#{index}"
    return str(uuid.uuid5(KEY_NAMESPACE, name))


def resolve_order_id(order: OrderRequest, key: str | None, index: int | None = None) -> str | None:
    """The orderId of ``order``: from its key, its own orderId, or None (a fresh one is due)."""
    if key is None:
        return order.orderId
    derived = order_id_for_key(key, index)
    if order.orderId is not None and order.orderId != derived:
        raise KeyMismatch(
            f"orderId {order.orderId!r} differs from {derived!r}, the orderId that the "
            "Idempotency-Key maps to; send one or the other",
            derived,
        )
    return derived


def order_digest(order: OrderRequest) -> str:
    """A digest of what the client ordered (not of the orderId nor the timestamp)."""
    fields = [order.customerId, order.productId, order.quantity, order.amountCents, order.currency]
    canonical = json.dumps(fields, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


class Verdict(Enum):
    PUBLISH = "publish"  # write it (first attempt, or a retry whose outcome is unknown)
    WRITTEN = "written"  # already in ``orders``: answer 202 without writing again
    CONFLICT = "conflict"  # the key names a different order: 409


@dataclass(frozen=True)
class Claim:
    verdict: Verdict
    timestamp_ms: int
    known_digest: str


class Ledger(Protocol):
    """What the API asks of a ledger: this process's (below) or the workers' (shared_ledger.py)."""

    def claim(self, order_id: str, digest: str, now_ms: int | None = None) -> Claim: ...
    def is_written(self, order_id: str) -> bool: ...
    def written(self, order_id: str, digest: str, timestamp_ms: int) -> None: ...


@dataclass(slots=True)
class _Entry:
    digest: str
    timestamp_ms: int
    written: bool


class IdempotencyLedger:
    """orderId -> what was ordered under it, for ``window_s``; touched only on the event loop."""

    def __init__(self, *, window_s: float = WINDOW_S, max_entries: int = 1_000_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, order_id: str, digest: str, now_ms: int | None = None) -> Claim:
        """What to do with an order under ``order_id``; remembers a first attempt."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        entry = self._entries.get(order_id)
        if entry is not None and entry.timestamp_ms < now_ms - self.window_s * 1000:
            entry = None  # out of the window: a new order
        if entry is None:
            self._put(order_id, _Entry(digest, now_ms, written=False), now_ms)
            return Claim(Verdict.PUBLISH, now_ms, digest)
        if entry.digest != digest:
            return Claim(Verdict.CONFLICT, entry.timestamp_ms, entry.digest)
        verdict = Verdict.WRITTEN if entry.written else Verdict.PUBLISH
        return Claim(verdict, entry.timestamp_ms, entry.digest)

    def is_written(self, order_id: str) -> bool:
        entry = self._entries.get(order_id)
        return entry is not None and entry.written

    def written(self, order_id: str, digest: str, timestamp_ms: int) -> None:
        """Kafka holds this order (our delivery report, or the follower read it)."""
        entry = self._entries.get(order_id)
        if entry is not None and entry.digest == digest and entry.timestamp_ms <= timestamp_ms:
            entry.written = True
            return
        if entry is None or not entry.written:
            # What is in the topic wins over an attempt of ours still in doubt.
            self._put(order_id, _Entry(digest, timestamp_ms, written=True), timestamp_ms)

    def _put(self, order_id: str, entry: _Entry, now_ms: int) -> None:
        self._entries[order_id] = entry
        self._entries.move_to_end(order_id)
        horizon = now_ms - self.window_s * 1000
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if len(self._entries) <= self.max_entries and oldest.timestamp_ms >= horizon:
                break
            self._entries.popitem(last=False)
