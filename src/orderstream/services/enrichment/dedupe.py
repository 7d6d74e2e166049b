"""Stage 1's window of seen orderIds: exact repeats dropped, conflicting repeats refused.

One partition of the ``orders-seen`` store (co-partitioned with ``orders``, so every record of
an orderId meets the same partition) holds, for each orderId seen within the window::

    o:<12-byte blake2b of orderId>  -> 8-byte fingerprint of the order's content

and a time-ordered index of those entries, in chunks of ``CHUNK`` entries, so that forgetting
the oldest is a walk from the front and never a scan of the partition::

    i:<chunk number, 8 bytes>       -> up to CHUNK x (8-byte time, 12-byte digest), oldest
                                       first, spanning at most 1/64 of the window
    m                               -> head chunk, tail chunk, partition time (3 x 8 bytes)

Time is event time: the partition time is the largest ``orders`` record timestamp seen on the
partition (the API stamps a record when it accepts the order), capped at the wall clock so that
a record stamped in the future cannot age everything out. An entry lives until the partition time
is ``ttl_ms`` past its own time, so load never shortens the window: the window holds every
orderId of the last ``ttl_ms``, however many that is. ``sweep`` forgets whole expired chunks,
at most ``budget`` of them per call, in the same transaction as everything else.

Memory per entry, in the in-memory backends: the key and value bytes objects, the dict slot and
20 bytes of index (measured by tests/unit/services/test_enrichment_dedupe_window.py).
"""

from __future__ import annotations

import hashlib
import struct
from enum import Enum

from orderstream.state import KeyValueStore

CHUNK = 64
_ENTRY = struct.Struct(">q12s")
_META = struct.Struct(">qqq")
_CHUNK_NO = struct.Struct(">q")
META_KEY = b"m"
SEEN_PREFIX = b"o:"
INDEX_PREFIX = b"i:"


class Verdict(Enum):
    NEW = "new"  # first sighting within the window: forward it
    REPEAT = "repeat"  # the same order again (a retry): drop it
    CONFLICT = "conflict"  # the same orderId asking for something else: dead-letter it


def seen_key(order_id: str) -> bytes:
    return SEEN_PREFIX + hashlib.blake2b(order_id.encode(), digest_size=12).digest()


def _index_key(chunk: int) -> bytes:
    return INDEX_PREFIX + _CHUNK_NO.pack(chunk)


def _first_time(chunk: bytes) -> int:
    first: int = _ENTRY.unpack_from(chunk, 0)[0]
    return first


class OrderWindow:
    """The dedupe window over one store partition at a time (the store is passed in)."""

    def __init__(self, ttl_ms: int, budget: int = 32) -> None:
        self.ttl_ms = ttl_ms
        self.budget = budget
        # A chunk spans at most 1/64 of the window, so that a trickle of orders cannot keep
        # old entries alive far past the window by appending to their chunk.
        self._span = max(1, ttl_ms // 64)

    def admit(self, store: KeyValueStore, order_id: str, fingerprint: bytes, at_ms: int) -> Verdict:
        """Record a sighting of ``order_id`` stamped ``at_ms``, and say what it is."""
        key = seen_key(order_id)
        known = store.get(key)
        if known is not None:
            return Verdict.REPEAT if known == fingerprint else Verdict.CONFLICT
        head, tail, now = self._meta(store)
        now = max(now, at_ms)
        store.put(key, fingerprint)
        self._append(store, tail, _ENTRY.pack(now, key[len(SEEN_PREFIX) :]), head, now)
        return Verdict.NEW

    def _append(self, store: KeyValueStore, tail: int, entry: bytes, head: int, now: int) -> None:
        index_key = _index_key(tail)
        chunk = store.get(index_key) or b""
        if len(chunk) >= CHUNK * _ENTRY.size or (chunk and now - _first_time(chunk) >= self._span):
            tail += 1
            index_key = _index_key(tail)
            chunk = b""
        store.put(index_key, chunk + entry)
        store.put(META_KEY, _META.pack(head, tail, now))

    def _meta(self, store: KeyValueStore) -> tuple[int, int, int]:
        raw = store.get(META_KEY)
        if raw is None:
            return 0, 0, 0
        head, tail, now = _META.unpack(raw)
        return head, tail, now

    def partition_time(self, store: KeyValueStore) -> int:
        return self._meta(store)[2]

    def sweep(self, store: KeyValueStore) -> tuple[int, bool]:
        """Forget expired chunks, oldest first: (entries forgotten, whether more are due)."""
        head, tail, now = self._meta(store)
        first = head
        forgotten = 0
        while head - first < self.budget and self._expired(store, head, now):
            forgotten += self._forget(store, head)
            head += 1
        if head != first:
            store.put(META_KEY, _META.pack(head, max(tail, head), now))
        return forgotten, self._expired(store, head, now)

    def _expired(self, store: KeyValueStore, chunk_no: int, now: int) -> bool:
        chunk = store.get(_index_key(chunk_no))
        if chunk is None:  # past the tail, or an empty tail
            return False
        newest: int = _ENTRY.unpack_from(chunk, len(chunk) - _ENTRY.size)[0]
        return now - newest >= self.ttl_ms

    def _forget(self, store: KeyValueStore, chunk_no: int) -> int:
        key = _index_key(chunk_no)
        chunk = store.get(key) or b""
        for offset in range(0, len(chunk), _ENTRY.size):
            store.delete(SEEN_PREFIX + _ENTRY.unpack_from(chunk, offset)[1])
        store.delete(key)
        return len(chunk) // _ENTRY.size

    def entries(self, store: KeyValueStore) -> int:
        """How many orderIds the window holds (reads only the index's two ends)."""
        head, tail, _ = self._meta(store)
        if head > tail:
            return 0
        last = store.get(_index_key(tail))
        return (tail - head) * CHUNK + (len(last) // _ENTRY.size if last else 0)
