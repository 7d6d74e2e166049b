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


def seed_catalog(settings: Settings, products: int, stock: int) -> SeedReport:
    """Write ``products`` Product events and one InventoryAdjusted of ``stock`` for each."""
    if products < 1:
        raise OrderstreamError(f"--products must be at least 1, got {products}")
    if stock < 1:
        raise OrderstreamError(f"--stock must be at least 1 (a positive restock), got {stock}")
    began = time.monotonic()
    serde = EventSerde.from_settings(settings)
    producer = Producer(kafka_config(Role.PRODUCER, "seed", settings=settings))
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    now = int(time.time() * 1000)
    try:
        for i in range(products):
            product = catalog_product(i)
            key = product.product_id.encode()
            producer.produce(PRODUCTS, serde.encode(PRODUCTS, product), key, on_delivery=delivered)
            restock = InventoryAdjusted(product.product_id, stock, "seed", now)
            value = serde.encode(INVENTORY_ADJUSTMENTS, restock)
            producer.produce(INVENTORY_ADJUSTMENTS, value, key, on_delivery=delivered)
            producer.poll(0)
        left = producer.flush(30)
    finally:
        serde.close()
    if left or failures:
        raise OrderstreamError(
            f"seed not fully written: {left} undelivered, {len(failures)} failed"
            + (f" (first error: {failures[0]})" if failures else "")
        )
    return SeedReport(products, stock, time.monotonic() - began)
