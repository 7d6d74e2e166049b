"""The stage-1 dedupe window on the real store classes (overlay over the in-memory backend):
after 2M distinct orders on one partition a repeat of the first is still dropped, the sweep
forgets nothing inside the window and only whole chunks past it, and the memory per key is
measured."""

from __future__ import annotations

import sys

from orderstream.services.enrichment.dedupe import OrderWindow, Verdict, seen_key
from orderstream.state import MemoryBackend, TransactionalStore

DAY_MS = 24 * 3600 * 1000
ORDERS = 2_000_000
COMMIT_EVERY = 10_000  # a transaction's worth, as the runtime commits
FINGERPRINT = b"\x01" * 8


def _deep_size(backend: MemoryBackend) -> int:
    items = list(backend.items())
    return sys.getsizeof(backend._data) + sum(  # measuring the committed dict itself
        sys.getsizeof(k) + sys.getsizeof(v) for k, v in items
    )


def test_two_million_orders_later_the_first_is_still_a_repeat() -> None:
    backend = MemoryBackend()
    store = TransactionalStore(backend)
    window = OrderWindow(DAY_MS)
    t0 = 1_700_000_000_000
    step_ms = (DAY_MS - 60_000) // ORDERS  # 2M orders spread over (almost) one day
    for i in range(ORDERS):
        assert window.admit(store, f"order-{i}", FINGERPRINT, t0 + i * step_ms) is Verdict.NEW
        if i % COMMIT_EVERY == COMMIT_EVERY - 1:
            assert window.sweep(store) == (0, False)  # load never shortens the window
            store.commit(None)
    store.commit(None)
    assert window.entries(store) == ORDERS
    assert window.admit(store, "order-0", FINGERPRINT, t0 + ORDERS * step_ms) is Verdict.REPEAT
    assert window.admit(store, "order-0", b"\x02" * 8, t0 + ORDERS * step_ms) is Verdict.CONFLICT

    per_key = _deep_size(backend) / ORDERS
    print(f"\ndedupe window: {per_key:.0f} bytes per orderId (keys, values, dict, index)")
    assert per_key < 200

    # One day after the first order, the sweep forgets the oldest chunks, a budget at a time,
    # and keeps the rest.
    # Chunks hold 64 orders here: 40 of them are wholly older than one day at 2,560 steps past.
    window.admit(store, "late", FINGERPRINT, t0 + DAY_MS + 2_560 * step_ms)
    assert window.sweep(store) == (window.budget * 64, True)
    assert window.sweep(store) == ((40 - window.budget) * 64, False)
    assert store.get(seen_key("order-0")) is None
    assert store.get(seen_key(f"order-{40 * 64 - 1}")) is None
    assert store.get(seen_key(f"order-{40 * 64}")) is not None
    assert window.admit(store, f"order-{ORDERS - 1}", FINGERPRINT, t0) is Verdict.REPEAT
