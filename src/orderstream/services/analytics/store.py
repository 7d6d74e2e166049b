"""How analytics keeps its windows in one partition of the transactional store.

Keys of one store partition (values are bytes)::

    stream-time             8-byte signed: the largest order timestamp seen
    open                    JSON list of the starts of open windows
    w:<start>               core of an open window (counts, revenue, latency buckets): b"\x01"
                            then a marshal tuple; JSON (b"{...}") in earlier releases, still read
    p:<start>:<productId>   8-byte order count of one product in an open window
    totals                  JSON running totals of closed windows, plus late orders
    model                   pickled anomaly model (snapshotted every few seconds)

Every change of a record is written through at once, so an aborted transaction (which drops the
overlay) or a record sent to the DLQ (rolled back to its savepoint) leaves nothing behind. Decoded
window cores are cached and reused only while the store still returns the bytes they came from.

Why marshal for the window core: it is rewritten on every order, and JSON-encoding it (with its
latency buckets) cost more than all the rest of counting the order; marshal writes the same
ints and dicts in C at a fraction of that. Its format is versioned (version 4 here) and read
back by every later Python.
"""

from __future__ import annotations

import json
import marshal
import struct
from dataclasses import dataclass, field
from typing import Any

from orderstream.services.analytics.latency import LatencySketch
from orderstream.services.analytics.windows import OrderFacts, WindowAggregate, WindowSpec
from orderstream.state.store import KeyValueStore

STREAM_TIME = b"stream-time"
OPEN = b"open"
TOTALS = b"totals"
MODEL = b"model"
_INT = struct.Struct(">q")
_CORE = b"\x01"  # the tag of a marshal window core
_MARSHAL_VERSION = 4


def _window_key(start: int) -> bytes:
    return b"w:" + str(start).encode()


def _product_prefix(start: int) -> bytes:
    return b"p:" + str(start).encode() + b":"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_core(window: WindowAggregate) -> bytes:
    """The stored core of an open window: everything but the product counts."""
    lat = window.latency
    core = (
        window.start_ms,
        window.end_ms,
        window.orders,
        window.reserved,
        window.rejected,
        window.revenue_cents,
        window.revenue_by_category,
        lat.buckets,
        lat.max_ms,
    )
    return _CORE + marshal.dumps(core, _MARSHAL_VERSION)


def decode_core(raw: bytes) -> WindowAggregate:
    if raw[:1] != _CORE:
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
        self.orders += window.orders
        self.reserved += window.reserved
        self.rejected += window.rejected
        self.revenue_cents += window.revenue_cents
        self.windows += 1
        for cat, cents in window.revenue_by_category.items():
            self.revenue_by_category[cat] = self.revenue_by_category.get(cat, 0) + cents

    def to_bytes(self) -> bytes:
        return _json(self.__dict__)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Totals:
        return cls(**json.loads(data)) if data else cls()


@dataclass
class _Cached:
    raw: bytes
    window: WindowAggregate


class PartitionWindows:
    """The windows of one partition, kept in its store partition."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self._cache: dict[int, _Cached] = {}
        self._keys: dict[int, bytes] = {}  # window start -> its key
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

    def _key(self, start: int) -> bytes:
        key = self._keys.get(start)
        if key is None:
            if len(self._keys) > 64:  # only the few open windows are asked for
                self._keys.clear()
            key = self._keys[start] = _window_key(start)
        return key

    def open_starts(self, store: KeyValueStore) -> list[int]:
        raw = store.get(OPEN)
        return [int(s) for s in json.loads(raw)] if raw else []

    def totals(self, store: KeyValueStore) -> Totals:
        return Totals.from_bytes(store.get(TOTALS))

    def window(self, store: KeyValueStore, start: int) -> WindowAggregate | None:
        """The open window's core (without product counts), from cache when still current."""
        raw = store.get(self._key(start))
        if raw is None:
            return None
        cached = self._cache.get(start)
        if cached is not None and cached.raw == raw:
            return cached.window
        window = decode_core(raw)
        self._cache[start] = _Cached(raw, window)
        return window

    # -- writes --------------------------------------------------------------------------------
    def is_late(self, store: KeyValueStore, order: OrderFacts) -> bool:
        now = self.stream_time(store)
        return now is not None and self.spec.is_late(order.timestamp_ms, now)

    def add(self, store: KeyValueStore, order: OrderFacts) -> None:
        """Count an order (not late) in its window and advance stream time."""
        start = self.spec.start_of(order.timestamp_ms)
        window = self.window(store, start)
        if window is None:
            window = WindowAggregate(start, self.spec.end_of(start))
            self._open(store, start)
        # Mutating the cached window is safe: it is re-keyed to the new bytes right below, and a
        # store that later returns other bytes (abort, savepoint rollback) misses the cache.
        window.add(order)
        raw = encode_core(window)
        store.put(self._key(start), raw)
        self._cache[start] = _Cached(raw, window)
        pkey = b"p:%d:%s" % (start, order.product_id.encode())
        count = store.get(pkey)
        store.put(pkey, _INT.pack((_INT.unpack(count)[0] if count else 0) + 1))
        self.advance(store, order.timestamp_ms)

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
        products = self._products(store, due)
        closed: list[WindowAggregate] = []
        totals = self.totals(store)
        for start in sorted(due):
            core = self.window(store, start)
            if core is None:
                continue
            window = core
            window.product_orders = products.get(start, {})
            closed.append(window)
            totals.add_window(window)
            store.delete(_window_key(start))
            for product in window.product_orders:
                store.delete(_product_prefix(start) + product.encode())
            self._cache.pop(start, None)
        store.put(OPEN, _json(sorted(set(starts) - set(due))))
        store.put(TOTALS, totals.to_bytes())
        return closed

    def _open(self, store: KeyValueStore, start: int) -> None:
        starts = self.open_starts(store)
        if start not in starts:
            store.put(OPEN, _json(sorted([*starts, start])))

    def _products(self, store: KeyValueStore, starts: list[int]) -> dict[int, dict[str, int]]:
        prefixes = {_product_prefix(s): s for s in starts}
        found: dict[int, dict[str, int]] = {s: {} for s in starts}
        for key, value in store.items():
            if not key.startswith(b"p:"):
                continue
            start_text, _, product = key[2:].partition(b":")
            start = prefixes.get(b"p:" + start_text + b":")
            if start is not None:
                found[start][product.decode()] = int(_INT.unpack(value)[0])
        return found
