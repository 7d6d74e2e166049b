"""The payments processor: RESERVED orders in, one payment outcome per orderId out, exactly once.

    enriched-orders (RESERVED) -> pending store -> provider, in a bounded pool -> outcome store
                                                   -> payments-completed | payments-failed

``process`` only records a RESERVED order in the ``payments-pending`` store (its changelog is
written in the same transaction as the input offset), so the poll loop never waits for the
provider and an order that was consumed is never lost. ``punctuate``, once per commit cycle,
starts provider calls for waiting orders (at most ``max_in_flight`` at a time, and only while the
circuit lets them through), and turns every call that answered into its outcome: the pending
entry goes, the outcome is written to ``payments-outcomes`` and the event is emitted, all in
one transaction. So only completed payments are committed, and a crash before that commit
leaves the order pending: the next owner calls the provider again with the same idempotency key
(the orderId) and gets the same answer. An orderId with an outcome is never paid again.

An order still waiting ``payment_deadline_ms`` after its reservation is given up silently
(a call that answers later is voided): enrichment's reservation timeout T, longer, releases
its stock, so the order is never both paid and released. That holds only while the deadline is
below T, so a configuration with a deadline at or above T is refused at start-up; an order
consumed when it is already past its deadline (payments was down or behind) is given up at
once, without a provider call. Each punctuation gives up overdue orders before it collects
answers, so no answer is ever turned into a payment past the deadline.

Outcomes are forgotten ``outcome_retention_ms`` after their decision (retention.py), by the
same punctuation. Pending orders are found
again after a rebalance, a restart or an aborted transaction by re-reading the (small) pending
store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from orderstream.errors import ConfigError, DeserializationError
from orderstream.naming import prefixed
from orderstream.runtime import KeyValueStore, ProcessorContext, PunctuateContext, Record, StoreSpec
from orderstream.serde import Codec, EnrichedOrder, PaymentCompleted, PaymentFailed
from orderstream.services.payments.breaker import CircuitBreaker
from orderstream.services.payments.provider import (
    Answer,
    Approved,
    PaymentProvider,
    PaymentRequest,
)
from orderstream.services.payments.retention import purge, record_outcome
from orderstream.services.topics import (
    ENRICHED_ORDERS,
    PAYMENTS_COMPLETED,
    PAYMENTS_FAILED,
    PAYMENTS_OUTCOMES_CHANGELOG,
    PAYMENTS_PENDING_CHANGELOG,
)

logger = logging.getLogger(__name__)

APP_ID = "payments"
PENDING_STORE = "payments-pending"
OUTCOMES_STORE = "payments-outcomes"
PAID, FAILED, EXPIRED = b"P", b"F", b"X"


class UnexpectedEvent(DeserializationError):
    """A decodable record of a type enriched-orders does not carry."""


DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class PaymentsConfig:
    """``payment_deadline_ms`` must stay below enrichment's reservation timeout (checked
    against ``reservation_timeout_ms``, enrichment's default unless told; None: not known)."""

    payment_deadline_ms: int = 240_000
    reservation_timeout_ms: int | None = 300_000
    # >= T and >= enrichment's dedupe window (24 h by default): see retention.py.
    outcome_retention_ms: int = 2 * DAY_MS
    purge_budget: int = 1_000  # queue entries a punctuation looks at per partition
    call_timeout_ms: int = 2_000
    # Calls finish in a commit cycle at the earliest (outcomes are collected by punctuation), so
    # throughput is about max_in_flight / (provider latency + commit interval).
    max_in_flight: int = 256
    retry_ms: int = 500
    rescan_interval_ms: int = 5_000
    breaker_failures: int = 5
    breaker_open_ms: int = 5_000

    def __post_init__(self) -> None:
        t = self.reservation_timeout_ms
        if self.payment_deadline_ms <= 0:
            raise ConfigError(f"--deadline-ms must be positive, got {self.payment_deadline_ms}")
        if t is not None and self.payment_deadline_ms >= t:
            raise ConfigError(
                f"--deadline-ms {self.payment_deadline_ms} is not below the reservation timeout "
                f"T = {t} ms: a payment could complete after enrichment released its stock. "
                "Give payments a deadline below enrichment's --reservation-timeout-ms (leave "
                "a margin for enrichment's lag), or pass payments the T enrichment runs with."
            )
        floor = max(t or 0, self.payment_deadline_ms)
        if self.outcome_retention_ms < floor:
            raise ConfigError(
                f"--outcome-retention-ms {self.outcome_retention_ms} is below {floor} ms (the "
                "reservation timeout): an outcome would be forgotten while its order can still "
                "settle; keep it at least T and enrichment's dedupe window (24 h by default)"
            )


@dataclass
class Waiting:
    """A pending order of this instance and its provider call, if one is running."""

    partition: int
    order: EnrichedOrder
    call: Future[Answer] | None = None
    started_ms: int = 0
    retry_at_ms: int = 0


class PaymentsProcessor:
    """See the module docstring; the provider's rules live behind ``PaymentProvider``."""

    def __init__(
        self,
        codec: Codec,
        provider: PaymentProvider,
        pool: Executor,
        config: PaymentsConfig | None = None,
        clock_ms: Callable[[], int] | None = None,
        prefix: str = "",  # Settings.prefix: this copy of the pipeline's topics
    ) -> None:
        self._codec = codec
        self._provider = provider
        self._pool = pool
        self.config = cfg = config or PaymentsConfig()
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.breaker = CircuitBreaker(cfg.breaker_failures, cfg.breaker_open_ms, self._clock_ms)
        enriched = prefixed(prefix, ENRICHED_ORDERS)
        self._completed = prefixed(prefix, PAYMENTS_COMPLETED)
        self._failed = prefixed(prefix, PAYMENTS_FAILED)
        self.input_topics = (enriched,)
        self.stores = (
            StoreSpec(PENDING_STORE, prefixed(prefix, PAYMENTS_PENDING_CHANGELOG), enriched),
            StoreSpec(OUTCOMES_STORE, prefixed(prefix, PAYMENTS_OUTCOMES_CHANGELOG), enriched),
        )
        self._waiting: dict[str, Waiting] = {}  # by orderId, oldest first
        self._running: set[Future[Answer]] = set()  # calls holding a worker, abandoned included
        self._scanned: dict[int, KeyValueStore] = {}
        self._next_rescan_ms = 0
        self.completed = self.failed = self.expired = self.purged = 0
        self.calls = self.timeouts = self.unavailable = 0

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        order = self._codec.decode(record.value)
        if not isinstance(order, EnrichedOrder):
            raise UnexpectedEvent(f"{record.topic} carries EnrichedOrder, got {type(order)}")
        if order.status != "RESERVED":
            return  # no payment for a REJECTED order
        key = order.order_id.encode()
        pending = ctx.store(PENDING_STORE)
        if ctx.store(OUTCOMES_STORE).get(key) is not None or pending.get(key) is not None:
            return  # already paid, failed or waiting: the provider is never asked twice
        now_ms = self._clock_ms()
        if now_ms > order.enriched_at + self.config.payment_deadline_ms:
            self._give_up(order, ctx.store(OUTCOMES_STORE), now_ms, "consumed past its deadline")
            return
        pending.put(key, record.value or b"")
        entry = self._waiting[order.order_id] = Waiting(record.partition, order)
        if self.in_flight < self.config.max_in_flight and self.breaker.allow():
            self._call(entry, now_ms)  # at once: punctuation collects the answer

    # -- punctuation: calls, outcomes, deadlines ----------------------------------------------

    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None:
        pending = ctx.stores(PENDING_STORE)
        outcomes = ctx.stores(OUTCOMES_STORE)
        self._rescan(pending, now_ms)
        for order_id, entry in list(self._waiting.items()):
            store = pending.get(entry.partition)
            if store is None or store.get(order_id.encode()) is None:
                del self._waiting[order_id]  # revoked, or decided in a committed cycle
            elif now_ms > entry.order.enriched_at + self.config.payment_deadline_ms:
                self._expire(entry, store, outcomes[entry.partition], now_ms)
        self._start_calls(now_ms)
        for entry in list(self._waiting.values()):
            if entry.call is not None:
                p = entry.partition
                self._collect(entry, now_ms, pending[p], outcomes[p], ctx)
        cfg = self.config
        for store in outcomes.values():
            self.purged += purge(store, now_ms, cfg.outcome_retention_ms, cfg.purge_budget)

    def _rescan(self, pending: dict[int, KeyValueStore], now_ms: int) -> None:
        """Find pending orders this instance does not track: after an assignment, a restart or
        an aborted transaction (its store writes are undone, our memory is not)."""
        due = now_ms >= self._next_rescan_ms
        for partition, store in pending.items():
            if not due and self._scanned.get(partition) is store:
                continue
            self._scanned[partition] = store
            for key, value in store.items():
                if key.decode() not in self._waiting:
                    order = self._codec.decode(value)
                    self._waiting[order.order_id] = Waiting(partition, order)
        if due:
            self._next_rescan_ms = now_ms + self.config.rescan_interval_ms

    def _start_calls(self, now_ms: int) -> None:
        for entry in self._waiting.values():
            if self.in_flight >= self.config.max_in_flight:
                return
            if entry.call is not None or entry.retry_at_ms > now_ms:
                continue
            if not self.breaker.allow():
                return  # open: the orders wait, in order
            self._call(entry, now_ms)

    def _call(self, entry: Waiting, now_ms: int) -> None:
        o = entry.order
        request = PaymentRequest(o.order_id, o.customer_id, o.amount_cents, o.currency)
        call = entry.call = self._pool.submit(self._provider.pay, request)
        self._running.add(call)
        call.add_done_callback(self._running.discard)
        entry.started_ms = now_ms
        self.calls += 1

    def _collect(
        self,
        entry: Waiting,
        now_ms: int,
        store: KeyValueStore,
        outcomes: KeyValueStore,
        ctx: PunctuateContext,
    ) -> None:
        call = entry.call
        assert call is not None
        if not call.done():
            if now_ms - entry.started_ms >= self.config.call_timeout_ms:
                self.timeouts += 1
                self._retry_later(
                    entry, now_ms, f"no answer within {self.config.call_timeout_ms} ms"
                )
            return
        error = call.exception()
        if error is not None:
            self.unavailable += 1
            self._retry_later(entry, now_ms, f"{type(error).__name__}: {error}")
            return
        self.breaker.record_success()
        self._decide(entry, call.result(), now_ms, store, outcomes, ctx)

    def _retry_later(self, entry: Waiting, now_ms: int, reason: str) -> None:
        self.breaker.record_failure(reason)
        entry.call = None
        entry.retry_at_ms = now_ms + self.config.retry_ms

    def _decide(
        self,
        entry: Waiting,
        answer: Answer,
        now_ms: int,
        store: KeyValueStore,
        outcomes: KeyValueStore,
        ctx: PunctuateContext,
    ) -> None:
        o = entry.order
        key = o.order_id.encode()
        store.delete(key)
        del self._waiting[o.order_id]
        if isinstance(answer, Approved):
            record_outcome(outcomes, key, PAID, now_ms)
            event: Any = PaymentCompleted(
                o.order_id, o.customer_id, o.product_id, o.quantity, o.amount_cents,
                o.currency, answer.payment_id, o.enriched_at, now_ms,
            )  # fmt: skip
            ctx.emit(self._completed, key, self._codec.encode(self._completed, event))
            self.completed += 1
            return
        record_outcome(outcomes, key, FAILED, now_ms)
        event = PaymentFailed(
            o.order_id, o.customer_id, o.product_id, o.quantity, o.amount_cents, o.currency,
            answer.reason, answer.detail, o.enriched_at, now_ms,
        )  # fmt: skip
        ctx.emit(self._failed, key, self._codec.encode(self._failed, event))
        self.failed += 1

    def _expire(
        self, entry: Waiting, store: KeyValueStore, outcomes: KeyValueStore, now_ms: int
    ) -> None:
        """Past the deadline: give up (enrichment's timeout releases the stock) and void any
        answer still coming, so that the order is never both paid and released."""
        store.delete(entry.order.order_id.encode())
        del self._waiting[entry.order.order_id]
        self._give_up(entry.order, outcomes, now_ms, "no answer before the deadline")

    def _give_up(
        self, order: EnrichedOrder, outcomes: KeyValueStore, now_ms: int, why: str
    ) -> None:
        record_outcome(outcomes, order.order_id.encode(), EXPIRED, now_ms)
        self._pool.submit(self._provider.void, order.order_id)
        self.expired += 1
        logger.warning(
            f"payment given up: {why}; the reservation timeout releases its stock",
            extra={"orderId": order.order_id, "deadline_ms": self.config.payment_deadline_ms},
        )
