"""Stage 2's payment outcomes: settle or release a reservation, exactly once (issue 13).

Payment outcomes reach the stock stage re-keyed by productId (stage 1 forwards them to
``orders-by-product``), behind the order that made the reservation, so a product's stock
keeps its single writer. A PaymentCompleted settles the reservation; a PaymentFailed, or no
outcome within ``reservation_timeout_ms`` (punctuation), releases it: the stock comes back and a
StockReleased is emitted, in the transaction that takes the reservation (reservations.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from orderstream.runtime import KeyValueStore
from orderstream.serde import PaymentCompleted, PaymentFailed, StockReleased
from orderstream.services.enrichment.ports import Emitter
from orderstream.services.enrichment.reservations import OpenReservation, Reservations
from orderstream.services.enrichment.rules import decode_stock, encode_int, stock_key

logger = logging.getLogger(__name__)

PAYMENT_FAILED = "PAYMENT_FAILED"
RESERVATION_TIMEOUT = "RESERVATION_TIMEOUT"


class Encoder(Protocol):
    def encode(self, topic: str, event: Any) -> bytes: ...


class ReleaseStage:
    """Opens reservations, and settles or releases them; the caller routes the events."""

    def __init__(
        self,
        codec: Encoder,
        topic: str,
        timeout_ms: int,
        budget: int,
        clock_ms: Callable[[], int],
    ) -> None:
        self._codec = codec
        self._topic = topic
        self._timeout_ms = timeout_ms
        self._budget = budget
        self._clock_ms = clock_ms
        self._open = Reservations()
        self.settled = self.released = self.timed_out = 0
        self.unmatched = 0  # outcomes that found no open reservation (late or repeated)

    def open(self, store: KeyValueStore, order_id: str, product_id: str, quantity: int) -> None:
        deadline = self._clock_ms() + self._timeout_ms
        self._open.open(store, order_id, product_id, quantity, deadline)

    def on_completed(self, event: PaymentCompleted, store: KeyValueStore) -> None:
        if self._open.take(store, event.order_id) is not None:
            self.settled += 1
            return
        self._unmatched(event.order_id, "PaymentCompleted")

    def on_failed(self, event: PaymentFailed, store: KeyValueStore, ctx: Emitter) -> None:
        found = self._open.take(store, event.order_id)
        if found is None:
            self._unmatched(event.order_id, "PaymentFailed")
            return
        self._release(found, PAYMENT_FAILED, event.reason, store, ctx)

    def on_timeouts(self, store: KeyValueStore, now_ms: int, ctx: Emitter) -> None:
        for found in self._open.due(store, now_ms, self._budget):
            self.timed_out += 1
            self._release(found, RESERVATION_TIMEOUT, None, store, ctx)

    def _release(
        self,
        found: OpenReservation,
        reason: str,
        detail: str | None,
        store: KeyValueStore,
        ctx: Emitter,
    ) -> None:
        key = stock_key(found.product_id)
        after = (decode_stock(store.get(key)) or 0) + found.quantity
        store.put(key, encode_int(after))
        event = StockReleased(
            found.order_id, found.product_id, found.quantity, reason, detail, after,
            self._clock_ms(),
        )  # fmt: skip
        ctx.emit(self._topic, found.order_id.encode(), self._codec.encode(self._topic, event))
        self.released += 1

    def _unmatched(self, order_id: str, kind: str) -> None:
        """A repeat is harmless; a PaymentCompleted after a timeout release needs a refund,
        which the audit reports (no order is both PAID and released)."""
        self.unmatched += 1
        logger.warning(
            f"{kind} found no open reservation: already settled or released",
            extra={"orderId": order_id},
        )
