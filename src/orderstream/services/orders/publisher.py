"""Durable publishing for the orders API: librdkafka delivery reports as asyncio futures.

One idempotent producer (acks=all) per process. A poll thread serves delivery reports and
hands them to the event loop in batches, so an order is acknowledged to its client only once
Kafka has acknowledged the write. Any doubt becomes ``OrderNotDurable``, which the API turns
into 503 + Retry-After:

- the circuit is open (services/orders/circuit.py): refused at once, nothing is produced;
- the local queue is full: refused at once, nothing is produced;
- no report within the ack deadline, one deadline for all the records of a request: the record
  may still be written later (librdkafka keeps it queued up to ``message.timeout.ms``), which
  is why clients retry with the same Idempotency-Key (services/orders/idempotency.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import OrderstreamError
from orderstream.services.orders.circuit import DeliveryCircuit, MetadataProbe

logger = logging.getLogger(__name__)


class OrderNotDurable(OrderstreamError):
    """Kafka did not confirm the write in time; the client should retry later (503)."""


# A delivery outcome: the ack latency in seconds, or why Kafka refused the write. Futures never
# hold exceptions, so one abandoned by a timed-out request does not log "never retrieved".
Outcome = float | str
Delivery = asyncio.Future[Outcome]
_Report = tuple[Delivery, Outcome]
Headers = Sequence[tuple[str, bytes]]


class OrderPublisher:
    """Produce keyed records and await their delivery reports from asyncio."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        ack_timeout_s: float = 3.0,
        client_id: str = "orders-api",
        overrides: dict[str, Any] | None = None,
    ) -> None:
        conf: dict[str, Any] = dict(
            kafka_config(
                Role.PRODUCER,
                client_id,
                settings=settings,
                overrides={"message.timeout.ms": 15000, "queue.buffering.max.messages": 200_000},
            )
        )
        conf.update(overrides or {})
        conf["error_cb"] = self._on_error
        self._producer = Producer(conf)
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self.circuit = DeliveryCircuit(probe_interval_s=ack_timeout_s)
        self._probe = MetadataProbe(self.circuit, self._producer, topic)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._pending: list[_Report] = []
        self.last_error: str | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._running = True
        self._thread = threading.Thread(target=self._serve_reports, name="delivery", daemon=True)
        self._thread.start()
        self._probe.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush what is queued, then stop the poll and probe threads."""
        self._running = False
        self._probe.stop()
        if self._thread is not None:
            self._thread.join(timeout=2)
        remaining = self._producer.flush(timeout_s)
        if remaining:
            logger.warning("orders left unflushed at shutdown", extra={"count": remaining})

    def submit(
        self, key: bytes, value: bytes, headers: Headers = (), timestamp_ms: int = 0
    ) -> Delivery:
        """Queue one record; its future gets the ack latency or Kafka's refusal.

        Raises OrderNotDurable at once, producing nothing, while the circuit is open or the
        local queue is full.
        """
        assert self._loop is not None, "OrderPublisher.start() was not called"
        if not self.circuit.admit():
            raise OrderNotDurable(f"Kafka cannot take writes now: {self.circuit.reason}")
        fut: Delivery = self._loop.create_future()
        started = time.perf_counter()
        try:
            self._producer.produce(
                self.topic,
                value,
                key,
                headers=list(headers) if headers else None,
                timestamp=timestamp_ms,
                on_delivery=partial(self._on_delivery, fut, started),
            )
        except BufferError:
            self.circuit.trip("the local produce queue is full")
            raise OrderNotDurable("the local produce queue is full") from None
        return fut

    async def settle(self, futures: Sequence[Delivery]) -> list[float | OrderNotDurable]:
        """Each record's ack latency or why it is not durable, all within one ack deadline."""
        if futures:
            # asyncio.wait does not cancel what is still pending: a late report still lands.
            await asyncio.wait(futures, timeout=self.ack_timeout_s)
        results = [self._outcome(fut) for fut in futures]
        if any(isinstance(r, OrderNotDurable) for r in results):
            self.circuit.trip(f"no acknowledgement within {self.ack_timeout_s:.1f}s")
        return results

    async def publish(
        self, key: bytes, value: bytes, headers: Headers = (), timestamp_ms: int = 0
    ) -> float:
        """Write one record; returns the ack latency in seconds once Kafka confirmed it."""
        (outcome,) = await self.settle([self.submit(key, value, headers, timestamp_ms)])
        if isinstance(outcome, OrderNotDurable):
            raise outcome
        return outcome

    def _outcome(self, fut: Delivery) -> float | OrderNotDurable:
        if not fut.done():
            return OrderNotDurable(
                f"Kafka did not acknowledge within {self.ack_timeout_s:.1f}s"
                + (f" ({self.last_error})" if self.last_error else "")
            )
        outcome = fut.result()
        if isinstance(outcome, str):
            return OrderNotDurable(f"Kafka refused the write: {outcome}")
        return outcome

    # -- poll thread -------------------------------------------------------------------------

    def _on_delivery(
        self, fut: Delivery, started: float, err: KafkaError | None, _msg: Message
    ) -> None:
        # The latency is taken here: the loop may resolve the batch a little later.
        if err is None:
            self._pending.append((fut, time.perf_counter() - started))
            self.circuit.close("a delivery succeeded")
        else:
            self._pending.append((fut, err.str()))
            self.circuit.trip(f"a delivery failed: {err.str()}")

    def _on_error(self, err: KafkaError) -> None:
        self.last_error = err.str()
        logger.warning("producer error", extra={"error": err.str(), "code": err.code()})
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.circuit.trip(f"all brokers are down ({err.str()})")

    def _serve_reports(self) -> None:
        while self._running:
            self._producer.poll(0.05)
            if self._pending and self._loop is not None:
                batch, self._pending = self._pending, []
                self._loop.call_soon_threadsafe(_resolve_reports, batch)


def _resolve_reports(batch: list[_Report]) -> None:
    for fut, outcome in batch:
        if not fut.done():
            fut.set_result(outcome)
