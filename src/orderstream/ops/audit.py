"""``orderstream audit``: DESIGN.md's invariants, checked on the live topics (read_committed).

    1. every orderId in ``orders`` appears exactly once in ``enriched-orders`` (an order for an
       unknown product is a business outcome, REJECTED with UNKNOWN_PRODUCT, not a DLQ record;
       a conflicting repeat of an orderId is dead-lettered and its first order stands);
    2. per product, restocks (seed included) - RESERVED quantities = the stock in the changelog,
       and the changelog never holds a negative stock;
    3. (analytics) added by appending a check to ``CHECKS``;
    4. no orderId is reserved twice, whatever its productId;
    5. no order is rejected for stock (OUT_OF_STOCK, NO_STOCK_RECORD) while the stock its
       product had at the order's timestamp covered it: the restocks stamped before the order,
       minus every reservation enriched no later than the order (``enrichedAt``: stock has one
       writer per product, so that is the order in which they took stock; counting ties as
       earlier keeps the check from blaming a legitimate rejection);
    6. (payments, audit_payments.py) releases match reservations; every RESERVED order ends
       PAID or released once the reservation timeout has passed; no order is both PAID and
       released (and each has one payment outcome at most); no payment for a REJECTED order.
       Check 2 counts releases: restocks - RESERVED + released = the changelog's stock;
    -  no transaction is left hanging on the pipeline's output topics.

Checks 1, 2 and 4 cannot tell a run in which every order was wrongly rejected from a good one
(no stock is taken, so nothing is doubled or lost); check 5 can.

The pipeline may still be draining when the audit starts, so the audit reads incrementally and
re-checks until every check holds or the timeout passes; only the last verdict is reported.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import DeserializationError
from orderstream.ops.stock_bounds import wrongly_refused
from orderstream.ops.topics_reader import RawRecord, TopicFollower, open_transactions
from orderstream.serde import (
    EnrichedOrder,
    EventSerde,
    InventoryAdjusted,
    OrderCreated,
    PaymentCompleted,
    PaymentFailed,
    StockReleased,
)
from orderstream.services.enrichment.rules import decode_int, product_of_stock_key
from orderstream.services.topics import (
    ENRICHED_ORDERS,
    INVENTORY_ADJUSTMENTS,
    ORDERS,
    ORDERS_BY_PRODUCT,
    ORDERS_CHANGELOG,
    PAYMENTS_COMPLETED,
    PAYMENTS_FAILED,
    PAYMENTS_OUTCOMES_CHANGELOG,
    PAYMENTS_PENDING_CHANGELOG,
    STOCK_CHANGELOG,
    STOCK_RELEASED,
    dlq,
)

logger = logging.getLogger(__name__)

# Rejections that claim the product had too little stock (UNKNOWN_PRODUCT claims no such thing).
STOCK_REASONS = ("OUT_OF_STOCK", "NO_STOCK_RECORD")

TRANSACTIONAL_OUTPUTS = (
    ORDERS_BY_PRODUCT,
    ENRICHED_ORDERS,
    STOCK_CHANGELOG,
    ORDERS_CHANGELOG,
    dlq(ORDERS),
    dlq(INVENTORY_ADJUSTMENTS),
    dlq(ORDERS_BY_PRODUCT),
    PAYMENTS_COMPLETED,
    PAYMENTS_FAILED,
    STOCK_RELEASED,
    PAYMENTS_PENDING_CHANGELOG,
    PAYMENTS_OUTCOMES_CHANGELOG,
)
# Folded, not kept raw (like orders, restocks and the stock changelog).
_FOLDED_ONLY = (
    ORDERS,
    INVENTORY_ADJUSTMENTS,
    STOCK_CHANGELOG,
    PAYMENTS_COMPLETED,
    PAYMENTS_FAILED,
    STOCK_RELEASED,
)
# Enrichment's default; the audit is told when a run uses another (--reservation-timeout-ms).
RESERVATION_TIMEOUT_MS = 300_000


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class AuditSnapshot:
    """What the audit has read so far; ``refresh`` folds in what was committed since."""

    settings: Settings
    serde: EventSerde
    order_ids: set[str] = field(default_factory=set)
    undecodable: Counter[str] = field(default_factory=Counter)
    enriched: dict[str, EnrichedOrder] = field(default_factory=dict)
    enriched_count: Counter[str] = field(default_factory=Counter)
    reserved: Counter[str] = field(default_factory=Counter)
    restocked: Counter[str] = field(default_factory=Counter)
    stock: dict[str, int] = field(default_factory=dict)
    lowest_stock: dict[str, int] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # "RESERVED", "REJECTED/<reason>"
    reservations_of: Counter[str] = field(default_factory=Counter)  # orderId -> RESERVED records
    # productId -> [(enrichedAt, quantity)] of its RESERVED orders, and [(timestamp, delta)].
    reserved_at: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    restocked_at: dict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    stock_refusals: list[EnrichedOrder] = field(default_factory=list)
    # payments (issue 13)
    reservation_timeout_ms: int = RESERVATION_TIMEOUT_MS
    payments_deployed: bool | None = None  # None: ask the cluster (audit_payments.py)
    released: Counter[str] = field(default_factory=Counter)  # productId -> units released
    releases: dict[str, list[StockReleased]] = field(default_factory=lambda: defaultdict(list))
    paid: dict[str, list[PaymentCompleted]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, list[PaymentFailed]] = field(default_factory=lambda: defaultdict(list))
    _followers: dict[str, TopicFollower] = field(default_factory=dict)
    _records: dict[str, list[RawRecord]] = field(default_factory=dict)
    # The topics of the pipeline copy named by settings.prefix (follow() takes real names).
    _folded_only: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self._folded_only = frozenset(self.settings.named(t) for t in _FOLDED_ONLY)

    def follow(self, topic: str) -> list[RawRecord]:
        """Every committed record of ``topic`` read so far (for checks added by others)."""
        if topic not in self._followers:
            self._followers[topic] = TopicFollower(self.settings, topic)
            self._records[topic] = []
        return self._records[topic]

    def refresh(self) -> None:
        for topic, fold in (
            (ORDERS, self._fold_order),
            (ENRICHED_ORDERS, self._fold_enriched),
            (INVENTORY_ADJUSTMENTS, self._fold_restock),
            (STOCK_CHANGELOG, self._fold_stock),
            (PAYMENTS_COMPLETED, self._fold_payment),
            (PAYMENTS_FAILED, self._fold_payment_failed),
            (STOCK_RELEASED, self._fold_release),
        ):
            self.follow(self.settings.named(topic))
            for record in self._catch_up(self.settings.named(topic)):
                fold(record)
        folded = self._folded_only | {self.settings.named(ENRICHED_ORDERS)}
        for topic in self._followers:
            if topic not in folded:
                self._catch_up(topic)

    def _catch_up(self, topic: str) -> list[RawRecord]:
        fresh = self._followers[topic].catch_up()
        # Raw enriched-orders records are kept too: the analytics check needs their offsets.
        if topic not in self._folded_only:
            self._records[topic].extend(fresh)
        return fresh

    def close(self) -> None:
        for follower in self._followers.values():
            follower.close()

    def _decode(self, topic: str, record: RawRecord, expected: type[Any]) -> Any | None:
        try:
            event = self.serde.decode(record.value)
        except DeserializationError:
            self.undecodable[topic] += 1
            return None
        if not isinstance(event, expected):
            self.undecodable[topic] += 1
            return None
        return event

    def _fold_order(self, record: RawRecord) -> None:
        order = self._decode(ORDERS, record, OrderCreated)
        if order is not None:
            self.order_ids.add(order.order_id)

    def _fold_enriched(self, record: RawRecord) -> None:
        event = self._decode(ENRICHED_ORDERS, record, EnrichedOrder)
        if event is not None:
            self.add_enriched(event)

    def _fold_restock(self, record: RawRecord) -> None:
        event = self._decode(INVENTORY_ADJUSTMENTS, record, InventoryAdjusted)
        if event is not None:
            self.add_restock(event)

    def _fold_payment(self, record: RawRecord) -> None:
        if (event := self._decode(PAYMENTS_COMPLETED, record, PaymentCompleted)) is not None:
            self.paid[event.order_id].append(event)

    def _fold_payment_failed(self, record: RawRecord) -> None:
        if (event := self._decode(PAYMENTS_FAILED, record, PaymentFailed)) is not None:
            self.failed[event.order_id].append(event)

    def _fold_release(self, record: RawRecord) -> None:
        if (event := self._decode(STOCK_RELEASED, record, StockReleased)) is not None:
            self.releases[event.order_id].append(event)
            self.released[event.product_id] += event.quantity

    def add_enriched(self, event: EnrichedOrder) -> None:
        self.enriched[event.order_id] = event
        self.enriched_count[event.order_id] += 1
        if event.status == "RESERVED":
            self.outcomes["RESERVED"] += 1
            self.reserved[event.product_id] += event.quantity
            self.reservations_of[event.order_id] += 1
            self.reserved_at[event.product_id].append((event.enriched_at, event.quantity))
            return
        self.outcomes[f"REJECTED/{event.reject_reason}"] += 1
        if event.reject_reason in STOCK_REASONS:
            self.stock_refusals.append(event)

    def add_restock(self, event: InventoryAdjusted) -> None:
        if event.delta > 0:  # enrichment dead-letters the others
            self.restocked[event.product_id] += event.delta
            self.restocked_at[event.product_id].append((event.timestamp, event.delta))

    def _fold_stock(self, record: RawRecord) -> None:
        product = product_of_stock_key(record.key or b"")
        if product is None:
            return
        value = 0 if record.value is None else decode_int(record.value)
        self.stock[product] = value
        self.lowest_stock[product] = min(value, self.lowest_stock.get(product, value))


Check = Callable[[AuditSnapshot], CheckResult]


def check_enriched_exactly_once(snap: AuditSnapshot) -> CheckResult:
    missing = snap.order_ids - snap.enriched.keys()
    doubled = [oid for oid, n in snap.enriched_count.items() if n > 1]
    unknown = snap.enriched.keys() - snap.order_ids
    ok = not (missing or doubled or unknown)
    detail = (
        f"{len(snap.order_ids)} orders, {sum(snap.enriched_count.values())} enriched; "
        f"missing {len(missing)}, duplicated {len(doubled)}, not in orders {len(unknown)}"
    )
    if not ok:
        examples = sorted(missing)[:3] + sorted(doubled)[:3] + sorted(unknown)[:3]
        detail += f" (e.g. {', '.join(examples)})"
    outcomes = ", ".join(f"{name} {n}" for name, n in sorted(snap.outcomes.items()))
    detail += f"; outcomes: {outcomes or 'none'}"
    return CheckResult("1. every order enriched exactly once", ok, detail)


def check_stock_conserved(snap: AuditSnapshot) -> CheckResult:
    products = set(snap.restocked) | set(snap.reserved) | set(snap.stock)
    expected = {p: snap.restocked[p] - snap.reserved[p] + snap.released[p] for p in products}
    wrong = {
        p: (expected[p], snap.stock.get(p, 0))
        for p in products
        if expected[p] != snap.stock.get(p, 0)
    }
    negative = sorted(p for p, low in snap.lowest_stock.items() if low < 0)
    detail = (
        f"{len(products)} products, {sum(snap.restocked.values())} units stocked, "
        f"{sum(snap.reserved.values())} reserved, {sum(snap.released.values())} released, "
        f"{sum(snap.stock.values())} left; "
        f"{len(wrong)} mismatched, {len(negative)} ever negative"
    )
    if wrong:
        p, (want, have) = sorted(wrong.items())[0]
        detail += f" (e.g. {p}: expected {want}, changelog {have})"
    return CheckResult("2. stock conserved and never negative", not (wrong or negative), detail)


def check_reserved_at_most_once(snap: AuditSnapshot) -> CheckResult:
    twice = sorted(oid for oid, n in snap.reservations_of.items() if n > 1)
    detail = f"{len(snap.reservations_of)} orderIds reserved; {len(twice)} reserved more than once"
    if twice:
        products = {e.product_id for e in (snap.enriched[o] for o in twice[:3])}
        detail += f" (e.g. {', '.join(twice[:3])}; last seen for {', '.join(sorted(products))})"
    return CheckResult("4. no orderId reserved twice", not twice, detail)


def check_no_refusal_while_stocked(snap: AuditSnapshot) -> CheckResult:
    wrong = wrongly_refused(snap.stock_refusals, snap.restocked_at, snap.reserved_at)
    detail = (
        f"{len(snap.stock_refusals)} orders rejected for stock; {len(wrong)} of them while the "
        "stock at their timestamp covered them"
    )
    if wrong:
        order, available = wrong[0]
        detail += (
            f" (e.g. {order.order_id}: {order.quantity} of {order.product_id} rejected "
            f"{order.reject_reason} with at least {available} in stock at its timestamp)"
        )
    return CheckResult("5. no order refused stock it had", not wrong, detail)


def check_no_hanging_transactions(snap: AuditSnapshot) -> CheckResult:
    admin = AdminClient(kafka_config(Role.ADMIN, "audit", settings=snap.settings))
    outputs = [snap.settings.named(t) for t in TRANSACTIONAL_OUTPUTS]
    hanging = {t: open_transactions(admin, t) for t in outputs}
    hanging = {t: parts for t, parts in hanging.items() if parts}
    detail = f"{len(TRANSACTIONAL_OUTPUTS)} topics: last stable offset = log end offset"
    if hanging:
        detail = "open transactions on " + "; ".join(
            f"{t} partitions {sorted(parts)}" for t, parts in hanging.items()
        )
    return CheckResult("no hanging transactions", not hanging, detail)


def check_analytics_windows(snap: AuditSnapshot) -> CheckResult:
    from orderstream.services.analytics.audit import CHECK_NAME, check_analytics_totals
    from orderstream.services.analytics.events import AnalyticsTopics

    result = check_analytics_totals(snap, AnalyticsTopics(snap.settings.prefix))
    return CheckResult(CHECK_NAME, result.ok, result.detail)


CHECKS: list[Check] = [
    check_enriched_exactly_once,
    check_stock_conserved,
    check_analytics_windows,
    check_reserved_at_most_once,
    check_no_refusal_while_stocked,
    check_no_hanging_transactions,
]


def _payment_checks() -> list[Check]:
    from orderstream.ops.audit_payments import PAYMENT_CHECKS

    return PAYMENT_CHECKS


CHECKS += _payment_checks()


def run_audit(
    settings: Settings,
    timeout_s: float = 30.0,
    checks: list[Check] | None = None,
    reservation_timeout_ms: int = RESERVATION_TIMEOUT_MS,
) -> list[CheckResult]:
    """Check every invariant, re-reading until all hold or ``timeout_s`` has passed."""
    checks = checks if checks is not None else CHECKS
    serde = EventSerde.from_settings(settings)
    snap = AuditSnapshot(settings, serde, reservation_timeout_ms=reservation_timeout_ms)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            snap.refresh()
            results = [check(snap) for check in checks]
            if all(r.ok for r in results) or time.monotonic() > deadline:
                return results
            logger.info(
                "audit not settled yet", extra={"failing": [r.name for r in results if not r.ok]}
            )
            time.sleep(1.0)
    finally:
        snap.close()
        serde.close()


def as_json(results: list[CheckResult]) -> dict[str, object]:
    """The verdict as ``orderstream audit --json`` prints it."""
    return {"ok": all(r.ok for r in results), "checks": [r.as_json() for r in results]}
