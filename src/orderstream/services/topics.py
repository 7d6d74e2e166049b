"""The topics the services read and write, named once (they match topology.toml)."""

from __future__ import annotations

ORDERS = "orders"
PRODUCTS = "products"
INVENTORY_ADJUSTMENTS = "inventory-adjustments"
ORDERS_BY_PRODUCT = "orders-by-product"
STOCK_CHANGELOG = "enrichment-stock-changelog"
ENRICHED_ORDERS = "enriched-orders"


def dlq(topic: str) -> str:
    """The dead-letter topic of an input topic."""
    return f"{topic}.dlq"
