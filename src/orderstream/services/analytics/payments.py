"""Analytics' payment figures: paid revenue against reserved revenue, and the failure rate.

``payments-completed`` and ``payments-failed`` are counted exactly once like the orders: each
event updates the tally of its input partition in a store whose changelog is written in the
transaction of the input offset. The runtime gives a store the partitions of ONE source topic,
so each topic has its own store (``analytics-paid``, ``analytics-failed``) and changelog.

One key per store partition, ``tally``: JSON ``{"n": events, "cents": amount, "reasons":
{reason: n}}`` (reasons for failures only). A payment event is one per reserved order, so a
small JSON rewrite costs little next to the order path, which this module does not touch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from orderstream.errors import DeserializationError
from orderstream.runtime.api import Record, StoreSpec
from orderstream.serde import PaymentCompleted, PaymentFailed
from orderstream.services.analytics.events import AnalyticsTopics
from orderstream.services.analytics.windows import add_into
from orderstream.state.store import KeyValueStore

PAID_STORE = "analytics-paid"
FAILED_STORE = "analytics-failed"
TALLY = b"tally"


class UnexpectedPaymentEvent(DeserializationError):
    """A decodable record that is not the payment event of its topic."""


@dataclass
class Tally:
    """Payment events of one partition (or summed over partitions)."""

    count: int = 0
    cents: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.count += other.count
        self.cents += other.cents
        add_into(self.reasons, other.reasons)

    def to_bytes(self) -> bytes:
        data = {"n": self.count, "cents": self.cents, "reasons": self.reasons}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Tally:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            int(data["n"]), int(data["cents"]), {str(k): int(v) for k, v in data["reasons"].items()}
        )


def payment_stores(topics: AnalyticsTopics) -> tuple[StoreSpec, ...]:
    return (
        StoreSpec(PAID_STORE, topics.paid_changelog, topics.paid),
        StoreSpec(FAILED_STORE, topics.failed_changelog, topics.failed),
    )


def count_payment(
    record: Record, event: object, topics: AnalyticsTopics, store_of: Callable[[str], KeyValueStore]
) -> None:
    """Count one decoded payment event of ``record`` in its store (``store_of(name)``)."""
    if record.topic == topics.paid and isinstance(event, PaymentCompleted):
        _count(store_of(PAID_STORE), event.amount_cents, None)
    elif record.topic == topics.failed and isinstance(event, PaymentFailed):
        _count(store_of(FAILED_STORE), event.amount_cents, event.reason)
    else:
        carries = {topics.paid: "PaymentCompleted", topics.failed: "PaymentFailed"}
        raise UnexpectedPaymentEvent(
            f"{record.topic} carries {carries.get(record.topic, 'EnrichedOrder')}, "
            f"not {type(event).__name__}"
        )


def _count(store: KeyValueStore, cents: int, reason: str | None) -> None:
    tally = Tally.from_bytes(store.get(TALLY))
    tally.count += 1
    tally.cents += cents
    if reason is not None:
        tally.reasons[reason] = tally.reasons.get(reason, 0) + 1
    store.put(TALLY, tally.to_bytes())


def tallies(stores: dict[int, KeyValueStore]) -> dict[int, Tally]:
    """The tally of every assigned partition."""
    return {p: Tally.from_bytes(s.get(TALLY)) for p, s in stores.items()}


def summed(parts: Iterable[Tally]) -> Tally:
    total = Tally()
    for part in parts:
        total.add(part)
    return total


def payments_json(paid: Tally, failed: Tally, reserved_cents: int) -> dict[str, Any]:
    """The ``payments`` object of ``/api/stats``: paid against reserved, and failures."""
    decided = paid.count + failed.count
    return {
        "paid": paid.count,
        "paidCents": paid.cents,
        "failed": failed.count,
        "failedCents": failed.cents,
        "reservedCents": reserved_cents,
        # Shares are None until there is something to divide by: "no data" is not 0 %.
        "paidShareOfReserved": round(paid.cents / reserved_cents, 4) if reserved_cents else None,
        "failureRate": round(failed.count / decided, 4) if decided else None,
        "failedByReason": [
            {"reason": r, "count": n}
            for r, n in sorted(failed.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
