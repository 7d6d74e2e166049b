"""The product catalog as a global table: every instance holds all of ``products``.

A background thread reads every partition of the compacted topic with ``read_committed``, with
no group and no commits, and keeps the latest Product per productId (a tombstone deletes it).
``wait_caught_up`` blocks until the table reflects everything committed when it was called;
enrichment calls it before it reports ready, and again (rate-limited) when it meets an unknown
product, so that a product seeded just before its first order is not rejected by a race.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import OrderstreamError

logger = logging.getLogger(__name__)


class CatalogUnavailable(OrderstreamError):
    """The products topic could not be read to its end in time."""


class ProductCatalog:
    """productId -> Product, kept up to date from the ``products`` topic."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        decode: Callable[[bytes], Any],
        *,
        resync_s: float = 1.0,
    ) -> None:
        conf = kafka_config(
            Role.CONSUMER,
            "enrichment-catalog",
            settings=settings,
            group_id=f"catalog-{uuid.uuid4().hex[:8]}",  # never joined: we assign()
            overrides={"fetch.wait.max.ms": 20, "enable.partition.eof": True},
        )
        self._consumer = Consumer(conf)
        self._admin = AdminClient(kafka_config(Role.ADMIN, "enrichment-catalog", settings=settings))
        self._partitions: list[int] = []
        self.topic = topic
        self._decode = decode
        self._products: dict[str, Any] = {}
        self._positions: dict[int, int] = {}
        self._cond = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None
        self._resync_s = resync_s
        self._last_resync = 0.0
        self.undecodable = 0

    def __len__(self) -> int:
        return len(self._products)

    def get(self, product_id: str) -> Any | None:
        return self._products.get(product_id)

    def lookup(self, product_id: str) -> Any | None:
        """The product, re-syncing with the topic (at most once per ``resync_s``) on a miss."""
        product = self._products.get(product_id)
        if product is not None:
            return product
        now = time.monotonic()
        if now - self._last_resync < self._resync_s:
            return None
        self._last_resync = now
        with contextlib.suppress(CatalogUnavailable):
            self.wait_caught_up(timeout_s=5.0)
        return self._products.get(product_id)

    def start(self) -> None:
        meta = self._consumer.list_topics(self.topic, timeout=10)
        described = meta.topics.get(self.topic)
        if described is None or described.error is not None or not described.partitions:
            raise CatalogUnavailable(f"topic {self.topic} does not exist")
        self._partitions = sorted(described.partitions)
        self._consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self._partitions]
        )
        self._running = True
        self._thread = threading.Thread(target=self._follow, name="catalog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=3)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()

    def wait_caught_up(self, timeout_s: float = 60.0) -> None:
        """Block until every record committed before this call is in the table."""
        targets = self._end_offsets()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not all(self._positions.get(p, -1) >= end for p, end in targets.items()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CatalogUnavailable(
                        f"catalog did not catch up with {self.topic} within {timeout_s:.0f}s"
                    )
                self._cond.wait(min(left, 0.1))

    def _end_offsets(self) -> dict[int, int]:
        """The last stable offset of each partition; a reader is there once position >= it.

        Asked through an admin client: watermark queries on the consumer itself can stall
        for seconds while its own thread is fetching.
        """
        request = {
            TopicPartition(self.topic, p): OffsetSpec.latest()  # type: ignore[no-untyped-call]
            for p in self._partitions
        }
        try:
            futures = self._admin.list_offsets(
                request, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=5
            )
            ends = {tp.partition: fut.result(6).offset for tp, fut in futures.items()}
        except KafkaException as exc:
            raise CatalogUnavailable(f"cannot read the end offsets of {self.topic}: {exc}") from exc
        return {p: end for p, end in ends.items() if end > 0}

    def _follow(self) -> None:
        while self._running:
            try:
                messages = self._consumer.consume(1000, 0.1)
            except (KafkaException, RuntimeError) as exc:
                logger.warning("catalog consumer error", extra={"error": str(exc)})
                continue
            ends: dict[int, int] = {}
            for msg in messages:
                err = msg.error()
                if err is None:
                    self._apply(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    # The end as the broker sees it, past any trailing transaction marker.
                    ends[msg.partition() or 0] = msg.offset() or 0
            self._note_positions(ends)

    def _apply(self, msg: Any) -> None:
        key = msg.key()
        product_id = key.decode() if isinstance(key, bytes) else str(key)
        if msg.value() is None:
            self._products.pop(product_id, None)
            return
        try:
            self._products[product_id] = self._decode(msg.value())
        except Exception:  # a poison record must not stop the table
            self.undecodable += 1
            logger.warning("undecodable product", extra={"product_id": product_id})

    def _note_positions(self, ends: dict[int, int]) -> None:
        try:
            positions = self._consumer.position(self._consumer.assignment())
        except KafkaException:
            return
        with self._cond:
            for tp in positions:
                at = max(tp.offset, ends.get(tp.partition, -1))
                if at > self._positions.get(tp.partition, -1):
                    self._positions[tp.partition] = at
            self._cond.notify_all()
