"""How analytics keeps its windows in one partition of the transactional store.

Keys of one store partition (values are bytes)::

    stream-time             8-byte signed: the largest order timestamp seen
    open                    JSON list of the starts of open windows
    w:<start>               counters of an open window: b"\x02" then 7 signed 8-byte ints (start,
                            end, orders, reserved, rejected, revenue, latency max); earlier
                            releases kept the whole core here (b"\x01" + marshal, or JSON):
                            still read, and rewritten in today's keys at the window's next order
    c:<start>:<category>    8-byte revenue of one category in an open window
    l:<start>:<bucket>      8-byte count of one latency bucket in an open window
    p:<start>:<productId>   8-byte order count of one product in an open window
    totals                  JSON running totals of closed windows, plus late orders
    model                   pickled anomaly model (snapshotted every few seconds)

Every change of a record is written through at once, so an aborted transaction (which drops the
overlay) or a record sent to the DLQ (rolled back to its savepoint) leaves nothing behind, and
any commit (the runtime also commits without a punctuation: on a rebalance, before a restore)
holds every counted order.

Why one key per counter: an order changes four numbers of its window, and rewriting the whole
core (with its latency buckets and categories) per order cost more than all the rest of
counting it; now an order costs four fixed-size packs. The overlay keeps one value per key, so
each key still goes out to the changelog once per commit: a few more records than one core per
window (a category and a latency bucket are keys now), each of 8 bytes.

Each open window is kept decoded in memory, whole (with its product counts), and trusted only
while the store still returns the counter bytes it last wrote: an abort, a rollback or a
restore changes them (the order count only grows), and the window is read back from the store.
"""

from __future__ import annotations

import json
import marshal
import struct
from dataclasses import dataclass, field
from typing import Any

from orderstream.services.analytics.latency import LatencySketch
from orderstream.services.analytics.windows import (
    RESERVED,
    OrderFacts,
    WindowAggregate,
    WindowSpec,
    add_into,
)
from orderstream.state.store import KeyValueStore

STREAM_TIME = b"stream-time"
OPEN = b"open"
TOTALS = b"totals"
MODEL = b"model"
_INT = struct.Struct(">q")
_COUNTERS = struct.Struct(">7q")
_CORE = b"\x01"  # the tag of a marshal window core (earlier releases)
_TAG = b"\x02"  # the tag of today's counters
# The per-window keys besides the counters: categories, latency buckets, products.
_PARTS = (b"c", b"l", b"p")


def _window_key(start: int) -> bytes:
    return b"w:" + str(start).encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_counters(window: WindowAggregate) -> bytes:
    """The ``w:<start>`` value: the window's scalar counters."""
    return _TAG + _COUNTERS.pack(
        window.start_ms,
        window.end_ms,
        window.orders,
        window.reserved,
        window.rejected,
        window.revenue_cents,
        window.latency.max_ms,
    )


def decode_counters(raw: bytes) -> WindowAggregate:
    """A window from its ``w:<start>`` value; the dicts only when an older release wrote it."""
    tag = raw[:1]
    if tag == _TAG:
        s, e, n, ok, no, rev, max_ms = _COUNTERS.unpack_from(raw, 1)
        return WindowAggregate(s, e, n, ok, no, rev, latency=LatencySketch({}, max_ms))
    if tag != _CORE:
        return WindowAggregate.from_core_json(json.loads(raw))
    s, e, n, ok, no, rev, cat, buckets, max_ms = marshal.loads(memoryview(raw)[1:])
    return WindowAggregate(s, e, n, ok, no, rev, dict(cat), latency=LatencySketch(buckets, max_ms))


@dataclass
class Totals:
    """Running totals of one partition: closed windows, and late orders."""

    orders: int = 0
    reserved: int = 0
    rejected: int = 0
    revenue_cents: int = 0
    late: int = 0
    windows: int = 0
    revenue_by_category: dict[str, int] = field(default_factory=dict)

    def add_window(self, window: WindowAggregate) -> None:
        self.add_orders(window)
        self.windows += 1

    def add_orders(self, counted: Totals | WindowAggregate) -> None:
        """Add the order counts and revenue of other totals or of a window (not its late
        orders, nor a count of windows)."""
        self.orders += counted.orders
        self.reserved += counted.reserved
        self.rejected += counted.rejected
        self.revenue_cents += counted.revenue_cents
        add_into(self.revenue_by_category, counted.revenue_by_category)

    def to_bytes(self) -> bytes:
        return _json(self.__dict__)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Totals:
        return cls(**json.loads(data)) if data else cls()


class _OpenWindow:
    """An open window in memory, the counter bytes it was last stored as, and its keys."""

    __slots__ = ("keys", "legacy", "raw", "start", "window")

    def __init__(self, window: WindowAggregate, raw: bytes | None, legacy: bool = False) -> None:
        self.window = window
        self.start = window.start_ms
        self.raw = raw
        self.legacy = legacy  # read from an earlier release's core: rewrite every part once
        self.keys: dict[bytes, dict[Any, bytes]] = {part: {} for part in _PARTS}

    def key(self, part: bytes, name: object) -> bytes:
        """The store key of one entry of a part (cached: an order writes three)."""
        key = self.keys[part].get(name)
        if key is None:
            key = self.keys[part][name] = b"%s:%d:%s" % (part, self.start, str(name).encode())
        return key

    def parts(self) -> dict[bytes, dict[Any, int]]:
        """The window's dicts, by the part of the key that holds their entries."""
        w = self.window
        dicts = (w.revenue_by_category, w.latency.buckets, w.product_orders)
        return dict(zip(_PARTS, dicts, strict=True))

    def part_keys(self) -> list[bytes]:
        return [self.key(part, name) for part, d in self.parts().items() for name in d]


class PartitionWindows:
    """The windows of one partition, kept in its store partition."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self._open: dict[int, _OpenWindow] = {}
        self._wkeys: dict[int, bytes] = {}  # window start -> its counters' key
        # The last stream time read or written, and the bytes it came from (as for windows).
        self._time_raw: bytes | None = None
        self._time: int | None = None

    # -- reads ---------------------------------------------------------------------------------
    def stream_time(self, store: KeyValueStore) -> int | None:
        raw = store.get(STREAM_TIME)
        if raw is not self._time_raw:
            self._time_raw = raw
            self._time = None if raw is None else int(_INT.unpack(raw)[0])
        return self._time

    def _wkey(self, start: int) -> bytes:
        key = self._wkeys.get(start)
        if key is None:
            if len(self._wkeys) > 64:  # only the few open windows are asked for
                self._wkeys.clear()
            key = self._wkeys[start] = _window_key(start)
        return key

    def open_starts(self, store: KeyValueStore) -> list[int]:
        raw = store.get(OPEN)
        return [int(s) for s in json.loads(raw)] if raw else []

    def totals(self, store: KeyValueStore) -> Totals:
        return Totals.from_bytes(store.get(TOTALS))

    def window(self, store: KeyValueStore, start: int) -> WindowAggregate | None:
        """The open window, whole (with product counts); the caller must not change it."""
        current = self._current(store, start)
        return None if current is None else current.window

    def _current(self, store: KeyValueStore, start: int) -> _OpenWindow | None:
        """The open window in memory, read back from the store unless still current."""
        raw = store.get(self._wkey(start))
        current = self._open.get(start)
        if current is not None and current.raw == raw:
            return current
        if raw is None:
            self._open.pop(start, None)
            return None
        window = decode_counters(raw)
        current = self._open[start] = _OpenWindow(window, raw, legacy=raw[:1] != _TAG)
        self._read_parts(store, current)
        return current

    def _read_parts(self, store: KeyValueStore, current: _OpenWindow) -> None:
        """Fill a window read back from the store with its per-key parts."""
        dicts = current.parts()
        prefix = b":%d:" % current.start
        for key, value in store.items():
            part, sep, name = key[:1], key[1 : len(prefix) + 1], key[len(prefix) + 1 :]
            target = dicts.get(part) if sep == prefix else None
            if target is not None:
                n = int(_INT.unpack(value)[0])
                target[int(name) if part == b"l" else name.decode()] = n

    # -- writes --------------------------------------------------------------------------------
    def add(self, store: KeyValueStore, order: OrderFacts) -> bool:
        """Count an order in its window and advance stream time; False (and nothing written)
        when that window has closed: the order is late."""
        ts = order.timestamp_ms
        now = self.stream_time(store)
        start = self.spec.start_of(ts)
        if now is not None and self.spec.is_closed(start, now):
            return False
        current = self._current(store, start)
        if current is None:
            current = self._open[start] = _OpenWindow(
                WindowAggregate(start, self.spec.end_of(start)), None
            )
            self._open_start(store, start)
        window = current.window
        bucket = window.add(order)
        put, pack, keys = store.put, _INT.pack, current.keys
        if current.legacy:
            self._put_parts(store, current)
        else:
            if order.status == RESERVED:
                cat = order.category
                put(
                    keys[b"c"].get(cat) or current.key(b"c", cat),
                    pack(window.revenue_by_category[cat]),
                )
            put(
                keys[b"l"].get(bucket) or current.key(b"l", bucket),
                pack(window.latency.buckets[bucket]),
            )
            product = order.product_id
            put(
                keys[b"p"].get(product) or current.key(b"p", product),
                pack(window.product_orders[product]),
            )
        current.raw = raw = encode_counters(window)
        put(self._wkey(start), raw)
        if now is None or ts > now:
            self._time_raw = raw = pack(ts)
            self._time = ts
            put(STREAM_TIME, raw)
        return True

    def _put_parts(self, store: KeyValueStore, current: _OpenWindow) -> None:
        """Write every part of a window an earlier release stored as one core."""
        for part, d in current.parts().items():
            for name, n in d.items():
                store.put(current.key(part, name), _INT.pack(n))
        current.legacy = False

    def advance(self, store: KeyValueStore, stream_time: int) -> None:
        """Move stream time forward (never back)."""
        now = self.stream_time(store)
        if now is None or stream_time > now:
            raw = _INT.pack(stream_time)
            store.put(STREAM_TIME, raw)
            self._time_raw, self._time = raw, stream_time

    def count_late(self, store: KeyValueStore) -> None:
        totals = self.totals(store)
        totals.late += 1
        store.put(TOTALS, totals.to_bytes())

    def close_due(self, store: KeyValueStore) -> list[WindowAggregate]:
        """Remove the windows closed at the current stream time; full aggregates, oldest first."""
        now = self.stream_time(store)
        starts = self.open_starts(store)
        due = [s for s in starts if now is not None and self.spec.is_closed(s, now)]
        if not due:
            return []
        closed: list[WindowAggregate] = []
        totals = self.totals(store)
        for start in sorted(due):
            current = self._current(store, start)
            if current is None:
                continue
            closed.append(current.window)
            totals.add_window(current.window)
            for key in (self._wkey(start), *current.part_keys()):
                store.delete(key)
            del self._open[start]
        store.put(OPEN, _json(sorted(set(starts) - set(due))))
        store.put(TOTALS, totals.to_bytes())
        return closed

    def _open_start(self, store: KeyValueStore, start: int) -> None:
        starts = self.open_starts(store)
        if start not in starts:
            store.put(OPEN, _json(sorted([*starts, start])))
