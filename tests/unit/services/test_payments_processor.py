"""The payments rules on the broker-free driver: idempotency by orderId, the provider's
deterministic rules, the circuit breaker (orders wait while it is open), call timeouts,
the payment deadline and recovery of pending orders from the store."""

from __future__ import annotations

import struct
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from orderstream.errors import ConfigError, DeserializationError
from orderstream.serde import EnrichedOrder, PaymentCompleted, PaymentFailed
from orderstream.services.payments.breaker import BreakerState, CircuitBreaker
from orderstream.services.payments.processor import (
    OUTCOMES_STORE,
    PENDING_STORE,
    PaymentsConfig,
    PaymentsProcessor,
)
from orderstream.services.payments.provider import (
    Answer,
    Approved,
    Declined,
    PaymentRequest,
    ProviderRules,
    ProviderUnavailable,
    SimulatedProvider,
    customer_limit,
    decide,
)
from orderstream.services.payments.retention import is_outcome_key
from orderstream.testing.driver import ProcessorDriver

NOW = 1_000_000


class MemoryCodec:
    def __init__(self) -> None:
        self.events: dict[bytes, Any] = {}

    def encode(self, topic: str, event: Any) -> bytes:
        token = f"{topic}#{len(self.events)}".encode()
        self.events[token] = event
        return token

    def decode(self, data: bytes | None) -> Any:
        if data not in self.events:
            raise DeserializationError("unknown bytes")
        return self.events[data]


class InlinePool(Executor):
    """Runs a call at once, or holds it until ``release`` (a slow provider)."""

    def __init__(self) -> None:
        self.hold = False
        self.held: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        if self.hold:
            self.held.append((fut, fn, args))
            return fut
        self._run(fut, fn, args)
        return fut

    @staticmethod
    def _run(fut: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fut.set_result(fn(*args))
        except Exception as exc:
            fut.set_exception(exc)

    def release(self) -> None:
        for fut, fn, args in self.held:
            self._run(fut, fn, args)
        self.held.clear()


class ScriptedProvider:
    """Answers from a script per orderId; raises ProviderUnavailable while ``down``."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.answers = answers or {}
        self.down = False
        self.calls: list[str] = []
        self.voided: list[str] = []

    def pay(self, request: PaymentRequest) -> Answer:
        self.calls.append(request.order_id)
        if self.down:
            raise ProviderUnavailable("down")
        return self.answers.get(request.order_id, Approved("pay-" + request.order_id))

    def void(self, order_id: str) -> None:
        self.voided.append(order_id)

    def close(self) -> None:
        pass


class Payments:
    def __init__(self, provider: Any = None, **config: Any) -> None:
        self.now = NOW
        self.codec = MemoryCodec()
        self.pool = InlinePool()
        self.provider = provider or ScriptedProvider()
        cfg = PaymentsConfig(**{"payment_deadline_ms": 60_000, "retry_ms": 0, **config})
        self.processor = PaymentsProcessor(
            self.codec, self.provider, self.pool, cfg, clock_ms=lambda: self.now
        )
        self.driver = ProcessorDriver(self.processor)

    def reserve(
        self, order_id: str, status: str = "RESERVED", partition: int = 0, age_ms: int = 0
    ) -> None:
        order = EnrichedOrder(
            order_id, "c1", "p1", 2, 3000, "EUR", self.now - 10 - age_ms, "Lamp", "home", status,  # type: ignore[arg-type]
            None if status == "RESERVED" else "OUT_OF_STOCK", 5, self.now - age_ms,
        )  # fmt: skip
        value = self.codec.encode("enriched-orders", order)
        self.driver.pipe("enriched-orders", order_id.encode(), value, partition=partition)

    def tick(self, advance_ms: int = 100) -> None:
        self.now += advance_ms
        self.driver.punctuate(self.now)

    def outcomes(self, partition: int = 0) -> dict[bytes, bytes]:
        """The outcome per orderId (without the retention queue's keys)."""
        stored = self.driver.store(OUTCOMES_STORE, partition)
        return {k: v for k, v in stored.items() if is_outcome_key(k)}

    def events(self, topic: str) -> list[Any]:
        return [self.codec.decode(o.value) for o in self.driver.outputs(topic)]


def test_a_reserved_order_is_paid_once_and_keyed_by_order_id() -> None:
    p = Payments()
    p.reserve("o1")
    assert p.driver.store(PENDING_STORE)  # consumed: waiting, committed with the offset
    p.tick()
    p.reserve("o1")  # a duplicate of the enriched order
    p.tick()
    p.tick()
    paid = p.events("payments-completed")
    assert [(e.order_id, e.payment_id, e.quantity) for e in paid] == [("o1", "pay-o1", 2)]
    assert isinstance(paid[0], PaymentCompleted)
    assert p.driver.outputs("payments-completed")[0].key == b"o1"
    assert p.provider.calls == ["o1"]
    assert p.driver.store(PENDING_STORE) == {}
    assert p.outcomes() == {b"o1": b"P"}


def test_rejected_orders_are_never_paid() -> None:
    p = Payments()
    p.reserve("o1", status="REJECTED")
    p.tick()
    assert p.provider.calls == [] and p.driver.outputs() == []


def test_a_declined_payment_fails_with_its_reason() -> None:
    p = Payments(ScriptedProvider({"o1": Declined("LIMIT_EXCEEDED", "too much")}))
    p.reserve("o1")
    p.tick()
    (failed,) = p.events("payments-failed")
    assert isinstance(failed, PaymentFailed)
    assert (failed.reason, failed.detail, failed.reserved_at) == ("LIMIT_EXCEEDED", "too much", NOW)
    assert p.processor.breaker.state is BreakerState.CLOSED  # an answer is not a failure


def test_an_undecodable_record_goes_to_the_dlq() -> None:
    p = Payments()
    p.driver.pipe("enriched-orders", b"x", b"\x00garbage")
    assert len(p.driver.dlq("enriched-orders")) == 1


def test_while_the_circuit_is_open_orders_wait_then_are_paid() -> None:
    provider = ScriptedProvider()
    provider.down = True
    p = Payments(provider, breaker_failures=2, breaker_open_ms=1_000, max_in_flight=1)
    for i in range(5):
        p.reserve(f"o{i}")
    p.tick()
    p.tick()  # two failures in a row: open
    assert p.processor.breaker.state is BreakerState.OPEN
    calls = len(provider.calls)
    p.tick()
    p.tick()
    assert len(provider.calls) == calls  # open: no calls, nothing failed, nothing lost
    assert p.driver.outputs("payments-failed") == [] and p.processor.waiting == 5
    p.tick(1_000)  # half-open: one probe, still down -> open again
    assert len(provider.calls) == calls + 1
    assert p.processor.breaker.state is BreakerState.OPEN
    provider.down = False
    for _ in range(12):
        p.tick(1_000)
    assert sorted(e.order_id for e in p.events("payments-completed")) == [f"o{i}" for i in range(5)]
    assert p.processor.breaker.state is BreakerState.CLOSED


def test_a_slow_call_times_out_opens_the_circuit_and_is_retried_idempotently() -> None:
    p = Payments(breaker_failures=1, breaker_open_ms=500, call_timeout_ms=1_000)
    p.pool.hold = True
    p.reserve("o1")
    p.tick()
    assert p.processor.in_flight == 1
    p.tick(1_000)
    assert p.processor.breaker.state is BreakerState.OPEN and p.processor.timeouts == 1
    p.pool.hold = False
    p.tick(500)  # half-open probe: the retry, same idempotency key
    assert p.provider.calls == ["o1"]  # the held call never ran; the retry did
    assert [e.order_id for e in p.events("payments-completed")] == ["o1"]
    p.pool.release()  # the abandoned call answers late: ignored
    p.tick()
    assert len(p.events("payments-completed")) == 1


def test_an_order_past_its_deadline_is_given_up_and_voided() -> None:
    p = Payments(payment_deadline_ms=5_000)
    p.pool.hold = True
    p.reserve("o1")
    p.tick()
    p.tick(6_000)
    assert p.driver.outputs("payments-completed") == p.driver.outputs("payments-failed") == []
    assert p.outcomes() == {b"o1": b"X"}
    p.pool.release()
    assert p.provider.voided == ["o1"]


def test_a_deadline_at_or_above_the_reservation_timeout_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="not below the reservation timeout T = 300000"):
        PaymentsConfig(payment_deadline_ms=300_000)  # enrichment's default T
    with pytest.raises(ConfigError, match="--deadline-ms 9000 is not below .* T = 5000"):
        Payments(payment_deadline_ms=9_000, reservation_timeout_ms=5_000)
    with pytest.raises(ConfigError, match="--outcome-retention-ms 1000 is below 5000"):
        PaymentsConfig(
            payment_deadline_ms=4_000, reservation_timeout_ms=5_000, outcome_retention_ms=1_000
        )
    assert PaymentsConfig(payment_deadline_ms=9_000, reservation_timeout_ms=None)  # T unknown


def test_an_order_consumed_past_its_deadline_is_never_sent_to_the_provider() -> None:
    """payments was down longer than the deadline: the reservation is T's to release, so a
    late answer cannot land after the release (audit 6c)."""
    p = Payments(payment_deadline_ms=5_000, reservation_timeout_ms=8_000)
    p.reserve("late", age_ms=5_001)
    p.reserve("young", age_ms=4_000)
    for _ in range(3):
        p.tick()
    assert p.provider.calls == ["young"]
    assert [e.order_id for e in p.events("payments-completed")] == ["young"]
    assert p.outcomes() == {b"late": b"X", b"young": b"P"}
    assert p.provider.voided == ["late"] and p.processor.expired == 1
    p.reserve("late", age_ms=5_001)  # seen again: it has its outcome, nothing happens
    p.tick()
    assert p.provider.calls == ["young"] and p.processor.expired == 1


def test_an_answer_after_the_deadline_is_voided_not_paid() -> None:
    p = Payments(payment_deadline_ms=5_000, reservation_timeout_ms=8_000)
    p.pool.hold = True
    p.reserve("o1")
    p.tick(4_900)
    p.pool.release()  # answered, but only collected by the next punctuation...
    p.tick(200)  # ...which is past the deadline: given up first, never paid
    assert p.events("payments-completed") == [] and p.outcomes() == {b"o1": b"X"}


def test_outcomes_are_forgotten_after_their_retention_oldest_first() -> None:
    p = Payments(
        payment_deadline_ms=1_000, reservation_timeout_ms=2_000, outcome_retention_ms=10_000
    )
    p.reserve("o1")
    p.tick()
    p.tick(4_000)
    p.reserve("o2")
    p.tick()
    assert set(p.outcomes()) == {b"o1", b"o2"}
    p.tick(6_000)  # o1 decided 10,000 ms ago
    assert set(p.outcomes()) == {b"o2"} and p.processor.purged == 1
    p.tick(4_000)
    assert p.outcomes() == {} and p.processor.purged == 2
    assert p.driver.store(OUTCOMES_STORE) == {b"\x00Q": struct.pack(">qq", 2, 2)}
    # The purge is in the transaction: its deletes reach the changelog as tombstones.
    tombstones = [o.key for o in p.driver.outputs("payments-outcomes-changelog") if o.value is None]
    assert b"o1" in tombstones and b"o2" in tombstones


def test_a_purge_looks_at_most_at_its_budget_per_punctuation() -> None:
    p = Payments(
        payment_deadline_ms=1_000, reservation_timeout_ms=2_000, outcome_retention_ms=2_000,
        purge_budget=2,
    )  # fmt: skip
    for i in range(5):
        p.reserve(f"o{i}")
    p.tick()
    p.tick()
    assert len(p.outcomes()) == 5
    p.tick(3_000)
    assert len(p.outcomes()) == 3
    p.tick()
    p.tick()
    assert p.outcomes() == {}


def test_a_new_instance_finds_the_pending_orders_in_the_store() -> None:
    p = Payments()
    p.pool.hold = True
    p.reserve("o1", partition=3)
    p.tick()
    restarted = PaymentsProcessor(p.codec, p.provider, InlinePool(), clock_ms=lambda: p.now)
    p.driver.processor = restarted  # same stores (the changelog), fresh memory
    p.driver.punctuate(p.now)
    assert [e.order_id for e in p.events("payments-completed")] == ["o1"]


def test_simulated_rules_are_deterministic() -> None:
    rules = ProviderRules(failure_rate=0.2)
    requests = [PaymentRequest(f"o{i}", f"c{i % 7}", 1000, "EUR") for i in range(2000)]
    first = [decide(rules, r) for r in requests]
    assert first == [decide(rules, r) for r in requests]
    declined = sum(isinstance(a, Declined) for a in first)
    assert 300 < declined < 500  # about 20%
    limit = customer_limit(rules, "c1")
    assert rules.limit_cents <= limit <= 4 * rules.limit_cents
    over = decide(rules, PaymentRequest("big", "c1", limit + 1, "EUR"))
    assert isinstance(over, Declined) and over.reason == "LIMIT_EXCEEDED"


def test_simulated_provider_is_idempotent_and_void_wins() -> None:
    provider = SimulatedProvider(ProviderRules(base_latency_ms=0, jitter_ms=0))
    request = PaymentRequest("o1", "c1", 100, "EUR")
    assert provider.pay(request) == provider.pay(request)
    provider.void("o2")
    assert provider.pay(PaymentRequest("o2", "c1", 100, "EUR")) == Declined(
        "VOIDED", "the payment was voided after its deadline"
    )


def test_breaker_half_open_allows_one_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, open_ms=10, clock_ms=lambda: now[0])
    breaker.record_failure("x")
    assert not breaker.allow()
    now[0] = 10
    assert breaker.allow() and not breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
