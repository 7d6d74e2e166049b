"""The payment provider interface, and a deterministic simulated provider behind it.

A real provider (a PSP's HTTP API) plugs in by implementing ``PaymentProvider``: ``pay`` is
called from a worker thread of a bounded pool, with the orderId as the idempotency key, so a
retry after a crash or a timeout never charges twice; ``void`` cancels a payment that answered
after its order's deadline. ``pay`` answers ``Approved`` or ``Declined`` (a business outcome,
final) or raises ``ProviderUnavailable`` (not the order's fault: retried, and counted by the
circuit breaker).

``SimulatedProvider``'s rules are pure functions of the request, so a rerun of the same orders
gives the same outcomes whatever the timing:

- a per-customer limit: each customer has a limit of ``limit_cents`` x (1..4), picked by a hash of
  the customerId; an order above its customer's limit is declined LIMIT_EXCEEDED;
- a failure rate: an order whose hash falls below ``failure_rate`` is declined DECLINED;
- a latency model: ``base_latency_ms`` + a hash-spread jitter, ``slow_ms`` for a ``slow_rate``
  share of the calls, and ``hang`` for a provider that never answers (until it is closed);
- ``unavailable_rate``: the share of attempts that fail with ProviderUnavailable (per attempt,
  so that a retry can succeed).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Protocol

from orderstream.errors import TransientError


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    order_id: str  # the idempotency key
    customer_id: str
    amount_cents: int
    currency: str


@dataclass(frozen=True, slots=True)
class Approved:
    payment_id: str


@dataclass(frozen=True, slots=True)
class Declined:
    reason: str  # DECLINED, LIMIT_EXCEEDED
    detail: str


Answer = Approved | Declined


class ProviderUnavailable(TransientError):
    """The provider did not take the call (down, overloaded): retry later, never fail the order."""


class PaymentProvider(Protocol):
    def pay(self, request: PaymentRequest) -> Answer: ...

    def void(self, order_id: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ProviderRules:
    """The simulated provider's rules (see the module docstring)."""

    failure_rate: float = 0.0
    limit_cents: int = 1_000_000
    base_latency_ms: float = 5.0
    jitter_ms: float = 10.0
    slow_rate: float = 0.0
    slow_ms: float = 2_000.0
    unavailable_rate: float = 0.0
    hang: bool = False


def unit_hash(*parts: str) -> float:
    """A uniform number in [0, 1) from ``parts``: the same inputs, the same number."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def customer_limit(rules: ProviderRules, customer_id: str) -> int:
    return rules.limit_cents * (1 + int(unit_hash("limit", customer_id) * 4))


def decide(rules: ProviderRules, request: PaymentRequest) -> Answer:
    """The business answer to a request (no latency, no outage)."""
    limit = customer_limit(rules, request.customer_id)
    if request.amount_cents > limit:
        return Declined(
            "LIMIT_EXCEEDED",
            f"{request.amount_cents} {request.currency} cents is over the limit of {limit} "
            f"for customer {request.customer_id}",
        )
    if unit_hash("fail", request.order_id) < rules.failure_rate:
        return Declined("DECLINED", "declined by the issuer (simulated)")
    return Approved("sim-" + hashlib.blake2b(request.order_id.encode(), digest_size=6).hexdigest())


def latency_ms(rules: ProviderRules, order_id: str) -> float:
    if unit_hash("slow", order_id) < rules.slow_rate:
        return rules.slow_ms
    return rules.base_latency_ms + unit_hash("jitter", order_id) * rules.jitter_ms


class SimulatedProvider:
    """Thread-safe; answers are cached by orderId, as a real provider's idempotency keys do."""

    def __init__(self, rules: ProviderRules | None = None) -> None:
        self.rules = rules or ProviderRules()
        self._lock = threading.Lock()
        self._answers: dict[str, Answer] = {}
        self._attempts: dict[str, int] = {}
        self.voided: set[str] = set()
        self._closed = threading.Event()
        self.calls = 0

    def pay(self, request: PaymentRequest) -> Answer:
        with self._lock:
            self.calls += 1
            attempt = self._attempts.get(request.order_id, 0) + 1
            self._attempts[request.order_id] = attempt
        if self.rules.hang:
            self._closed.wait()
            raise ProviderUnavailable("the simulated provider never answers (hang)")
        if self._closed.wait(latency_ms(self.rules, request.order_id) / 1000):
            raise ProviderUnavailable("the provider was closed during the call")
        if unit_hash("down", request.order_id, str(attempt)) < self.rules.unavailable_rate:
            raise ProviderUnavailable(f"simulated outage on attempt {attempt}")
        with self._lock:
            if request.order_id in self.voided:
                return Declined("VOIDED", "the payment was voided after its deadline")
            return self._answers.setdefault(request.order_id, decide(self.rules, request))

    def void(self, order_id: str) -> None:
        with self._lock:
            self.voided.add(order_id)

    def close(self) -> None:
        self._closed.set()
