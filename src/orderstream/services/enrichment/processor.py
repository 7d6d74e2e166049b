"""The enrichment processor: three input topics, one store, exactly once on the runtime.

    orders                 -> re-keyed by productId, forwarded as-is to orders-by-product
    inventory-adjustments  -> forwarded as-is to orders-by-product (restocks share the stream)
    orders-by-product      -> OrderCreated: dedupe, reserve stock, emit EnrichedOrder
                              InventoryAdjusted: add to stock

Stock has a single writer per product because everything that changes it flows through one
partition of ``orders-by-product`` (the store's source topic), in order. Any exception raised
here (undecodable bytes, an unexpected event type, an invalid restock) sends the record to
``<topic>.dlq`` in the same transaction; the runtime does that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from orderstream.errors import DeserializationError
from orderstream.runtime import ProcessorContext, PunctuateContext, Record, StoreSpec
from orderstream.serde import EnrichedOrder, InventoryAdjusted, OrderCreated
from orderstream.services.enrichment.rules import (
    DEDUPE_PREFIX,
    InvalidAdjustment,
    Status,
    apply_restock,
    decode_int,
    dedupe_key,
    encode_int,
    expired_dedupe_keys,
    is_duplicate,
    repartition_key,
    reserve_stock,
    stock_key,
)
from orderstream.services.topics import (
    ENRICHED_ORDERS,
    INVENTORY_ADJUSTMENTS,
    ORDERS,
    ORDERS_BY_PRODUCT,
    PRODUCT_HEADER,
    STOCK_CHANGELOG,
)

APP_ID = "enrichment"
STOCK_STORE = "stock"


class UnexpectedEvent(DeserializationError):
    """A decodable record of a type this topic does not carry."""


class MisroutedOrder(ValueError):
    """An order keyed under another product than its own (its productId header lied)."""


@dataclass(frozen=True)
class DedupeConfig:
    ttl_ms: int = 24 * 3600 * 1000
    max_entries_per_partition: int = 1_000_000
    sweep_interval_ms: int = 60_000


class Codec(Protocol):
    """What the processor needs from the serde (an ``EventSerde`` fits)."""

    def encode(self, topic: str, event: Any) -> bytes: ...

    def decode(self, data: bytes | None) -> Any: ...


class Catalog(Protocol):
    """What the processor needs from the product table (a ``ProductCatalog`` fits)."""

    def lookup(self, product_id: str) -> Any | None: ...


class EnrichmentProcessor:
    """Re-keys, reserves and enriches; business rules live in ``rules.py``."""

    input_topics: tuple[str, ...] = (ORDERS, INVENTORY_ADJUSTMENTS, ORDERS_BY_PRODUCT)
    stores: tuple[StoreSpec, ...] = (StoreSpec(STOCK_STORE, STOCK_CHANGELOG, ORDERS_BY_PRODUCT),)

    def __init__(
        self,
        codec: Codec,
        catalog: Catalog,
        dedupe: DedupeConfig | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self._codec = codec
        self._catalog = catalog
        self._dedupe = dedupe or DedupeConfig()
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._next_sweep_ms = 0
        self.duplicates = 0

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        if record.topic == ORDERS_BY_PRODUCT:
            self._apply_to_stock(record, ctx)
        elif record.topic == ORDERS:
            ctx.emit(ORDERS_BY_PRODUCT, self._product_key(record), record.value)
        elif record.topic == INVENTORY_ADJUSTMENTS:
            restock = self._decode(record, InventoryAdjusted)
            if restock.delta < 1:
                raise InvalidAdjustment(f"inventory delta must be positive, got {restock.delta}")
            ctx.emit(ORDERS_BY_PRODUCT, repartition_key(restock.product_id), record.value)
        else:
            raise UnexpectedEvent(f"enrichment does not read topic {record.topic}")

    def _product_key(self, record: Record) -> bytes:
        """The productId of an order: from its header when the producer set one, else decoded.

        Orders from our API and load generator carry the header, which saves a full decode;
        stage 2 checks it against the body (``MisroutedOrder``), so a lying header can never
        give a product's stock a second writer.
        """
        for name, value in record.headers:
            if name == PRODUCT_HEADER and value:
                return value
        order = self._decode(record, OrderCreated)
        return repartition_key(order.product_id)

    def _decode(self, record: Record, expected: type[Any]) -> Any:
        event = self._codec.decode(record.value)
        if not isinstance(event, expected):
            raise UnexpectedEvent(
                f"{record.topic} carries {expected.__name__}, got {type(event).__name__}"
            )
        return event

    def _apply_to_stock(self, record: Record, ctx: ProcessorContext) -> None:
        event = self._codec.decode(record.value)
        store = ctx.store(STOCK_STORE)
        if isinstance(event, InventoryAdjusted):
            key = stock_key(event.product_id)
            store.put(key, encode_int(apply_restock(decode_int(store.get(key)), event.delta)))
        elif isinstance(event, OrderCreated):
            if record.key != repartition_key(event.product_id):
                raise MisroutedOrder(
                    f"order {event.order_id} of product {event.product_id} arrived "
                    f"under key {record.key!r}"
                )
            self._reserve(event, store, ctx)
        else:
            raise UnexpectedEvent(f"{record.topic} cannot carry {type(event).__name__}")

    def _reserve(self, order: OrderCreated, store: Any, ctx: ProcessorContext) -> None:
        now = self._clock_ms()
        seen = store.get(dedupe_key(order.order_id))
        if is_duplicate(None if seen is None else decode_int(seen), now, self._dedupe.ttl_ms):
            self.duplicates += 1
            return
        product = self._catalog.lookup(order.product_id)
        key = stock_key(order.product_id)
        outcome = reserve_stock(
            decode_int(store.get(key)), order.quantity, product_known=product is not None
        )
        if outcome.status is Status.RESERVED:
            store.put(key, encode_int(outcome.stock_after))
        store.put(dedupe_key(order.order_id), encode_int(now))
        enriched = EnrichedOrder(
            order_id=order.order_id,
            customer_id=order.customer_id,
            product_id=order.product_id,
            quantity=order.quantity,
            amount_cents=order.amount_cents,
            currency=order.currency,
            timestamp=order.timestamp,
            product_name=product.name if product is not None else "",
            category=product.category if product is not None else "",
            status=outcome.status.value,
            reject_reason=outcome.reject_reason.value if outcome.reject_reason else None,
            stock_after=outcome.stock_after,
            enriched_at=now,
        )
        value = self._codec.encode(ENRICHED_ORDERS, enriched)
        ctx.emit(ENRICHED_ORDERS, order.order_id.encode(), value)

    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None:
        """Forget dedupe entries past their TTL, and the oldest beyond the bound."""
        if now_ms < self._next_sweep_ms:
            return
        self._next_sweep_ms = now_ms + self._dedupe.sweep_interval_ms
        for store in ctx.stores(STOCK_STORE).values():
            entries = [(k, decode_int(v)) for k, v in store.items() if k.startswith(DEDUPE_PREFIX)]
            for key in expired_dedupe_keys(
                entries, now_ms, self._dedupe.ttl_ms, self._dedupe.max_entries_per_partition
            ):
                store.delete(key)
