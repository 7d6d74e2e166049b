"""Orders parked in the stock store until their product's first restock arrives.

Orders and restocks reach ``orders-by-product`` through different stage-1 tasks, so an order can
overtake its product's first restock (a backlog makes it likely: the restocks may land behind
thousands of orders). A product that was never stocked is not a product with stock 0, so such an
order waits here, in the same exactly-once store as the stock, in arrival order::

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

_HEADER = struct.Struct(">qq")
_TIME = struct.Struct(">q")
_LEN = struct.Struct(">I")
QUEUE_PREFIX = b"w:"
ENTRY_PREFIX = b"q:"
DIRECTORY_KEY = b"W"


def _queue_key(product_id: str) -> bytes:
    return QUEUE_PREFIX + product_id.encode()


def _entry_key(product_id: str, seq: int) -> bytes:
    return ENTRY_PREFIX + product_id.encode() + b"\0" + _TIME.pack(seq)


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
        key = _queue_key(product_id)
        header = store.get(key)
        if header is None:
            head = tail = 0
            self._list(store, product_id)
        else:
            head, tail = _HEADER.unpack(header)
        store.put(_entry_key(product_id, tail), _TIME.pack(now_ms) + value)
        store.put(key, _HEADER.pack(head, tail + 1))

    def waiting(self, store: KeyValueStore, product_id: str) -> int:
        header = store.get(_queue_key(product_id))
        if header is None:
            return 0
        head, tail = _HEADER.unpack(header)
        return int(tail - head)

    def products(self, store: KeyValueStore) -> list[str]:
        """The products of this partition with parked orders."""
        return _decode_directory(store.get(DIRECTORY_KEY))

    def take(self, store: KeyValueStore, product_id: str, limit: int) -> list[bytes]:
        """Up to ``limit`` of the orders parked for ``product_id``, oldest first, removed."""
        return [value for _at, value in self._take(store, product_id, limit, None)]

    def take_expired(
        self, store: KeyValueStore, product_id: str, parked_before: int, limit: int
    ) -> list[bytes]:
        """Up to ``limit`` orders parked before ``parked_before``, oldest first, removed."""
        return [value for _at, value in self._take(store, product_id, limit, parked_before)]

    def _take(
        self, store: KeyValueStore, product_id: str, limit: int, parked_before: int | None
    ) -> list[tuple[int, bytes]]:
        header = store.get(_queue_key(product_id))
        if header is None:
            return []
        head, tail = _HEADER.unpack(header)
        taken: list[tuple[int, bytes]] = []
        while head < tail and len(taken) < limit:
            raw = store.get(_entry_key(product_id, head)) or b""
            at: int = _TIME.unpack_from(raw)[0] if raw else 0
            if parked_before is not None and at >= parked_before:
                break
            store.delete(_entry_key(product_id, head))
            taken.append((at, raw[_TIME.size :]))
            head += 1
        if head >= tail:
            self._drop_queue(store, product_id)
        elif taken:
            store.put(_queue_key(product_id), _HEADER.pack(head, tail))
        return taken

    def _list(self, store: KeyValueStore, product_id: str) -> None:
        products = _decode_directory(store.get(DIRECTORY_KEY))
        if product_id not in products:
            store.put(DIRECTORY_KEY, _encode_directory([*products, product_id]))

    def _drop_queue(self, store: KeyValueStore, product_id: str) -> None:
        store.delete(_queue_key(product_id))
        products = _decode_directory(store.get(DIRECTORY_KEY))
        if product_id in products:
            products.remove(product_id)
            if products:
                store.put(DIRECTORY_KEY, _encode_directory(products))
            else:
                store.delete(DIRECTORY_KEY)
