"""The enrichment processor on the broker-free driver: stage-1 dedupe, re-keying, restocks,
reservation, parking until the first restock, DLQ routing and the sweeps, with an in-memory
codec and catalog."""

from __future__ import annotations

from typing import Any

from orderstream.errors import DeserializationError
from orderstream.runtime import H_ERROR_CLASS, H_ERROR_MESSAGE
from orderstream.serde import EnrichedOrder, InventoryAdjusted, OrderCreated, Product
from orderstream.services.enrichment.dedupe import seen_key
from orderstream.services.enrichment.processor import EnrichmentConfig, EnrichmentProcessor
from orderstream.services.enrichment.rules import decode_int, stock_key
from orderstream.testing.driver import ProcessorDriver

TTL_MS = 10_000
# Open reservations (reservations.py) live next to the stock until their payment outcome.
RESERVATION_KEYS = {b"r:", b"t:", b"R"}
PARK_MS = 5_000


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

    def __init__(
        self, now_ms: int = 1_000_000, dedupe_ttl_ms: int = TTL_MS, park_budget: int = 1_000
    ) -> None:
        self.codec = MemoryCodec()
        self.now_ms = now_ms
        catalog = MemoryCatalog(
            Product("p1", "Lamp", "home", 1500), Product("p2", "Rug", "home", 9)
        )
        config = EnrichmentConfig(
            dedupe_ttl_ms=dedupe_ttl_ms,
            sweep_interval_ms=0,
            park_timeout_ms=PARK_MS,
            park_budget=park_budget,
        )
        self.processor = EnrichmentProcessor(
            self.codec, catalog, config, clock_ms=lambda: self.now_ms
        )
        self.driver = ProcessorDriver(self.processor)

    def send(self, topic: str, event: Any, key: bytes, at_ms: int | None = None) -> list[Any]:
        at = self.now_ms if at_ms is None else at_ms
        out = self.driver.pipe(topic, key, self.codec.encode(topic, event), timestamp_ms=at)
        forwarded = [o for o in out if o.topic == "orders-by-product"]
        for o in forwarded:
            self.driver.pipe("orders-by-product", o.key, o.value, timestamp_ms=at)
        return forwarded

    def restock(self, product_id: str, delta: int) -> None:
        self.send("inventory-adjustments", InventoryAdjusted(product_id, delta, "seed", 1), b"p")

    def enriched(self) -> list[EnrichedOrder]:
        return [self.codec.decode(o.value) for o in self.driver.outputs("enriched-orders")]

    def stock(self, product_id: str) -> int | None:
        raw = self.driver.store("stock").get(stock_key(product_id))
        return None if raw is None else decode_int(raw)


def order(order_id: str, product_id: str = "p1", quantity: int = 2, ts: int = 123) -> OrderCreated:
    return OrderCreated(order_id, "c1", product_id, quantity, 3000, "EUR", ts)


def test_orders_are_rekeyed_by_product_unchanged() -> None:
    p = Pipeline()
    forwarded = p.send("orders", order("o1"), b"o1")
    assert [(o.key, p.codec.decode(o.value).order_id) for o in forwarded] == [(b"p1", "o1")]


def test_restock_then_reserve_then_out_of_stock() -> None:
    p = Pipeline()
    p.restock("p1", 5)
    assert p.stock("p1") == 5
    p.send("orders", order("o1", quantity=3), b"o1")
    p.send("orders", order("o2", quantity=3), b"o2")
    first, second = p.enriched()
    assert (first.status, first.stock_after, first.product_name) == ("RESERVED", 2, "Lamp")
    assert (second.status, second.reject_reason) == ("REJECTED", "OUT_OF_STOCK")
    assert p.stock("p1") == 2
    # The changelog carries the stock in the format the audit parses.
    logged = [o for o in p.driver.outputs("enrichment-stock-changelog") if o.key == b"s:p1"]
    assert decode_int(logged[-1].value or b"") == 2


def test_unknown_product_is_rejected_at_once() -> None:
    p = Pipeline()
    p.send("orders", order("o1", product_id="nope"), b"o1")
    [enriched] = p.enriched()
    assert (enriched.status, enriched.reject_reason) == ("REJECTED", "UNKNOWN_PRODUCT")


def test_an_exact_repeat_is_dropped_even_restamped() -> None:
    p = Pipeline()
    p.restock("p1", 10)
    p.send("orders", order("o1"), b"o1")
    # A client's retry: the API stamps it anew, and it is still the same order.
    assert p.send("orders", order("o1", ts=999), b"o1") == []
    assert len(p.enriched()) == 1
    assert p.stock("p1") == 8
    assert p.processor.repeats == 1
    assert p.driver.dlq("orders") == []


def test_a_conflicting_repeat_goes_to_the_dlq_and_the_first_order_stands() -> None:
    p = Pipeline()
    p.restock("p1", 10)
    p.restock("p2", 10)
    p.send("orders", order("o1", product_id="p1"), b"o1")
    assert p.send("orders", order("o1", product_id="p2"), b"o1") == []
    assert p.send("orders", order("o1", product_id="p1", quantity=5), b"o1") == []
    assert [(e.order_id, e.product_id) for e in p.enriched()] == [("o1", "p1")]
    assert (p.stock("p1"), p.stock("p2")) == (8, 10)
    dead = p.driver.dlq("orders")
    assert [d.header_map[H_ERROR_CLASS] for d in dead] == [b"ConflictingOrder"] * 2
    assert b"product p2" in dead[0].header_map[H_ERROR_MESSAGE]


def test_an_order_keyed_by_something_else_than_its_id_is_dead_lettered() -> None:
    p = Pipeline()
    p.send("orders", order("o1"), b"not-o1")
    assert [d.header_map[H_ERROR_CLASS] for d in p.driver.dlq("orders")] == [b"MisroutedOrder"]
    assert p.enriched() == []


def test_poison_pills_go_to_the_dlq_of_their_topic() -> None:
    p = Pipeline()
    p.driver.pipe("orders", b"x", b"\x00garbage")
    p.send("orders", InventoryAdjusted("p1", 1, "wrong topic", 1), b"p1")
    p.send("inventory-adjustments", InventoryAdjusted("p1", -4, "shrinkage", 1), b"p1")
    assert len(p.driver.dlq("orders")) == 2
    assert len(p.driver.dlq("inventory-adjustments")) == 1
    assert p.enriched() == []
    assert p.stock("p1") is None


def test_without_dedupe_the_header_spares_the_decode_but_cannot_misroute() -> None:
    p = Pipeline(dedupe_ttl_ms=0)
    p.restock("p1", 10)
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


def test_orders_before_the_first_restock_wait_and_are_served_in_order() -> None:
    p = Pipeline()
    for i, quantity in enumerate((3, 3, 1)):
        p.send("orders", order(f"o{i}", quantity=quantity), f"o{i}".encode())
    assert p.enriched() == []  # never stocked is not out of stock: they wait
    assert p.processor.parked == 3
    p.restock("p1", 5)
    outcomes = [(e.order_id, e.status, e.stock_after) for e in p.enriched()]
    assert outcomes == [("o0", "RESERVED", 2), ("o1", "REJECTED", 2), ("o2", "RESERVED", 1)]
    assert p.stock("p1") == 1
    # Nothing of the queue is left in the store, and later orders are served at once.
    assert {k[:2] for k in p.driver.store("stock")} - RESERVATION_KEYS == {b"s:"}
    p.send("orders", order("o3", quantity=1), b"o3")
    assert p.enriched()[-1].status == "RESERVED"


def test_a_parked_order_is_rejected_no_stock_record_at_its_deadline() -> None:
    p = Pipeline()
    p.send("orders", order("o1"), b"o1")
    p.now_ms += 1_000
    p.send("orders", order("o2"), b"o2")
    p.driver.punctuate(p.now_ms - 1_000 + PARK_MS - 1)
    assert p.enriched() == []
    p.driver.punctuate(p.now_ms - 1_000 + PARK_MS)
    [first] = p.enriched()
    assert (first.order_id, first.status, first.reject_reason) == (
        "o1",
        "REJECTED",
        "NO_STOCK_RECORD",
    )
    p.restock("p1", 5)  # o2 is still waiting: the first restock serves it
    assert [(e.order_id, e.status) for e in p.enriched()] == [
        ("o1", "REJECTED"),
        ("o2", "RESERVED"),
    ]
    assert p.stock("p1") == 3


def test_the_window_is_event_time_and_the_sweep_forgets_only_what_is_past_it() -> None:
    p = Pipeline()
    t0 = p.now_ms
    p.now_ms += 100 * TTL_MS  # the wall clock caps record times: these are all in the past
    p.restock("p1", 100)
    p.send("orders", order("o1"), b"o1", at_ms=t0)
    p.send("orders", order("o2"), b"o2", at_ms=t0 + TTL_MS - 1)
    p.driver.punctuate(t0)
    assert seen_key("o1") in p.driver.store("orders-seen")  # partition time is TTL - 1 past it
    # However late in wall-clock time, a repeat within the window (event time) is dropped.
    assert p.send("orders", order("o1"), b"o1", at_ms=t0 + 1) == []
    # A record stamped at the end of o1's window ages o1 out, at the next sweep; o2 stays.
    p.send("orders", order("o3"), b"o3", at_ms=t0 + TTL_MS)
    p.driver.punctuate(p.now_ms)
    assert seen_key("o1") not in p.driver.store("orders-seen")
    assert seen_key("o2") in p.driver.store("orders-seen")
    assert p.send("orders", order("o2"), b"o2", at_ms=t0 + TTL_MS) == []
    assert len(p.send("orders", order("o1"), b"o1", at_ms=t0 + TTL_MS)) == 1  # a new order now


def test_a_long_queue_is_served_a_budget_at_a_time_and_newcomers_wait_behind_it() -> None:
    p = Pipeline(park_budget=2)
    for i in range(5):
        p.send("orders", order(f"o{i}", quantity=1), f"o{i}".encode())
    p.restock("p1", 10)
    assert [e.order_id for e in p.enriched()] == ["o0", "o1"]  # one transaction's budget
    p.send("orders", order("late", quantity=1), b"late")  # stocked, but others wait first
    assert [e.order_id for e in p.enriched()] == ["o0", "o1"]
    p.driver.punctuate(p.now_ms)
    p.driver.punctuate(p.now_ms)
    p.driver.punctuate(p.now_ms)
    assert [(e.order_id, e.stock_after) for e in p.enriched()] == [
        (f"o{i}", 9 - i) for i in range(5)
    ] + [("late", 4)]
    assert {k[:2] for k in p.driver.store("stock")} - RESERVATION_KEYS == {b"s:"}
