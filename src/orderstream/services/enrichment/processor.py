"""The enrichment processor: three input topics, two stores, exactly once on the runtime.

    orders                 -> stage 1: dedupe by orderId (``orders-seen``, co-partitioned with
                              orders), then re-keyed by productId to orders-by-product
    inventory-adjustments  -> forwarded as-is to orders-by-product (restocks share the stream)
    payments-completed,    -> forwarded as-is to orders-by-product, re-keyed by productId
    payments-failed           (payment outcomes reach the stock stage behind their order)
    orders-by-product      -> stage 2: OrderCreated: reserve stock (or park it until the first
                              restock), emit EnrichedOrder; InventoryAdjusted: add to stock;
                              a payment outcome settles or releases the reservation, and so
                              does the reservation timeout (release.py): StockReleased

Stage 1 drops an exact repeat of an orderId (a client's retry) and dead-letters a repeat that
asks for something else (``ConflictingOrder``), within a window of ``dedupe_ttl_ms`` of event
time (dedupe.py). Stock has a single writer per product because everything that changes it flows
through one partition of ``orders-by-product``, in order. An order for a known product that was
never stocked waits in the stock store until that product's first restock, or until
``park_timeout_ms`` passes and it is REJECTED with NO_STOCK_RECORD (parking.py).

Any exception raised here (undecodable bytes, an unexpected event type, an invalid restock, a
conflicting repeat) sends the record to ``<topic>.dlq`` in the same transaction; the runtime
does that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from orderstream.errors import DeserializationError
from orderstream.naming import prefixed
from orderstream.runtime import (
    KeyValueStore,
    ProcessorContext,
    PunctuateContext,
    Record,
    StoreSpec,
)
from orderstream.serde import (
    Codec,
    InventoryAdjusted,
    OrderCreated,
    PaymentCompleted,
    PaymentFailed,
)
from orderstream.services import topics as names
from orderstream.services.enrichment.dedupe import OrderWindow, Verdict
from orderstream.services.enrichment.order_wire import OrderWire
from orderstream.services.enrichment.parking import ParkedOrders
from orderstream.services.enrichment.ports import Catalog, Emitter
from orderstream.services.enrichment.release import ReleaseStage
from orderstream.services.enrichment.rules import (
    InvalidAdjustment,
    Reservation,
    Status,
    apply_restock,
    decode_stock,
    encode_int,
    no_stock_record,
    order_fingerprint,
    repartition_key,
    reserve_stock,
    stock_key,
)

APP_ID = "enrichment"
STOCK_STORE = "stock"
SEEN_STORE = "orders-seen"


class UnexpectedEvent(DeserializationError):
    """A decodable record of a type this topic does not carry."""


class MisroutedOrder(ValueError):
    """An order keyed under another key than its own (orderId, or productId after re-keying)."""


class ConflictingOrder(ValueError):
    """An orderId seen before within the dedupe window, asking for something else."""


@dataclass(frozen=True)
class EnrichmentTopics:
    """Where enrichment reads and writes; benchmarks run side-by-side copies under a prefix."""

    orders: str = names.ORDERS
    inventory_adjustments: str = names.INVENTORY_ADJUSTMENTS
    orders_by_product: str = names.ORDERS_BY_PRODUCT
    enriched_orders: str = names.ENRICHED_ORDERS
    stock_changelog: str = names.STOCK_CHANGELOG
    orders_changelog: str = names.ORDERS_CHANGELOG
    payments_completed: str = names.PAYMENTS_COMPLETED
    payments_failed: str = names.PAYMENTS_FAILED
    stock_released: str = names.STOCK_RELEASED

    def for_prefix(self, prefix: str) -> EnrichmentTopics:
        """Every topic of the copy of the pipeline named ``prefix`` (``Settings.prefix``)."""
        return EnrichmentTopics(
            **{name: prefixed(prefix, topic) for name, topic in asdict(self).items()}
        )

    def with_private_prefix(self, prefix: str) -> EnrichmentTopics:
        """The same inputs, but internal and output topics of their own."""
        return replace(
            self,
            orders_by_product=prefix + self.orders_by_product,
            enriched_orders=prefix + self.enriched_orders,
            stock_changelog=prefix + self.stock_changelog,
            orders_changelog=prefix + self.orders_changelog,
            stock_released=prefix + self.stock_released,
        )


@dataclass(frozen=True)
class EnrichmentConfig:
    """The business windows of enrichment.

    ``dedupe_ttl_ms``: how long (event time) a seen orderId is remembered; 0 turns the stage-1
    dedupe off, which only benchmarks do, to measure what it costs.
    ``park_timeout_ms``: how long (wall clock) an order waits for its product's first restock.
    """

    dedupe_ttl_ms: int = 24 * 3600 * 1000
    sweep_interval_ms: int = 1_000
    sweep_budget_chunks: int = 32  # x 64 orderIds per partition and sweep
    park_timeout_ms: int = 60_000
    # Parked orders re-evaluated per restock, and per partition and punctuation: a bound on the
    # work of one transaction, which must commit within its timeout.
    park_budget: int = 1_000
    # A RESERVED order without a payment outcome this long (wall clock) is released; payments
    # gives up a little earlier (its --deadline-ms), so a late payment never meets a release.
    reservation_timeout_ms: int = 300_000
    release_budget: int = 1_000  # reservation queue entries looked at per partition and cycle


class EnrichmentProcessor:
    """Dedupes, re-keys, reserves and enriches; business rules live in ``rules.py``."""

    def __init__(
        self,
        codec: Codec,
        catalog: Catalog,
        config: EnrichmentConfig | None = None,
        clock_ms: Callable[[], int] | None = None,
        topics: EnrichmentTopics | None = None,
        writer_schema: Callable[[int], str] | None = None,
    ) -> None:
        """``writer_schema``: the registry's text of a schema id, so that orders of the local
        schema are read from their bytes (order_wire.py); without it, through ``codec``."""
        self._catalog = catalog
        self.config = config or EnrichmentConfig()
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        t = self.topics = topics or EnrichmentTopics()
        self.input_topics = (
            t.orders,
            t.inventory_adjustments,
            t.orders_by_product,
            t.payments_completed,
            t.payments_failed,
        )
        self.stores = (
            StoreSpec(STOCK_STORE, t.stock_changelog, t.orders_by_product),
            StoreSpec(SEEN_STORE, t.orders_changelog, t.orders),
        )
        self._wire = OrderWire(codec, t.enriched_orders, writer_schema)
        self._window = OrderWindow(self.config.dedupe_ttl_ms, self.config.sweep_budget_chunks)
        self._parked = ParkedOrders()
        cfg = self.config
        self.releases = ReleaseStage(
            codec, t.stock_released, cfg.reservation_timeout_ms, cfg.release_budget, self._clock_ms
        )
        self._stage1 = self._dedupe_and_forward if self.config.dedupe_ttl_ms else self._forward
        self._next_sweep_ms = 0
        self.repeats = 0  # exact repeats dropped at stage 1
        self.parked = 0  # orders that waited for their product's first restock
        self.enriched = 0  # EnrichedOrders emitted (aborted transactions included)

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        t = self.topics
        if record.topic == t.orders_by_product:
            self._apply_to_stock(record, ctx)
        elif record.topic == t.orders:
            self._stage1(record, ctx)
        elif record.topic == t.inventory_adjustments:
            restock = self._decode(record, InventoryAdjusted)
            if restock.delta < 1:
                raise InvalidAdjustment(f"inventory delta must be positive, got {restock.delta}")
            ctx.emit(t.orders_by_product, repartition_key(restock.product_id), record.value)
        elif record.topic in (t.payments_completed, t.payments_failed):
            expected = PaymentCompleted if record.topic == t.payments_completed else PaymentFailed
            outcome = self._decode(record, expected)
            ctx.emit(t.orders_by_product, repartition_key(outcome.product_id), record.value)
        else:
            raise UnexpectedEvent(f"enrichment does not read topic {record.topic}")

    # -- stage 1: dedupe by orderId, then re-key -----------------------------------------------

    def _dedupe_and_forward(self, record: Record, ctx: ProcessorContext) -> None:
        order = self._decode(record, OrderCreated)
        if record.key != order.order_id.encode():
            raise MisroutedOrder(
                f"order {order.order_id} is keyed {record.key!r} in {record.topic}; orders must "
                "be keyed by orderId so that its repeats meet the same dedupe partition"
            )
        at_ms = min(record.timestamp_ms, self._clock_ms())
        store = ctx.store(SEEN_STORE)
        verdict = self._window.admit(store, order.order_id, order_fingerprint(order), at_ms)
        if verdict is Verdict.REPEAT:
            self.repeats += 1
            return
        if verdict is Verdict.CONFLICT:
            raise ConflictingOrder(
                f"order {order.order_id} was placed before with other content (customer, "
                f"product, quantity, amount or currency); this one (product {order.product_id}, "
                f"quantity {order.quantity}) is refused and the first one stands"
            )
        ctx.emit(self.topics.orders_by_product, repartition_key(order.product_id), record.value)

    def _forward(self, record: Record, ctx: ProcessorContext) -> None:
        ctx.emit(self.topics.orders_by_product, self._product_key(record), record.value)

    def _product_key(self, record: Record) -> bytes:
        """The productId of an order: from its header when the producer set one, else decoded.

        Stage 2 checks it against the body (``MisroutedOrder``), so a lying header can never
        give a product's stock a second writer.
        """
        for name, value in record.headers:
            if name == names.PRODUCT_HEADER and value:
                return value
        order = self._decode(record, OrderCreated)
        return repartition_key(order.product_id)

    def _decode(self, record: Record, expected: type[Any]) -> Any:
        event = self._wire.decode(record.value)
        if not isinstance(event, expected):
            raise UnexpectedEvent(
                f"{record.topic} carries {expected.__name__}, got {type(event).__name__}"
            )
        return event

    # -- stage 2: stock ------------------------------------------------------------------------

    def _apply_to_stock(self, record: Record, ctx: ProcessorContext) -> None:
        event = self._wire.decode(record.value)
        store = ctx.store(STOCK_STORE)
        if isinstance(event, InventoryAdjusted):
            self._restock(event, store, ctx)
        elif isinstance(event, OrderCreated):
            if record.key != repartition_key(event.product_id):
                raise MisroutedOrder(
                    f"order {event.order_id} of product {event.product_id} arrived "
                    f"under key {record.key!r}"
                )
            self._order(event, record.value or b"", store, ctx)
        elif isinstance(event, PaymentCompleted | PaymentFailed):
            if record.key != repartition_key(event.product_id):
                raise MisroutedOrder(
                    f"payment outcome of order {event.order_id} (product {event.product_id}) "
                    f"arrived under key {record.key!r}"
                )
            if isinstance(event, PaymentCompleted):
                self.releases.on_completed(event, store)
            else:
                self.releases.on_failed(event, store, ctx)
        else:
            raise UnexpectedEvent(f"{record.topic} cannot carry {type(event).__name__}")

    def _restock(self, event: InventoryAdjusted, store: KeyValueStore, ctx: Emitter) -> None:
        key = stock_key(event.product_id)
        before = decode_stock(store.get(key))
        store.put(key, encode_int(apply_restock(before, event.delta)))
        if before is None:  # the first stock: the orders that waited for it go first, in order
            self._serve_parked(event.product_id, store, ctx)

    def _serve_parked(self, product_id: str, store: KeyValueStore, ctx: Emitter) -> None:
        """Re-evaluate the oldest parked orders of a stocked product (the rest: next time)."""
        for value in self._parked.take(store, product_id, self.config.park_budget):
            order = self._wire.decode(value)
            self._reserve(order, value, self._catalog.lookup(product_id), store, ctx)

    def _order(self, order: OrderCreated, value: bytes, store: KeyValueStore, ctx: Emitter) -> None:
        product = self._catalog.lookup(order.product_id)
        if product is not None and (
            store.get(stock_key(order.product_id)) is None
            or self._parked.any_waiting(store, order.product_id)
        ):  # never stocked, or others wait before it: it waits
            self._parked.park(store, order.product_id, value, self._clock_ms())
            self.parked += 1
            return
        self._reserve(order, value, product, store, ctx)

    def _reserve(
        self, order: OrderCreated, value: bytes, product: Any, store: KeyValueStore, ctx: Emitter
    ) -> None:
        key = stock_key(order.product_id)
        stock = decode_stock(store.get(key)) or 0
        outcome = reserve_stock(stock, order.quantity, product_known=product is not None)
        if outcome.status is Status.RESERVED:
            store.put(key, encode_int(outcome.stock_after))
            self.releases.open(store, order.order_id, order.product_id, order.quantity)
        self._emit(order, value, product, outcome, ctx)

    def _emit(
        self, order: OrderCreated, value: bytes, product: Any, outcome: Reservation, ctx: Emitter
    ) -> None:
        """The EnrichedOrder of ``order``, whose record value is ``value``."""
        enriched = self._wire.encode_enriched(order, value, product, outcome, self._clock_ms())
        ctx.emit(self.topics.enriched_orders, order.order_id.encode(), enriched)
        self.enriched += 1

    # -- punctuation: deadlines and the dedupe sweep -----------------------------------------

    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None:
        """Serve or reject parked orders; forget orderIds past the dedupe window.

        Each walks its store from the oldest entry and stops at the first one not due, with a
        budget per partition, so one punctuation never scans a partition.
        """
        for store in ctx.stores(STOCK_STORE).values():
            self._parked_due(store, now_ms, ctx)
            self.releases.on_timeouts(store, now_ms, ctx)
        if now_ms < self._next_sweep_ms or not self.config.dedupe_ttl_ms:
            return
        behind = False
        for store in ctx.stores(SEEN_STORE).values():
            behind |= self._window.sweep(store)[1]
        # A sweep that hit its budget goes on at the next punctuation instead of waiting.
        self._next_sweep_ms = now_ms if behind else now_ms + self.config.sweep_interval_ms

    def _parked_due(self, store: KeyValueStore, now_ms: int, ctx: PunctuateContext) -> None:
        """Serve the queues of stocked products; reject orders parked past their deadline."""
        cfg = self.config
        for product_id in self._parked.products(store):
            if store.get(stock_key(product_id)) is not None:
                self._serve_parked(product_id, store, ctx)
                continue
            deadline = now_ms - cfg.park_timeout_ms
            for value in self._parked.take_expired(
                store, product_id, deadline + 1, cfg.park_budget
            ):
                order = self._wire.decode(value)
                product = self._catalog.lookup(product_id)
                outcome = (
                    no_stock_record()
                    if product is not None
                    else reserve_stock(0, order.quantity, product_known=False)
                )
                self._emit(order, value, product, outcome, ctx)
