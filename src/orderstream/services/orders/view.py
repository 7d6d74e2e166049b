"""A read-your-writes view of ``enriched-orders``: orderId -> enrichment outcome and lifecycle.

It also reads the lifecycle topics (payment outcomes, stock releases: ``lifecycle_topics``), and
an order's answer carries its final ``status`` and its ``path`` (models.order_view). Those
topics are read in no particular order relative to ``enriched-orders``, so their events are kept
as facts per orderId and the answer is rendered from all of them.

A background thread reads every partition with ``read_committed`` (no group, no commits) and
keeps the latest outcome per orderId, bounded by ``max_entries`` (oldest forgotten first).
``wait_for`` lets a request long-poll until its order's outcome is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from orderstream.config import Role, Settings, kafka_config
from orderstream.services.orders.models import order_view
from orderstream.services.topics import PAYMENTS_COMPLETED, PAYMENTS_FAILED, STOCK_RELEASED

logger = logging.getLogger(__name__)

Outcome = dict[str, Any]
DecodeOutcome = Callable[[bytes], Outcome]
LIFECYCLE_TOPICS = (PAYMENTS_COMPLETED, PAYMENTS_FAILED, STOCK_RELEASED)


class EnrichedOrderView:
    """The outcome of every committed EnrichedOrder this process has read."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        decode: DecodeOutcome,
        *,
        max_entries: int = 1_000_000,
        lifecycle_topics: tuple[str, ...] = LIFECYCLE_TOPICS,
    ) -> None:
        conf = kafka_config(
            Role.CONSUMER,
            "orders-view",
            settings=settings,
            group_id=settings.named(f"orders-view-{uuid.uuid4().hex[:8]}"),  # never joined
            overrides={"fetch.wait.max.ms": 10, "fetch.min.bytes": 1},
        )
        self._consumer = Consumer(conf)
        self.topic = topic
        self.lifecycle_topics = lifecycle_topics
        self._decode = decode
        self._enriched: OrderedDict[str, Outcome] = OrderedDict()
        self._facts: OrderedDict[str, dict[str, Outcome]] = OrderedDict()
        self._max_entries = max_entries
        self._outcomes: OrderedDict[str, Outcome] = OrderedDict()
        self._waiters: dict[str, list[asyncio.Future[Outcome]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self.assigned = threading.Event()
        self.undecodable = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._running = True
        self._thread = threading.Thread(target=self._follow, name="enriched-view", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=3)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()

    def get(self, order_id: str) -> Outcome | None:
        return self._outcomes.get(order_id)

    def __len__(self) -> int:
        return len(self._outcomes)

    async def wait_for(self, order_id: str, timeout_s: float) -> Outcome | None:
        """The outcome of ``order_id``, waiting up to ``timeout_s`` for it to be committed."""
        outcome = self._outcomes.get(order_id)
        if outcome is not None or timeout_s <= 0:
            return outcome
        assert self._loop is not None
        fut: asyncio.Future[Outcome] = self._loop.create_future()
        self._waiters.setdefault(order_id, []).append(fut)
        try:
            # Re-check after registering: the reader may have stored it in between.
            outcome = self._outcomes.get(order_id)
            if outcome is not None:
                return outcome
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._forget_waiter(order_id, fut)

    def _forget_waiter(self, order_id: str, fut: asyncio.Future[Outcome]) -> None:
        waiters = self._waiters.get(order_id)
        if waiters is not None and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[order_id]

    def _notify(self, batch: list[tuple[str, Outcome]]) -> None:
        for order_id, outcome in batch:
            for fut in self._waiters.get(order_id, ()):
                if not fut.done():
                    fut.set_result(outcome)

    # -- reader thread -----------------------------------------------------------------------

    def _assign_all(self) -> bool:
        try:
            meta = self._consumer.list_topics(timeout=5)
        except KafkaException as exc:
            logger.warning("cannot read metadata of the view topic", extra={"error": str(exc)})
            return False
        partitions = meta.topics[self.topic].partitions if self.topic in meta.topics else {}
        if not partitions:
            return False
        # A cluster without the payments topics (an older topology) still gets its view.
        wanted = [(self.topic, p) for p in partitions] + [
            (t, p)
            for t in self.lifecycle_topics
            if t in meta.topics
            for p in meta.topics[t].partitions
        ]
        self._consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in wanted])
        self.assigned.set()
        return True

    def _follow(self) -> None:
        while self._running and not self._assign_all():
            threading.Event().wait(1.0)
        while self._running:
            try:
                messages = self._consumer.consume(500, 0.1)
            except (KafkaException, RuntimeError) as exc:
                logger.warning("view consumer error", extra={"error": str(exc)})
                continue
            read = [pair for m in messages if (pair := self._outcome_of(m)) is not None]
            batch = [pair for o, fact in read if (pair := self._merge(o, fact)) is not None]
            if not batch:
                continue
            for order_id, outcome in batch:
                self._outcomes[order_id] = outcome
            for table in (self._outcomes, self._enriched, self._facts):
                while len(table) > self._max_entries:
                    table.popitem(last=False)
            if self._waiters and self._loop is not None:
                self._loop.call_soon_threadsafe(self._notify, batch)

    def _merge(self, order_id: str, fact: Outcome) -> tuple[str, Outcome] | None:
        """Fold one decoded record in; the order's new answer, once its enrichment is known."""
        kind = fact.get("event")
        if kind is None:
            self._enriched[order_id] = fact
        else:
            self._facts.setdefault(order_id, {})[str(kind)] = fact
        enriched = self._enriched.get(order_id)
        if enriched is None:
            return None
        return order_id, order_view(enriched, self._facts.get(order_id, {}))

    def _outcome_of(self, message: Any) -> tuple[str, Outcome] | None:
        if message.error() is not None or message.value() is None:
            return None
        try:
            outcome = self._decode(message.value())
        except Exception:  # a poison record in the output topic must not stop the view
            self.undecodable += 1
            return None
        return str(outcome["orderId"]), outcome
