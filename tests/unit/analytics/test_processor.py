"""The analytics processor without a broker: real serde (in-memory registry), real overlay store."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import pytest

from orderstream.runtime.api import Record
from orderstream.serde import EnrichedOrder, EventSerde
from orderstream.services.analytics.events import LATE_ORDERS, ORDER_ALERTS, ORDER_STATS
from orderstream.services.analytics.model import ModelConfig
from orderstream.services.analytics.processor import STORE, AnalyticsOptions, AnalyticsProcessor
from orderstream.services.analytics.windows import WindowSpec
from orderstream.state import MemoryBackend, TransactionalStore
from orderstream.state.store import KeyValueStore
from orderstream.testing.registry import MemoryRegistry


class Ctx:
    """Both contexts: per-record store and emit, and all stores for punctuate."""

    def __init__(self, partitions: int) -> None:
        self.partitions = {p: TransactionalStore(MemoryBackend()) for p in range(partitions)}
        self.current = 0
        self.out: list[tuple[str, bytes | None, bytes | None]] = []
        self.pending: list[tuple[str, bytes | None, bytes | None]] = []

    def store(self, name: str) -> KeyValueStore:
        assert name == STORE
        return self.partitions[self.current]

    def stores(self, name: str) -> dict[int, KeyValueStore]:
        return dict(self.partitions)

    def emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        self.pending.append((topic, key, value))

    def commit(self) -> None:
        for s in self.partitions.values():
            s.commit(None)
        self.out += self.pending
        self.pending = []

    def abort(self) -> None:
        for s in self.partitions.values():
            s.abort()
        self.pending = []


_offsets = itertools.count()
SPEC = WindowSpec(size_ms=1_000, grace_ms=500)


@pytest.fixture
def serde() -> EventSerde:
    return EventSerde("http://unused", client=MemoryRegistry())  # type: ignore[arg-type]


def enriched(serde: EventSerde, ts: int, amount: int = 1_000, quantity: int = 1) -> bytes:
    order = EnrichedOrder(
        order_id=f"O-{ts}-{amount}",
        customer_id="C-1",
        product_id=f"P-{ts % 3}",
        quantity=quantity,
        amount_cents=amount,
        currency="EUR",
        timestamp=ts,
        product_name="thing",
        category=["books", "games"][ts % 2],
        status="RESERVED" if ts // 10 % 5 else "REJECTED",
        reject_reason=None if ts // 10 % 5 else "out of stock",
        stock_after=3,
        enriched_at=ts + 7,
    )
    return serde.encode("enriched-orders", order)


def feed(proc: AnalyticsProcessor, ctx: Ctx, serde: EventSerde, partition: int, ts: int) -> None:
    ctx.current = partition
    value = enriched(serde, ts)
    proc.process(Record("enriched-orders", partition, next(_offsets), b"k", value), ctx)


def stats_out(ctx: Ctx, serde: EventSerde) -> list[dict[str, object]]:
    return [{"key": k, "stats": serde.decode(v)} for t, k, v in ctx.out if t == ORDER_STATS]


def make(serde: EventSerde) -> AnalyticsProcessor:
    return AnalyticsProcessor(serde, AnalyticsOptions(window=SPEC, idle_close_ms=None))


def test_windows_close_once_with_exact_totals(serde: EventSerde) -> None:
    proc, ctx = make(serde), Ctx(2)
    for ts in range(0, 3_000, 10):
        feed(proc, ctx, serde, ts // 10 % 2, ts)
        if ts % 500 == 0:
            proc.punctuate(ts, ctx)
            ctx.commit()
    proc.punctuate(3_000, ctx)
    ctx.commit()
    out = stats_out(ctx, serde)
    keys = [o["key"] for o in out]
    assert len(keys) == len(set(keys))
    # stream time 2_990 closes windows [0, 1000) and [1000, 2000) (they close at 1500, 2500)
    assert sorted(keys) == [b"0-0", b"0-1", b"1000-0", b"1000-1"]
    first = [o["stats"] for o in out if o["stats"].window_start == 0]
    assert sum(s.orders for s in first) == 100
    assert sum(s.rejected for s in first) == 20
    expected_revenue = sum(1_000 for ts in range(0, 1_000, 10) if ts // 10 % 5)
    assert sum(s.revenue_cents for s in first) == expected_revenue
    assert first[0].latency_p50_ms == pytest.approx(7, rel=0.03)


def test_late_orders_go_to_the_late_topic_not_into_windows(serde: EventSerde) -> None:
    proc, ctx = make(serde), Ctx(1)
    feed(proc, ctx, serde, 0, 100)
    feed(proc, ctx, serde, 0, 1_600)  # closes [0, 1000)
    feed(proc, ctx, serde, 0, 200)  # late
    proc.punctuate(0, ctx)
    ctx.commit()
    [late] = [v for t, _, v in ctx.out if t == LATE_ORDERS]
    assert serde.decode(late).timestamp == 200
    [stats] = [o["stats"] for o in stats_out(ctx, serde)]
    assert stats.orders == 1
    assert proc.live.snapshot()["totals"]["late"] == 1


def test_aborted_cycle_is_not_counted_twice(serde: EventSerde) -> None:
    """An abort drops the overlay; replaying the same records must give the same totals."""
    proc, ctx = make(serde), Ctx(1)
    for ts in range(0, 500, 10):
        feed(proc, ctx, serde, 0, ts)
    proc.punctuate(0, ctx)
    ctx.commit()
    for ts in range(500, 900, 10):
        feed(proc, ctx, serde, 0, ts)
    ctx.abort()
    for ts in range(500, 900, 10):  # the runtime replays what the aborted cycle did
        feed(proc, ctx, serde, 0, ts)
    feed(proc, ctx, serde, 0, 1_600)
    proc.punctuate(0, ctx)
    ctx.commit()
    [stats] = [o["stats"] for o in stats_out(ctx, serde)]
    assert stats.orders == 90


def test_planted_outlier_raises_an_alert(serde: EventSerde) -> None:
    options = AnalyticsOptions(window=SPEC, model=ModelConfig(window_size=50), idle_close_ms=None)
    proc, ctx = AnalyticsProcessor(serde, options), Ctx(1)
    for i in range(300):
        ctx.current = 0
        value = enriched(serde, i, amount=1_000 + (i % 7) * 100, quantity=1 + i % 3)
        proc.process(Record("enriched-orders", 0, i, b"k", value), ctx)
    value = enriched(serde, 301, amount=90_000_000, quantity=500)
    proc.process(Record("enriched-orders", 0, 301, b"k", value), ctx)
    proc.punctuate(0, ctx)
    ctx.commit()
    alerts = [serde.decode(v) for t, _, v in ctx.out if t == ORDER_ALERTS]
    assert [a.amount_cents for a in alerts] == [90_000_000]
    assert alerts[0].score >= 0.9
    snapshot = proc.live.snapshot()
    assert snapshot["alerts"][0]["amountCents"] == 90_000_000
    json.dumps(snapshot)  # the live view is plain JSON


def test_model_is_snapshotted_and_restored(serde: EventSerde) -> None:
    proc, ctx = make(serde), Ctx(1)
    for ts in range(0, 400, 1):
        feed(proc, ctx, serde, 0, ts)
    proc.punctuate(0, ctx)
    ctx.commit()
    again = make(serde)
    ctx.current = 0
    assert again._model(0, ctx.store(STORE)).seen == 400
    lenient = AnalyticsProcessor(
        serde, AnalyticsOptions(window=SPEC, model=ModelConfig(threshold=0.99), idle_close_ms=None)
    )
    assert lenient._model(0, ctx.store(STORE)).config.threshold == 0.99
