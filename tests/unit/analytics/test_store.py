"""The store-backed windows against the in-memory reference, across aborts, rollbacks and the
window format of earlier releases."""

from __future__ import annotations

import marshal
import struct

from tests.unit.analytics.factories import order

from orderstream.services.analytics.store import PartitionWindows
from orderstream.services.analytics.windows import WindowedPartition, WindowSpec
from orderstream.state import MemoryBackend, TransactionalStore

SPEC = WindowSpec(size_ms=1_000, grace_ms=0)
ORDERS = [
    order(10, product="P-1", category="books", latency=3),
    order(20, product="P-2", category="toys", latency=50, status="REJECTED"),
    order(30, product="P-1", category="toys", latency=700, amount=2_500),
]


def _closed(windows: PartitionWindows, store: TransactionalStore) -> list[object]:
    windows.advance(store, 5_000)
    return windows.close_due(store)


def _reference(orders: list[object]) -> list[object]:
    ref = WindowedPartition(SPEC)
    for o in orders:
        ref.add(o)  # type: ignore[arg-type]
    ref.stream_time_ms = 5_000
    return ref.close_due()  # type: ignore[return-value]


def test_an_aborted_transaction_is_forgotten_by_the_windows_in_memory() -> None:
    store, windows = TransactionalStore(MemoryBackend()), PartitionWindows(SPEC)
    windows.add(store, ORDERS[0])
    store.commit(None)
    windows.add(store, ORDERS[1])
    store.abort()  # the second order was never committed: it is consumed again
    windows.add(store, ORDERS[2])
    assert _closed(windows, store) == _reference([ORDERS[0], ORDERS[2]])


def test_a_rolled_back_record_leaves_no_count_behind() -> None:
    store, windows = TransactionalStore(MemoryBackend()), PartitionWindows(SPEC)
    windows.add(store, ORDERS[0])
    store.savepoint()
    windows.add(store, ORDERS[1])
    store.rollback_to_savepoint()  # the record failed later on: it goes to the DLQ
    windows.add(store, ORDERS[2])
    assert _closed(windows, store) == _reference([ORDERS[0], ORDERS[2]])


def test_a_window_an_earlier_release_stored_is_read_and_continued() -> None:
    store = TransactionalStore(MemoryBackend())
    first = _reference(ORDERS[:2])[0]
    lat = first.latency  # type: ignore[attr-defined]
    core = (0, 1_000, 2, 1, 1, 1_000, {"books": 1_000}, dict(lat.buckets), lat.max_ms)
    store.put(b"w:0", b"\x01" + marshal.dumps(core, 4))
    for product, n in first.product_orders.items():  # type: ignore[attr-defined]
        store.put(b"p:0:" + product.encode(), struct.pack(">q", n))
    store.put(b"open", b"[0]")
    store.put(b"stream-time", struct.pack(">q", 20))
    store.commit(None)
    windows = PartitionWindows(SPEC)
    windows.add(store, ORDERS[2])
    store.commit(None)
    assert _closed(windows, store) == _reference(ORDERS)
    assert not [k for k in dict(store.items()) if k[:2] in (b"w:", b"c:", b"l:", b"p:")]
