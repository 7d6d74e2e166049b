"""The outcome store's retention: an orderId's outcome is forgotten ``retention_ms`` after it
was decided, oldest first, by punctuation, never by a scan of the partition.

One partition of ``payments-outcomes`` holds, besides ``<orderId> -> P | F | X``::

    \\x00Q, \\x00q<seq> -> a TimeQueue (state/time_queue.py) of entries: decided-at (8 bytes,
                       wall clock ms) + orderId

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
from orderstream.state.time_queue import TimeQueue

_TIME = struct.Struct(">q")
QUEUE = TimeQueue(meta_key=b"\x00Q", entry_prefix=b"\x00q")


def is_outcome_key(key: bytes) -> bool:
    """An orderId's outcome, not a key of the retention queue."""
    return not key.startswith(b"\x00")


def record_outcome(store: KeyValueStore, key: bytes, outcome: bytes, now_ms: int) -> None:
    """Write the outcome of orderId ``key`` and queue it for its purge."""
    store.put(key, outcome)
    QUEUE.append(store, _TIME.pack(now_ms) + key)


def purge(store: KeyValueStore, now_ms: int, retention_ms: int, budget: int) -> int:
    """Forget the outcomes decided ``retention_ms`` or more before ``now_ms``, looking at most
    at ``budget`` entries; the number of entries taken off the queue."""

    def forget_if_due(entry: bytes) -> bool:
        (decided_at,) = _TIME.unpack_from(entry)
        if decided_at + retention_ms > now_ms:
            return False
        store.delete(entry[_TIME.size :])
        return True

    return QUEUE.drain(store, forget_if_due, budget)
