"""``orderstream seed``: a catalog of products and their initial stock.

Products are numbered: ``p-00000`` ... with a price derived from the number, so that the load
generator builds orders (and their amounts) for the same catalog without reading it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import OrderstreamError
from orderstream.serde import EventSerde, InventoryAdjusted, Product
from orderstream.services.topics import INVENTORY_ADJUSTMENTS, PRODUCTS

SeedEvent = Product | InventoryAdjusted
CATEGORIES = ("books", "games", "garden", "kitchen", "music", "sports", "tools", "toys")


def product_id(index: int) -> str:
    return f"p-{index:05d}"


def unit_price_cents(index: int) -> int:
    """A stable price between 1.00 and 100.99 for the product of this number."""
    return 100 + (index * 7919) % 10_000


def catalog_product(index: int) -> Product:
    return Product(
        product_id=product_id(index),
        name=f"Product {index}",
        category=CATEGORIES[index % len(CATEGORIES)],
        unit_price_cents=unit_price_cents(index),
    )


@dataclass(frozen=True)
class SeedReport:
    products: int
    stock_each: int
    seconds: float


def seed_catalog(settings: Settings, products: int, stock: int, first: int = 0) -> SeedReport:
    """Write ``products`` Product events and one InventoryAdjusted of ``stock`` for each."""
    _check(products, stock)
    return _write(
        settings, [*_products(products, first), *_restocks(products, stock, first)], stock
    )


def seed_products(settings: Settings, products: int, first: int = 0) -> SeedReport:
    """Only the catalog: products numbered from ``first``, with no stock yet."""
    _check(products, 1)
    return _write(settings, _products(products, first), 0)


def seed_stock(settings: Settings, products: int, stock: int, first: int = 0) -> SeedReport:
    """Only the initial stock of products numbered from ``first``."""
    _check(products, stock)
    return _write(settings, _restocks(products, stock, first), stock)


def _check(products: int, stock: int) -> None:
    if products < 1:
        raise OrderstreamError(f"--products must be at least 1, got {products}")
    if stock < 1:
        raise OrderstreamError(f"--stock must be at least 1 (a positive restock), got {stock}")


def _products(products: int, first: int) -> list[tuple[str, SeedEvent]]:
    return [(PRODUCTS, catalog_product(i)) for i in range(first, first + products)]


def _restocks(products: int, stock: int, first: int) -> list[tuple[str, SeedEvent]]:
    now = int(time.time() * 1000)
    return [
        (INVENTORY_ADJUSTMENTS, InventoryAdjusted(product_id(i), stock, "seed", now))
        for i in range(first, first + products)
    ]


def _write(settings: Settings, events: list[tuple[str, SeedEvent]], stock: int) -> SeedReport:
    """Produce the events keyed by productId (products before their restocks), and wait."""
    began = time.monotonic()
    serde = EventSerde.from_settings(settings)
    producer = Producer(kafka_config(Role.PRODUCER, "seed", settings=settings))
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    try:
        for logical, event in events:
            key, topic = event.product_id.encode(), settings.named(logical)
            producer.produce(topic, serde.encode(topic, event), key, on_delivery=delivered)
            producer.poll(0)
        left = producer.flush(30)
    finally:
        serde.close()
    if left or failures:
        raise OrderstreamError(
            f"seed not fully written: {left} undelivered, {len(failures)} failed"
            + (f" (first error: {failures[0]})" if failures else "")
        )
    products = len({event.product_id for _t, event in events})
    return SeedReport(products, stock, time.monotonic() - began)
