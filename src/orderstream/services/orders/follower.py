"""Feed the idempotency ledger from ``orders``: what every API instance wrote in the window.

A background thread reads every partition from ``window`` ago (``offsets_for_times``), with no
group and no commits, and takes from each record only its key (the orderId), its timestamp and
the digest header that the API puts on it; nothing is decoded, so it needs no registry. Records
without the header (``load --direct``, other producers) are skipped: they carry no key contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from orderstream.config import Role, Settings, kafka_config
from orderstream.services.orders.idempotency import DIGEST_HEADER

logger = logging.getLogger(__name__)

Seen = tuple[str, str, int]  # orderId, digest, timestamp ms
OnSeen = Callable[[list[Seen]], None]


class OrdersFollower:
    """Reads ``topic`` from ``window_s`` ago and hands (orderId, digest, ts) batches to the loop."""

    def __init__(self, settings: Settings, topic: str, window_s: float) -> None:
        conf = kafka_config(
            Role.CONSUMER,
            "orders-ledger",
            settings=settings,
            group_id=settings.named(f"orders-ledger-{uuid.uuid4().hex[:8]}"),  # never joined
            overrides={"fetch.wait.max.ms": 50},
        )
        self._consumer = Consumer(conf)
        self.topic = topic
        self.window_s = window_s
        self._running = False
        self._thread: threading.Thread | None = None
        self.assigned = threading.Event()

    def start(self, loop: asyncio.AbstractEventLoop, on_seen: OnSeen) -> None:
        self._running = True
        self._thread = threading.Thread(
            target=self._follow, args=(loop, on_seen), name="orders-ledger", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=3)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()

    def _assign_from_window(self) -> bool:
        try:
            meta = self._consumer.list_topics(self.topic, timeout=5)
            partitions = meta.topics[self.topic].partitions if self.topic in meta.topics else {}
            if not partitions:
                return False
            since_ms = int((time.time() - self.window_s) * 1000)
            wanted = [TopicPartition(self.topic, p, since_ms) for p in partitions]
            starts = self._consumer.offsets_for_times(wanted, timeout=10)
        except KafkaException as exc:
            logger.warning("the ledger cannot read orders yet", extra={"error": str(exc)})
            return False
        # offsets_for_times answers -1 for a partition with nothing newer: start at its end.
        self._consumer.assign(
            [TopicPartition(self.topic, tp.partition, max(tp.offset, OFFSET_END)) for tp in starts]
        )
        self.assigned.set()
        return True

    def _follow(self, loop: asyncio.AbstractEventLoop, on_seen: OnSeen) -> None:
        while self._running and not self._assign_from_window():
            threading.Event().wait(1.0)
        while self._running:
            try:
                messages = self._consumer.consume(1000, 0.2)
            except (KafkaException, RuntimeError) as exc:
                logger.warning("ledger consumer error", extra={"error": str(exc)})
                continue
            batch = [seen for m in messages if (seen := _seen(m)) is not None]
            if batch:
                loop.call_soon_threadsafe(on_seen, batch)


def _seen(message: Any) -> Seen | None:
    if message.error() is not None or message.key() is None:
        return None
    for name, value in message.headers() or ():
        if name == DIGEST_HEADER and value is not None:
            return message.key().decode(errors="replace"), value.decode(), message.timestamp()[1]
    return None
