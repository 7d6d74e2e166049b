"""A time-ordered queue inside one store partition: appended at the back, drained from the front.

Entries are appended in time order (deadlines, decision times), so whoever drains it stops at
the first entry that is not due, and a punctuation never scans the partition::

    <meta key>               -> (next entry to look at, next to append), 2 x 8 bytes
    <entry prefix><seq>      -> the entry's bytes; seq is an 8-byte big-endian counter

Enrichment's open reservations and payments' outcome retention both keep one, under keys of
their own (so their existing stores read as before).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from orderstream.state.store import KeyValueStore

_PAIR = struct.Struct(">qq")
_SEQ = struct.Struct(">q")


class TimeQueue:
    """One queue's keys; the store partition is passed to each call."""

    def __init__(self, meta_key: bytes, entry_prefix: bytes) -> None:
        self.meta_key = meta_key
        self.entry_prefix = entry_prefix

    def entry_key(self, seq: int) -> bytes:
        return self.entry_prefix + _SEQ.pack(seq)

    def bounds(self, store: KeyValueStore) -> tuple[int, int]:
        """(next entry to look at, next to append)."""
        raw = store.get(self.meta_key)
        if raw is None:
            return 0, 0
        head, tail = _PAIR.unpack(raw)
        return int(head), int(tail)

    def append(self, store: KeyValueStore, entry: bytes) -> None:
        head, tail = self.bounds(store)
        store.put(self.entry_key(tail), entry)
        store.put(self.meta_key, _PAIR.pack(head, tail + 1))

    def drain(self, store: KeyValueStore, visit: Callable[[bytes], bool], budget: int) -> int:
        """Hand the entries to ``visit``, oldest first, removing each one it accepts; stop at
        the first it refuses (not due yet) or after ``budget`` entries. An entry already gone
        is skipped. Returns how many entries were taken off the queue."""
        head, tail = self.bounds(store)
        start = head
        while head < tail and head - start < budget:
            key = self.entry_key(head)
            raw = store.get(key)
            if raw is not None:
                if not visit(raw):
                    break
                store.delete(key)
            head += 1
        if head != start:
            store.put(self.meta_key, _PAIR.pack(head, tail))
        return head - start
