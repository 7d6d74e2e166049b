"""Small builders for analytics unit tests."""

from __future__ import annotations

import itertools

from orderstream.services.analytics.windows import OrderFacts

_ids = itertools.count()


def order(
    ts: int,
    *,
    status: str = "RESERVED",
    amount: int = 1_000,
    quantity: int = 1,
    product: str = "P-1",
    category: str = "books",
    latency: int = 5,
    customer: str = "C-1",
) -> OrderFacts:
    return OrderFacts(
        order_id=f"O-{next(_ids)}",
        customer_id=customer,
        product_id=product,
        category=category,
        status=status,
        quantity=quantity,
        amount_cents=amount,
        timestamp_ms=ts,
        enriched_at_ms=ts + latency,
    )
