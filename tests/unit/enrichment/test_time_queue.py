"""TimeQueue (state/time_queue.py), and the two stores that keep one: the reservations of
enrichment and the outcome retention of payments read the keys their older versions wrote."""

from __future__ import annotations

import struct

from orderstream.services.enrichment.reservations import Reservations
from orderstream.services.payments.retention import purge, record_outcome
from orderstream.state import MemoryBackend, TransactionalStore
from orderstream.state.time_queue import TimeQueue

PAIR, SEQ = struct.Struct(">qq"), struct.Struct(">q")


def store() -> TransactionalStore:
    return TransactionalStore(MemoryBackend())


def test_drain_stops_at_the_first_refused_entry_and_skips_gone_ones() -> None:
    s, queue = store(), TimeQueue(b"M", b"e:")
    for n in (1, 2, 3, 4, 5):
        queue.append(s, bytes([n]))
    s.delete(queue.entry_key(1))  # taken by someone else meanwhile
    seen: list[bytes] = []
    assert queue.drain(s, lambda e: seen.append(e) is None and e[0] < 4, budget=10) == 3
    assert seen == [b"\x01", b"\x03", b"\x04"] and queue.bounds(s) == (3, 5)
    assert queue.drain(s, lambda e: True, budget=1) == 1 and queue.bounds(s) == (4, 5)
    assert s.get(queue.entry_key(3)) is None and s.get(queue.entry_key(4)) == b"\x05"


def test_reservations_written_by_the_older_version_still_time_out() -> None:
    s = store()
    s.put(b"r:o-1", PAIR.pack(1_000, 2) + b"p-1")  # the older version's keys, by hand
    s.put(b"t:" + SEQ.pack(0), b"o-1")
    s.put(b"R", PAIR.pack(0, 1))
    reservations = Reservations()
    reservations.open(s, "o-2", "p-2", 1, deadline_ms=5_000)
    assert s.get(b"t:" + SEQ.pack(1)) == b"o-2" and s.get(b"R") == PAIR.pack(0, 2)
    assert [r.order_id for r in reservations.due(s, now_ms=2_000, budget=10)] == ["o-1"]
    assert [r.order_id for r in reservations.due(s, now_ms=5_000, budget=10)] == ["o-2"]


def test_outcomes_queued_by_the_older_version_are_purged() -> None:
    s = store()
    s.put(b"o-1", b"P")  # the older version's keys, by hand
    s.put(b"\x00q" + SEQ.pack(0), SEQ.pack(1_000) + b"o-1")
    s.put(b"\x00Q", PAIR.pack(0, 1))
    record_outcome(s, b"o-2", b"F", now_ms=3_000)
    assert s.get(b"\x00q" + SEQ.pack(1)) == SEQ.pack(3_000) + b"o-2"
    assert purge(s, now_ms=2_500, retention_ms=1_000, budget=10) == 1
    assert s.get(b"o-1") is None and s.get(b"o-2") == b"F"
    assert purge(s, now_ms=4_000, retention_ms=1_000, budget=10) == 1 and s.get(b"o-2") is None
