"""Open reservations in the stock store, until their payment outcome or their timeout.

Every RESERVED order opens one; a PaymentCompleted settles it (the stock stays taken), a
PaymentFailed or the reservation timeout releases it (the stock comes back). Taking the entry
is what makes a release happen once: a second outcome, a duplicate or a timeout that comes
after finds nothing to take. It lives in the same exactly-once store partition as the stock of
its product, so a release is written with the stock it changes, by the product's single writer::

    r:<orderId>              -> deadline (8 bytes, wall clock ms) + quantity (8) + productId
    R, t:<seq>               -> a TimeQueue (state/time_queue.py) of orderIds: the open
                                reservations of this partition, oldest first

Deadlines are the reservation time plus one timeout, so the queue is in deadline order and
``due`` stops at the first entry that is not due: a punctuation never scans the partition.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from orderstream.state import KeyValueStore
from orderstream.state.time_queue import TimeQueue

_PAIR = struct.Struct(">qq")
OPEN_PREFIX = b"r:"
QUEUE = TimeQueue(meta_key=b"R", entry_prefix=b"t:")


@dataclass(frozen=True, slots=True)
class OpenReservation:
    order_id: str
    product_id: str
    quantity: int
    deadline_ms: int


def _open_key(order_id: str) -> bytes:
    return OPEN_PREFIX + order_id.encode()


def _decode(order_id: str, raw: bytes) -> OpenReservation:
    deadline, quantity = _PAIR.unpack_from(raw)
    return OpenReservation(order_id, raw[_PAIR.size :].decode(), quantity, deadline)


class Reservations:
    """Open, take (settle or release) and time out reservations of one store partition."""

    def open(
        self, store: KeyValueStore, order_id: str, product_id: str, quantity: int, deadline_ms: int
    ) -> None:
        store.put(_open_key(order_id), _PAIR.pack(deadline_ms, quantity) + product_id.encode())
        QUEUE.append(store, order_id.encode())

    def get(self, store: KeyValueStore, order_id: str) -> OpenReservation | None:
        raw = store.get(_open_key(order_id))
        return None if raw is None else _decode(order_id, raw)

    def take(self, store: KeyValueStore, order_id: str) -> OpenReservation | None:
        """Close the reservation; None when it is not open (settled, released or unknown)."""
        found = self.get(store, order_id)
        if found is not None:
            store.delete(_open_key(order_id))
        return found

    def due(self, store: KeyValueStore, now_ms: int, budget: int) -> list[OpenReservation]:
        """Take the reservations whose deadline is at or before ``now_ms``, looking at most
        ``budget`` queue entries; those of reservations closed meanwhile are dropped."""
        taken: list[OpenReservation] = []

        def take_if_due(raw_id: bytes) -> bool:
            found = self.get(store, raw_id.decode())
            if found is None:  # settled or released meanwhile: only its queue entry is left
                return True
            if found.deadline_ms > now_ms:
                return False
            store.delete(_open_key(found.order_id))
            taken.append(found)
            return True

        QUEUE.drain(store, take_if_due, budget)
        return taken
