"""The topics the services read and write, named once (they match topology.toml)."""

from __future__ import annotations

ORDERS = "orders"
PRODUCTS = "products"
INVENTORY_ADJUSTMENTS = "inventory-adjustments"
ORDERS_BY_PRODUCT = "orders-by-product"
STOCK_CHANGELOG = "enrichment-stock-changelog"
# Enrichment's stage-1 dedupe store (orderId -> fingerprint), co-partitioned with ``orders``.
ORDERS_CHANGELOG = "enrichment-orders-changelog"
ENRICHED_ORDERS = "enriched-orders"

# Header on OrderCreated records naming the product, so enrichment can re-key an order without
# decoding it; enrichment checks it against the body when it reserves (see its processor).
PRODUCT_HEADER = "orderstream.productId"

# --- payments (issue 13) ------------------------------------------------------------------
PAYMENTS_COMPLETED = "payments-completed"  # PaymentCompleted, key orderId
PAYMENTS_FAILED = "payments-failed"  # PaymentFailed, key orderId
STOCK_RELEASED = "stock-released"  # StockReleased, key orderId (enrichment's releases)
# Payments' stores, co-partitioned with enriched-orders: orders waiting for the provider, and
# the outcome per orderId (its idempotency record).
PAYMENTS_PENDING_CHANGELOG = "payments-pending-changelog"
PAYMENTS_OUTCOMES_CHANGELOG = "payments-outcomes-changelog"


def dlq(topic: str) -> str:
    """The dead-letter topic of an input topic."""
    return f"{topic}.dlq"
