"""Analytics' payment figures on the broker-free driver: paid against reserved revenue, the
failure rate, exactly-once tallies in their changelogs, and the circuit read from payments'
real metrics (unknown when payments is not there)."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from tests.unit.analytics.test_processor import MemoryRegistry

from orderstream.serde import EnrichedOrder, EventSerde, PaymentCompleted, PaymentFailed
from orderstream.services.analytics.circuit import parse_circuit, read_circuit
from orderstream.services.analytics.events import (
    FAILED_CHANGELOG,
    PAID_CHANGELOG,
    AnalyticsTopics,
)
from orderstream.services.analytics.live import CircuitView, LiveView
from orderstream.services.analytics.payments import FAILED_STORE, PAID_STORE, TALLY, Tally
from orderstream.services.analytics.processor import AnalyticsOptions, AnalyticsProcessor
from orderstream.services.analytics.windows import WindowSpec
from orderstream.services.payments.breaker import CircuitBreaker
from orderstream.services.payments.service import register_metrics
from orderstream.testing.driver import ProcessorDriver

TOPICS = AnalyticsTopics()
T0 = 1_700_000_000_000


def serde() -> EventSerde:
    return EventSerde("http://unused", client=MemoryRegistry())  # type: ignore[arg-type]


def enriched(i: int, amount: int, status: str = "RESERVED") -> EnrichedOrder:
    return EnrichedOrder(
        f"O-{i}", "C-1", "P-1", 1, amount, "EUR", T0 + i, "p", "books", status,
        None if status == "RESERVED" else "insufficient stock", 5, T0 + i + 3,
    )  # fmt: skip


def paid(i: int, amount: int) -> PaymentCompleted:
    return PaymentCompleted(f"O-{i}", "C-1", "P-1", 1, amount, "EUR", f"pay-{i}", T0, T0 + 9)


def failed(i: int, amount: int, reason: str) -> PaymentFailed:
    return PaymentFailed(f"O-{i}", "C-1", "P-1", 1, amount, "EUR", reason, None, T0, T0 + 9)


def driver(codec: EventSerde) -> tuple[ProcessorDriver, AnalyticsProcessor]:
    options = AnalyticsOptions(window=WindowSpec(1_000, 0), idle_close_ms=None)
    processor = AnalyticsProcessor(codec, options, clock=lambda: T0 / 1000)
    return ProcessorDriver(processor), processor


def pipe(d: ProcessorDriver, codec: EventSerde, topic: str, event: Any, partition: int) -> None:
    d.pipe(topic, event.order_id.encode(), codec.encode(topic, event), partition=partition)


def test_paid_revenue_against_reserved_and_the_failure_rate() -> None:
    codec = serde()
    d, processor = driver(codec)
    amounts = {1: 1_000, 2: 2_500, 3: 4_000, 4: 700}
    for i, amount in amounts.items():
        pipe(d, codec, TOPICS.enriched, enriched(i, amount), partition=i % 2)
    pipe(d, codec, TOPICS.enriched, enriched(5, 9_999, "REJECTED"), partition=1)
    pipe(d, codec, TOPICS.paid, paid(1, 1_000), partition=1)
    pipe(d, codec, TOPICS.paid, paid(2, 2_500), partition=0)
    pipe(d, codec, TOPICS.failed, failed(3, 4_000, "DECLINED"), partition=1)
    pipe(d, codec, TOPICS.failed, failed(4, 700, "LIMIT_EXCEEDED"), partition=1)
    d.punctuate(T0)
    p = processor.live.snapshot()["payments"]
    assert p == {
        "paid": 2,
        "paidCents": 3_500,
        "failed": 2,
        "failedCents": 4_700,
        "reservedCents": 8_200,
        "paidShareOfReserved": round(3_500 / 8_200, 4),
        "failureRate": 0.5,
        "failedByReason": [
            {"reason": "DECLINED", "count": 1},
            {"reason": "LIMIT_EXCEEDED", "count": 1},
        ],
    }
    # The tallies are state of the transaction: in the store and in its changelog.
    assert Tally.from_bytes(d.store(PAID_STORE, 1)[TALLY]) == Tally(1, 1_000)
    assert Tally.from_bytes(d.store(FAILED_STORE, 1)[TALLY]).reasons == {
        "DECLINED": 1,
        "LIMIT_EXCEEDED": 1,
    }
    logged = [o for o in d.outputs(FAILED_CHANGELOG) if o.partition == 1]
    assert Tally.from_bytes(logged[-1].value).count == 2
    assert [o.partition for o in d.outputs(PAID_CHANGELOG)] == [1, 0]


def test_no_payment_yet_is_no_rate_not_zero() -> None:
    codec = serde()
    d, processor = driver(codec)
    pipe(d, codec, TOPICS.enriched, enriched(1, 1_000), partition=0)
    d.punctuate(T0)
    p = processor.live.snapshot()["payments"]
    assert (p["paid"], p["failureRate"], p["paidShareOfReserved"]) == (0, None, 0.0)


def test_the_wrong_event_on_a_payment_topic_is_dead_lettered_and_counted_nowhere() -> None:
    codec = serde()
    d, processor = driver(codec)
    pipe(d, codec, TOPICS.paid, failed(1, 500, "DECLINED"), partition=0)
    pipe(d, codec, TOPICS.failed, paid(2, 500), partition=0)
    pipe(d, codec, TOPICS.paid, paid(3, 800), partition=0)  # the pipeline goes on
    errors = [o.header_map for o in d.dlq(TOPICS.paid) + d.dlq(TOPICS.failed)]
    assert len(errors) == 2
    assert any(b"payments-completed carries PaymentCompleted, not PaymentFailed" in v
               for h in errors for v in h.values())  # fmt: skip
    d.punctuate(T0)
    p = processor.live.snapshot()["payments"]
    assert (p["paid"], p["paidCents"], p["failed"]) == (1, 800, 0)


def _payments_metrics(breaker: CircuitBreaker) -> str:
    """The text payments' /metrics serves, from the real gauges over a real breaker."""
    registry = CollectorRegistry()
    processor = SimpleNamespace(
        breaker=breaker,
        waiting=7,
        in_flight=0,
        completed=0,
        failed=0,
        expired=0,
        timeouts=0,
        purged=0,
    )
    register_metrics(SimpleNamespace(metrics=SimpleNamespace(registry=registry)), processor)  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_the_circuit_state_is_read_from_payments_metrics() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, open_ms=1_000, clock_ms=lambda: now[0])
    assert parse_circuit(_payments_metrics(breaker), "src", 1.0).state == "closed"
    breaker.record_failure("timeout")
    breaker.record_failure("timeout")
    view = parse_circuit(_payments_metrics(breaker), "src", 1.0)
    assert (view.state, view.opened, view.waiting) == ("open", 1, 7)
    now[0] = 1_500
    assert breaker.allow()
    assert parse_circuit(_payments_metrics(breaker), "src", 1.0).state == "half-open"
    assert parse_circuit("other_metric 1\n", "src", 1.0).state is None


def test_the_circuit_is_unknown_when_payments_is_down_or_silent() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    view = read_circuit(f"http://127.0.0.1:{port}/metrics")
    assert view.state is None and "payments not reachable" in view.detail
    clock = [100.0]
    live = LiveView(WindowSpec(), clock=lambda: clock[0])
    live.set_circuit(CircuitView("open", "read", 1, 0, checked_at=100.0, source="s"))
    assert live.snapshot()["circuit"]["state"] == "open"
    clock[0] = 100.0 + live.circuit_stale_s + 1  # the poller stopped reading
    stale = live.snapshot()["circuit"]
    assert stale["state"] == "unknown" and "no reading" in stale["detail"]
    live.set_circuit(view)
    assert live.snapshot()["circuit"]["state"] == "unknown"
