"""Enrichment's releases on the broker-free driver: a PaymentFailed or the reservation timeout
gives the stock back exactly once, through the stock stage (single writer per product); a
PaymentCompleted settles the reservation, so a later timeout releases nothing."""

from __future__ import annotations

from typing import Any

from orderstream.errors import DeserializationError
from orderstream.serde import (
    InventoryAdjusted,
    OrderCreated,
    PaymentCompleted,
    PaymentFailed,
    Product,
    StockReleased,
)
from orderstream.services.enrichment.processor import EnrichmentConfig, EnrichmentProcessor
from orderstream.services.enrichment.rules import decode_int, stock_key
from orderstream.testing.driver import ProcessorDriver

TIMEOUT_MS = 30_000


class MemoryCodec:
    def __init__(self) -> None:
        self.events: dict[bytes, Any] = {}

    def encode(self, topic: str, event: Any) -> bytes:
        token = f"{topic}#{len(self.events)}".encode()
        self.events[token] = event
        return token

    def decode(self, data: bytes | None) -> Any:
        if data not in self.events:
            raise DeserializationError("unknown bytes")
        return self.events[data]


class Catalog:
    def lookup(self, product_id: str) -> Product | None:
        return Product(product_id, "Lamp", "home", 1500) if product_id == "p1" else None


class Pipeline:
    def __init__(self) -> None:
        self.now = 1_000_000
        self.codec = MemoryCodec()
        config = EnrichmentConfig(reservation_timeout_ms=TIMEOUT_MS, release_budget=100)
        self.processor = EnrichmentProcessor(
            self.codec, Catalog(), config, clock_ms=lambda: self.now
        )
        self.driver = ProcessorDriver(self.processor)

    def send(self, topic: str, event: Any, key: bytes) -> None:
        out = self.driver.pipe(topic, key, self.codec.encode(topic, event), timestamp_ms=self.now)
        for o in out:
            if o.topic == "orders-by-product":
                self.driver.pipe("orders-by-product", o.key, o.value, timestamp_ms=self.now)

    def order(self, order_id: str, quantity: int = 2) -> None:
        event = OrderCreated(order_id, "c1", "p1", quantity, 3000, "EUR", self.now)
        self.send("orders", event, order_id.encode())

    def paid(self, order_id: str, quantity: int = 2) -> None:
        event = PaymentCompleted(order_id, "c1", "p1", quantity, 3000, "EUR", "x", 1, self.now)
        self.send("payments-completed", event, order_id.encode())

    def failed(self, order_id: str, quantity: int = 2) -> None:
        event = PaymentFailed(
            order_id, "c1", "p1", quantity, 3000, "EUR", "DECLINED", None, 1, self.now
        )
        self.send("payments-failed", event, order_id.encode())

    def stock(self) -> int:
        return decode_int(self.driver.store("stock")[stock_key("p1")])

    def releases(self) -> list[StockReleased]:
        return [self.codec.decode(o.value) for o in self.driver.outputs("stock-released")]


def stocked(units: int = 10) -> Pipeline:
    p = Pipeline()
    p.send("inventory-adjustments", InventoryAdjusted("p1", units, "seed", 1), b"p1")
    return p


def test_a_failed_payment_releases_the_stock_once() -> None:
    p = stocked()
    p.order("o1")
    assert p.stock() == 8
    p.failed("o1")
    p.failed("o1")  # a repeat finds nothing to release
    p.now += TIMEOUT_MS + 1
    p.driver.punctuate(p.now)  # nor does the timeout
    assert p.stock() == 10
    (released,) = p.releases()
    assert (released.order_id, released.quantity, released.reason, released.detail) == (
        "o1", 2, "PAYMENT_FAILED", "DECLINED",
    )  # fmt: skip
    assert released.stock_after == 10
    assert p.driver.outputs("stock-released")[0].key == b"o1"


def test_a_completed_payment_keeps_the_stock_taken() -> None:
    p = stocked()
    p.order("o1")
    p.paid("o1")
    p.now += TIMEOUT_MS + 1
    p.driver.punctuate(p.now)
    p.failed("o1")  # an outcome after the settlement changes nothing
    assert p.stock() == 8 and p.releases() == []
    assert p.processor.releases.settled == 1


def test_no_outcome_within_the_timeout_releases_only_the_due_orders() -> None:
    p = stocked()
    p.order("o1")
    p.now += TIMEOUT_MS // 2
    p.order("o2", quantity=3)
    p.order("o3", quantity=1)
    p.paid("o3", quantity=1)
    assert p.stock() == 4
    p.now += TIMEOUT_MS // 2
    p.driver.punctuate(p.now)
    assert [(r.order_id, r.reason) for r in p.releases()] == [("o1", "RESERVATION_TIMEOUT")]
    p.now += TIMEOUT_MS // 2
    p.driver.punctuate(p.now)
    p.driver.punctuate(p.now)
    assert [r.order_id for r in p.releases()] == ["o1", "o2"]
    assert p.stock() == 9  # o3 was paid
    p.failed("o2", quantity=3)  # late: released already
    assert p.stock() == 9
    # Nothing is left behind but the stock: the queue was walked to its end.
    assert set(p.driver.store("stock")) == {stock_key("p1"), b"R"}


def test_released_stock_serves_the_next_order() -> None:
    p = stocked(units=2)
    p.order("o1")
    p.order("o2")
    p.failed("o1")
    p.order("o3")
    statuses = [p.codec.decode(o.value).status for o in p.driver.outputs("enriched-orders")]
    assert statuses == ["RESERVED", "REJECTED", "RESERVED"]


def test_a_payment_outcome_of_the_wrong_type_goes_to_the_dlq() -> None:
    p = stocked()
    event = PaymentCompleted("o1", "c1", "p1", 1, 1, "EUR", "x", 1, 1)
    p.driver.pipe("payments-failed", b"o1", p.codec.encode("payments-failed", event))
    assert len(p.driver.dlq("payments-failed")) == 1
