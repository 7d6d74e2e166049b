"""Durable publishing for the orders API: librdkafka delivery reports as asyncio futures.

One idempotent producer (acks=all) per process. A poll thread serves delivery reports and
hands them to the event loop in batches, so an order is acknowledged to its client only once
Kafka has acknowledged the write. Any doubt (queue full, broker away, no report within the ack
timeout) becomes ``OrderNotDurable``, which the API turns into 503 + Retry-After. A client that
retries with the same orderId is safe: enrichment dedupes repeated orderIds.
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

logger = logging.getLogger(__name__)


class OrderNotDurable(OrderstreamError):
    """Kafka did not confirm the write in time; the client should retry later (503)."""


# A delivery outcome: the ack latency in seconds, or why Kafka refused the write. Futures never
# hold exceptions, so one abandoned by a timed-out request does not log "never retrieved".
_Outcome = float | str
_Report = tuple["asyncio.Future[_Outcome]", _Outcome]
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

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush what is queued, then stop the poll thread."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
        remaining = self._producer.flush(timeout_s)
        if remaining:
            logger.warning("orders left unflushed at shutdown", extra={"count": remaining})

    async def publish(self, key: bytes, value: bytes, headers: Headers = ()) -> float:
        """Write one record; returns the ack latency in seconds once Kafka confirmed it."""
        fut = self._enqueue(key, value, headers)
        return await self._await_report(fut)

    async def publish_many(
        self, records: Sequence[tuple[bytes, bytes, Headers]]
    ) -> list[float | OrderNotDurable]:
        """Write many records; each gets its ack latency or the reason it is not durable."""
        futures: list[asyncio.Future[_Outcome] | OrderNotDurable] = []
        for key, value, headers in records:
            try:
                futures.append(self._enqueue(key, value, headers))
            except OrderNotDurable as exc:
                futures.append(exc)
        results: list[float | OrderNotDurable] = []
        for fut in futures:
            if isinstance(fut, OrderNotDurable):
                results.append(fut)
                continue
            try:
                results.append(await self._await_report(fut))
            except OrderNotDurable as exc:
                results.append(exc)
        return results

    def _enqueue(self, key: bytes, value: bytes, headers: Headers) -> asyncio.Future[_Outcome]:
        assert self._loop is not None, "OrderPublisher.start() was not called"
        fut: asyncio.Future[_Outcome] = self._loop.create_future()
        started = time.perf_counter()
        try:
            self._producer.produce(
                self.topic,
                value,
                key,
                headers=list(headers) if headers else None,
                on_delivery=partial(self._on_delivery, fut, started),
            )
        except BufferError:
            raise OrderNotDurable("the local produce queue is full") from None
        return fut

    async def _await_report(self, fut: asyncio.Future[_Outcome]) -> float:
        try:
            outcome = await asyncio.wait_for(asyncio.shield(fut), self.ack_timeout_s)
        except TimeoutError:
            raise OrderNotDurable(
                f"Kafka did not acknowledge within {self.ack_timeout_s:.1f}s"
                + (f" ({self.last_error})" if self.last_error else "")
            ) from None
        if isinstance(outcome, str):
            raise OrderNotDurable(f"Kafka refused the write: {outcome}")
        return outcome

    # -- poll thread -------------------------------------------------------------------------

    def _on_delivery(
        self, fut: asyncio.Future[_Outcome], started: float, err: KafkaError | None, _msg: Message
    ) -> None:
        # The latency is taken here: the loop may resolve the batch a little later.
        self._pending.append((fut, time.perf_counter() - started if err is None else err.str()))

    def _on_error(self, err: KafkaError) -> None:
        self.last_error = err.str()
        logger.warning("producer error", extra={"error": err.str(), "code": err.code()})

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
