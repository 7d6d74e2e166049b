"""Orders parked in the stock store until their product's first restock arrives.

Orders and restocks reach ``orders-by-product`` through different stage-1 tasks, so an order can
overtake its product's first restock (a backlog makes it likely: the restocks may land behind
thousands of orders). A product that was never stocked is not a product with stock 0, so such an
order waits here, in the same exactly-once store as the stock, in arrival order, in one
TimeQueue (state/time_queue.py) per product::

    w:<productId>            -> (next to release, next to park), 2 x 8 bytes
    q:<productId>\\0<seq>     -> park time (8 bytes, wall clock ms) + the order's record value
    W                        -> the productIds of this partition with parked orders

Once the product is stocked the processor takes the queue from the front (a bounded number per
restock and per punctuation, so that a long queue never makes one transaction outlast its
timeout) and re-evaluates each order, in order; an order arriving while the queue is not empty
parks behind it. ``take_expired`` hands back orders parked before a deadline, so that
``punctuate`` rejects them with a reason of their own. Nothing here scans the store.
"""

from __future__ import annotations

import struct

from orderstream.state import KeyValueStore
from orderstream.state.time_queue import TimeQueue

_TIME = struct.Struct(">q")
_LEN = struct.Struct(">I")
QUEUE_PREFIX = b"w:"
DIRECTORY_KEY = b"W"


def _queue(product_id: str) -> TimeQueue:
    """The product's queue: ``w:<productId>`` its bounds, ``q:<productId>\\0<seq>`` its entries."""
    raw = product_id.encode()
    return TimeQueue(QUEUE_PREFIX + raw, b"q:" + raw + b"\0")


def _encode_directory(products: list[str]) -> bytes:
    return b"".join(_LEN.pack(len(raw)) + raw for raw in (p.encode() for p in products))


def _decode_directory(raw: bytes | None) -> list[str]:
    products: list[str] = []
    at = 0
    while raw and at < len(raw):
        (size,) = _LEN.unpack_from(raw, at)
        products.append(raw[at + _LEN.size : at + _LEN.size + size].decode())
        at += _LEN.size + size
    return products


class ParkedOrders:
    """Per-product FIFO queues of parked order values in one store partition at a time."""

    def park(self, store: KeyValueStore, product_id: str, value: bytes, now_ms: int) -> None:
        queue = _queue(product_id)
        if store.get(queue.meta_key) is None:
            self._list(store, product_id)
        queue.append(store, _TIME.pack(now_ms) + value)

    def waiting(self, store: KeyValueStore, product_id: str) -> int:
        head, tail = _queue(product_id).bounds(store)
        return tail - head

    def any_waiting(self, store: KeyValueStore, product_id: str) -> bool:
        """Whether orders of ``product_id`` are parked (an emptied queue is dropped)."""
        return store.get(QUEUE_PREFIX + product_id.encode()) is not None

    def products(self, store: KeyValueStore) -> list[str]:
        """The products of this partition with parked orders."""
        return _decode_directory(store.get(DIRECTORY_KEY))

    def take(self, store: KeyValueStore, product_id: str, limit: int) -> list[bytes]:
        """Up to ``limit`` of the orders parked for ``product_id``, oldest first, removed."""
        return self._take(store, product_id, limit, None)

    def take_expired(
        self, store: KeyValueStore, product_id: str, parked_before: int, limit: int
    ) -> list[bytes]:
        """Up to ``limit`` orders parked before ``parked_before``, oldest first, removed."""
        return self._take(store, product_id, limit, parked_before)

    def _take(
        self, store: KeyValueStore, product_id: str, limit: int, parked_before: int | None
    ) -> list[bytes]:
        queue = _queue(product_id)
        if store.get(queue.meta_key) is None:
            return []
        taken: list[bytes] = []

        def take_if_due(entry: bytes) -> bool:
            if parked_before is not None and _TIME.unpack_from(entry)[0] >= parked_before:
                return False
            taken.append(entry[_TIME.size :])
            return True

        queue.drain(store, take_if_due, limit)
        head, tail = queue.bounds(store)
        if head >= tail:
            self._drop_queue(store, product_id)
        return taken

    def _list(self, store: KeyValueStore, product_id: str) -> None:
        products = _decode_directory(store.get(DIRECTORY_KEY))
        if product_id not in products:
            store.put(DIRECTORY_KEY, _encode_directory([*products, product_id]))

    def _drop_queue(self, store: KeyValueStore, product_id: str) -> None:
        store.delete(QUEUE_PREFIX + product_id.encode())
        products = _decode_directory(store.get(DIRECTORY_KEY))
        if product_id in products:
            products.remove(product_id)
            if products:
                store.put(DIRECTORY_KEY, _encode_directory(products))
            else:
                store.delete(DIRECTORY_KEY)
