"""The write path of one request: orderIds, idempotency, encoding, one ack deadline for all.

Each order becomes an ``ItemResult`` (the status and JSON body that the API answers with, alone
for ``POST /orders`` or as one item of ``POST /orders/batch``):

    202 {"orderId"}                  Kafka acknowledged it (or the ledger knows it was written:
                                     then "replayed": true and nothing is written again)
    409 {"orderId", "detail"}        its Idempotency-Key or orderId names a different order, or
                                     its orderId is not the one its Idempotency-Key maps to
    422 {"detail": [field errors]}   invalid
    503 {"orderId", "detail"}        not durable: retry with the same key after Retry-After
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from opentelemetry.trace import StatusCode

from orderstream.errors import OrderstreamError
from orderstream.services.orders.idempotency import (
    DIGEST_HEADER,
    KeyMismatch,
    Ledger,
    Verdict,
    order_digest,
    resolve_order_id,
)
from orderstream.services.orders.metrics import Metrics
from orderstream.services.orders.models import OrderRequest
from orderstream.services.orders.publisher import Delivery, OrderNotDurable, OrderPublisher
from orderstream.services.topics import PRODUCT_HEADER
from orderstream.tracing import Header, active_tracer, order_scope, send_span

EncodeOrder = Callable[[OrderRequest, int], bytes]


class SchemaUnavailable(Exception):
    """The OrderCreated schema could not be registered: the registry is away (503)."""


@dataclass(frozen=True)
class ItemResult:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class _Submitted(NamedTuple):
    order_id: str
    delivery: Delivery


@dataclass(frozen=True)
class Ingest:
    """Turns validated orders into records, and their delivery reports into ItemResults."""

    publisher: OrderPublisher
    ledger: Ledger
    encode_order: EncodeOrder
    metrics: Metrics

    async def publish(
        self, items: Sequence[OrderRequest | ItemResult], key: str | None, *, batch: bool
    ) -> list[ItemResult]:
        """The result of each item; ``key`` is the request's Idempotency-Key, if any."""
        results: list[ItemResult | _Submitted] = []
        for index, item in enumerate(items):
            if isinstance(item, OrderRequest):
                results.append(self._submit(item, key, index if batch else None))
            else:
                results.append(item)
        waiting = [r for r in results if isinstance(r, _Submitted)]
        settled = await self.publisher.settle([s.delivery for s in waiting])
        outcome = dict(zip((id(s) for s in waiting), settled, strict=True))
        return [
            self._settled(r.order_id, outcome[id(r)]) if isinstance(r, _Submitted) else r
            for r in results
        ]

    def _submit(
        self, order: OrderRequest, key: str | None, index: int | None
    ) -> ItemResult | _Submitted:
        try:
            order = order.with_order_id(resolve_order_id(order, key, index))
        except KeyMismatch as exc:
            self.metrics.refuse("conflict")
            return ItemResult(409, {"orderId": exc.derived, "detail": str(exc)})
        order_id = str(order.orderId)
        digest = order_digest(order)
        claim = self.ledger.claim(order_id, digest)
        if claim.verdict is Verdict.CONFLICT:
            self.metrics.refuse("conflict")
            return ItemResult(409, {"orderId": order_id, "detail": _conflict(order_id, key)})
        if claim.verdict is Verdict.WRITTEN:
            self.metrics.replayed.inc()
            return ItemResult(202, {"orderId": order_id, "replayed": True})
        headers = [(PRODUCT_HEADER, order.productId.encode()), (DIGEST_HEADER, digest.encode())]
        value = self.encode_order(order, claim.timestamp_ms)
        tracer = active_tracer()
        if tracer is None:
            return self._write(order_id, digest, value, headers, claim.timestamp_ms)
        with order_scope(order_id):
            span, trace_headers = send_span(tracer, self.publisher.topic, order_id.encode())
            result = self._write(
                order_id, digest, value, headers + trace_headers, claim.timestamp_ms
            )
        if isinstance(result, _Submitted):
            result.delivery.add_done_callback(lambda _delivery: span.end())
        else:
            span.set_status(StatusCode.ERROR, str(result.body.get("detail")))
            span.end()
        return result

    def _write(
        self, order_id: str, digest: str, value: bytes, headers: list[Header], timestamp_ms: int
    ) -> ItemResult | _Submitted:
        try:
            delivery = self.publisher.submit(order_id.encode(), value, headers, timestamp_ms)
        except OrderNotDurable as exc:
            self.metrics.refuse("unavailable")
            return ItemResult(503, {"orderId": order_id, "detail": str(exc)})
        delivery.add_done_callback(partial(self._written, order_id, digest, timestamp_ms))
        return _Submitted(order_id, delivery)

    def _settled(self, order_id: str, outcome: float | OrderNotDurable) -> ItemResult:
        if isinstance(outcome, OrderNotDurable):
            self.metrics.refuse("unavailable")
            return ItemResult(503, {"orderId": order_id, "detail": str(outcome)})
        self.metrics.accept(outcome)
        return ItemResult(202, {"orderId": order_id})

    def _written(self, order_id: str, digest: str, timestamp_ms: int, delivery: Delivery) -> None:
        # Also for a delivery whose request already answered 503: a retry then replays it.
        if isinstance(delivery.result(), float):
            self.ledger.written(order_id, digest, timestamp_ms)


def _conflict(order_id: str, key: str | None) -> str:
    named = f"Idempotency-Key {key!r}" if key is not None else f"orderId {order_id!r}"
    return (
        f"{named} was already used for a different order (orderId {order_id}): "
        "a retry must repeat the same customerId, productId, quantity, amountCents and "
        "currency; use a new key for a new order"
    )


class SchemaGate:
    """Registers the OrderCreated schema once, off the event loop, before the first encode.

    Until it succeeds every order is refused with SchemaUnavailable (503 + Retry-After); once
    it has, encoding is a cache hit and the API no longer needs the registry.
    """

    def __init__(self, register: Callable[[], None], timeout_s: float) -> None:
        self._register = register
        self.timeout_s = timeout_s
        self.ready = False
        self._attempt: asyncio.Future[None] | None = None

    async def ensure(self) -> None:
        if self.ready:
            return
        if self._attempt is None or self._attempt.done():
            self._attempt = asyncio.ensure_future(asyncio.to_thread(self._register))
            self._attempt.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(self._attempt), self.timeout_s)
        except TimeoutError:
            raise SchemaUnavailable(
                f"the schema registry did not answer within {self.timeout_s:.1f}s"
            ) from None
        except (OrderstreamError, OSError) as exc:  # RegistryUnavailable, RegistryError...
            raise SchemaUnavailable(f"the schema registry is unavailable: {exc}") from exc
        self.ready = True


def _retrieve(attempt: asyncio.Future[None]) -> None:
    # A failure nobody awaited any more (its request timed out) must not log "never retrieved".
    with contextlib.suppress(BaseException):
        attempt.exception()
