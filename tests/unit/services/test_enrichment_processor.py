"""The enrichment processor on the broker-free driver: re-keying, restocks, reservation, dedupe,
DLQ routing and the dedupe sweep, with an in-memory codec and catalog."""

from __future__ import annotations

from typing import Any

from orderstream.errors import DeserializationError
from orderstream.serde import EnrichedOrder, InventoryAdjusted, OrderCreated, Product
from orderstream.services.enrichment.processor import DedupeConfig, EnrichmentProcessor
from orderstream.services.enrichment.rules import decode_int, dedupe_key, stock_key
from orderstream.testing.driver import ProcessorDriver


class MemoryCodec:
    """Events <-> opaque tokens; unknown bytes are undecodable, as with the real serde."""

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


class MemoryCatalog:
    def __init__(self, *products: Product) -> None:
        self.products = {p.product_id: p for p in products}

    def lookup(self, product_id: str) -> Product | None:
        return self.products.get(product_id)


class Pipeline:
    """Drives both stages: what stage 1 emits to orders-by-product is piped into stage 2."""

    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.codec = MemoryCodec()
        self.now_ms = now_ms
        catalog = MemoryCatalog(Product("p1", "Lamp", "home", 1500))
        processor = EnrichmentProcessor(
            self.codec,
            catalog,
            DedupeConfig(ttl_ms=10_000, max_entries_per_partition=100, sweep_interval_ms=0),
            clock_ms=lambda: self.now_ms,
        )
        self.driver = ProcessorDriver(processor)

    def send(self, topic: str, event: Any, key: bytes) -> list[Any]:
        out = self.driver.pipe(topic, key, self.codec.encode(topic, event))
        forwarded = [o for o in out if o.topic == "orders-by-product"]
        for o in forwarded:
            self.driver.pipe("orders-by-product", o.key, o.value)
        return forwarded

    def enriched(self) -> list[EnrichedOrder]:
        return [self.codec.decode(o.value) for o in self.driver.outputs("enriched-orders")]

    def stock(self, product_id: str) -> int:
        return decode_int(self.driver.store("stock").get(stock_key(product_id)))


def order(order_id: str, product_id: str = "p1", quantity: int = 2) -> OrderCreated:
    return OrderCreated(order_id, "c1", product_id, quantity, 3000, "EUR", 123)


def test_orders_are_rekeyed_by_product_unchanged() -> None:
    p = Pipeline()
    forwarded = p.send("orders", order("o1"), b"o1")
    assert [(o.key, p.codec.decode(o.value).order_id) for o in forwarded] == [(b"p1", "o1")]


def test_restock_then_reserve_then_out_of_stock() -> None:
    p = Pipeline()
    p.send("inventory-adjustments", InventoryAdjusted("p1", 5, "seed", 1), b"p1")
    assert p.stock("p1") == 5
    p.send("orders", order("o1", quantity=3), b"o1")
    p.send("orders", order("o2", quantity=3), b"o2")
    first, second = p.enriched()
    assert (first.status, first.stock_after, first.product_name) == ("RESERVED", 2, "Lamp")
    assert (second.status, second.reject_reason) == ("REJECTED", "OUT_OF_STOCK")
    assert p.stock("p1") == 2
    # The changelog carries the stock in the format the audit parses.
    logged = [o for o in p.driver.outputs("enrichment-stock-changelog") if o.key == b"s:p1"]
    assert decode_int(logged[-1].value) == 2


def test_unknown_product_is_rejected() -> None:
    p = Pipeline()
    p.send("orders", order("o1", product_id="nope"), b"o1")
    [enriched] = p.enriched()
    assert (enriched.status, enriched.reject_reason) == ("REJECTED", "UNKNOWN_PRODUCT")


def test_repeated_order_id_is_reserved_once() -> None:
    p = Pipeline()
    p.send("inventory-adjustments", InventoryAdjusted("p1", 10, "seed", 1), b"p1")
    p.send("orders", order("o1"), b"o1")
    p.send("orders", order("o1"), b"o1")
    assert len(p.enriched()) == 1
    assert p.stock("p1") == 8


def test_poison_pills_go_to_the_dlq_of_their_topic() -> None:
    p = Pipeline()
    p.driver.pipe("orders", b"x", b"\x00garbage")
    p.send("orders", InventoryAdjusted("p1", 1, "wrong topic", 1), b"p1")
    p.send("inventory-adjustments", InventoryAdjusted("p1", -4, "shrinkage", 1), b"p1")
    assert len(p.driver.dlq("orders")) == 2
    assert len(p.driver.dlq("inventory-adjustments")) == 1
    assert p.enriched() == []
    assert p.stock("p1") == 0


def test_product_header_spares_the_decode_but_cannot_misroute() -> None:
    p = Pipeline()
    p.send("inventory-adjustments", InventoryAdjusted("p1", 10, "seed", 1), b"p1")
    value = p.codec.encode("orders", order("o1"))
    [forwarded] = p.driver.pipe("orders", b"o1", value, headers=[("orderstream.productId", b"p1")])
    assert (forwarded.key, forwarded.value) == (b"p1", value)
    p.driver.pipe("orders-by-product", forwarded.key, forwarded.value)
    assert [e.order_id for e in p.enriched()] == ["o1"]
    # A header naming another product: the order reaches that product's partition, and is
    # dead-lettered there instead of touching the other product's stock.
    lying = p.codec.encode("orders", order("o2", product_id="p1"))
    [moved] = p.driver.pipe("orders", b"o2", lying, headers=[("orderstream.productId", b"p9")])
    p.driver.pipe("orders-by-product", moved.key, moved.value)
    assert len(p.driver.dlq("orders-by-product")) == 1
    assert [e.order_id for e in p.enriched()] == ["o1"]
    assert p.stock("p1") == 8


def test_sweep_forgets_expired_dedupe_entries() -> None:
    p = Pipeline()
    p.send("inventory-adjustments", InventoryAdjusted("p1", 10, "seed", 1), b"p1")
    p.send("orders", order("o1"), b"o1")
    assert dedupe_key("o1") in p.driver.store("stock")
    p.driver.punctuate(p.now_ms + 5_000)
    assert dedupe_key("o1") in p.driver.store("stock")
    p.driver.punctuate(p.now_ms + 10_000)
    assert dedupe_key("o1") not in p.driver.store("stock")
    assert stock_key("p1") in p.driver.store("stock")
