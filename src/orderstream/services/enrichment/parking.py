"""Orders parked in the stock store until their product's first restock arrives.

Orders and restocks reach ``orders-by-product`` through different stage-1 tasks, so an order can
overtake its product's first restock (a backlog makes it likely: the restocks may land behind
thousands of orders). A product that was never stocked is not a product with stock 0, so such an
order waits here, in the same exactly-once store as the stock, in arrival order::

    w:<productId>            -> (next to release, next to park), 2 x 8 bytes
    q:<productId>\\0<seq>     -> park time (8 bytes, wall clock ms) + the order's record value
    W                        -> the productIds of this partition with parked orders

The first restock releases the product's queue (the processor re-evaluates each order, in order);
``expire`` hands back those parked for ``timeout_ms`` or more, at most ``budget`` per call, so a
deadline set by ``punctuate`` rejects them with a reason of their own. Nothing here scans the store.
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

    def release(self, store: KeyValueStore, product_id: str) -> list[bytes]:
        """Every order parked for ``product_id``, oldest first; the queue is gone afterwards."""
        header = store.get(_queue_key(product_id))
        if header is None:
            return []
        head, tail = _HEADER.unpack(header)
        values = [self._pop(store, product_id, seq) for seq in range(head, tail)]
        self._drop_queue(store, product_id)
        return [v for v in values if v is not None]

    def expire(
        self, store: KeyValueStore, now_ms: int, timeout_ms: int, budget: int
    ) -> list[tuple[str, bytes]]:
        """Up to ``budget`` orders parked ``timeout_ms`` ago or earlier, per product in order."""
        due: list[tuple[str, bytes]] = []
        for product_id in _decode_directory(store.get(DIRECTORY_KEY)):
            if len(due) >= budget:
                break
            due.extend(self._expire_one(store, product_id, now_ms - timeout_ms, budget - len(due)))
        return due

    def _expire_one(
        self, store: KeyValueStore, product_id: str, parked_before: int, budget: int
    ) -> list[tuple[str, bytes]]:
        header = store.get(_queue_key(product_id))
        if header is None:
            return []
        head, tail = _HEADER.unpack(header)
        due: list[tuple[str, bytes]] = []
        while head < tail and len(due) < budget:
            raw = store.get(_entry_key(product_id, head))
            if raw is not None and _TIME.unpack_from(raw)[0] > parked_before:
                break
            store.delete(_entry_key(product_id, head))
            if raw is not None:
                due.append((product_id, raw[_TIME.size :]))
            head += 1
        if head >= tail:
            self._drop_queue(store, product_id)
        elif due:
            store.put(_queue_key(product_id), _HEADER.pack(head, tail))
        return due

    def _pop(self, store: KeyValueStore, product_id: str, seq: int) -> bytes | None:
        key = _entry_key(product_id, seq)
        raw = store.get(key)
        store.delete(key)
        return None if raw is None else raw[_TIME.size :]

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
