"""The outcome store's retention: an orderId's outcome is forgotten ``retention_ms`` after it
was decided, oldest first, by punctuation, never by a scan of the partition.

One partition of ``payments-outcomes`` holds, besides ``<orderId> -> P | F | X``::

    \\x00Q           -> (next entry to look at, next to append), 2 x 8 bytes
    \\x00q<seq>      -> decided-at (8 bytes, wall clock ms) + orderId

No orderId starts with a NUL byte, so these keys never meet an outcome. Entries are appended in
decision order, so the queue is in time order (up to clock steps between instances after a
rebalance, which only delay a purge) and ``purge`` stops at the first entry that is not due.

Why a retention at all: the store is the idempotency record, kept so that a RESERVED order seen
again is never paid twice. It must outlive the reservation timeout T (an outcome forgotten
while its reservation could still settle would let a repeat be paid) and enrichment's dedupe
window (within it, a repeated order never reaches payments as a second RESERVED order; after it
the outcome store is the guard). Past both, keeping every orderId forever only grows the store.
"""

from __future__ import annotations

import struct

from orderstream.state import KeyValueStore

_PAIR = struct.Struct(">qq")
_SEQ = struct.Struct(">q")
_TIME = struct.Struct(">q")
QUEUE_KEY = b"\x00Q"
ENTRY_PREFIX = b"\x00q"


def is_outcome_key(key: bytes) -> bool:
    """An orderId's outcome, not a key of the retention queue."""
    return not key.startswith(b"\x00")


def _queue(store: KeyValueStore) -> tuple[int, int]:
    raw = store.get(QUEUE_KEY)
    if raw is None:
        return 0, 0
    head, tail = _PAIR.unpack(raw)
    return int(head), int(tail)


def record_outcome(store: KeyValueStore, key: bytes, outcome: bytes, now_ms: int) -> None:
    """Write the outcome of orderId ``key`` and queue it for its purge."""
    store.put(key, outcome)
    head, tail = _queue(store)
    store.put(ENTRY_PREFIX + _SEQ.pack(tail), _TIME.pack(now_ms) + key)
    store.put(QUEUE_KEY, _PAIR.pack(head, tail + 1))


def purge(store: KeyValueStore, now_ms: int, retention_ms: int, budget: int) -> int:
    """Forget the outcomes decided ``retention_ms`` or more before ``now_ms``, looking at most
    at ``budget`` entries; the number of entries taken off the queue."""
    head, tail = _queue(store)
    start = head
    while head < tail and head - start < budget:
        entry_key = ENTRY_PREFIX + _SEQ.pack(head)
        raw = store.get(entry_key)
        if raw is not None:
            (decided_at,) = _TIME.unpack_from(raw)
            if decided_at + retention_ms > now_ms:
                break
            store.delete(raw[_TIME.size :])
            store.delete(entry_key)
        head += 1
    if head != start:
        store.put(QUEUE_KEY, _PAIR.pack(head, tail))
    return head - start
