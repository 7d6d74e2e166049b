"""The product catalog as a global table: every instance holds all of ``products``.

A ``TopicTable`` (kafka/table.py) reads every partition of the compacted topic with
``read_committed``, with no group and no commits, and keeps the latest Product per productId (a
tombstone deletes it). ``wait_caught_up`` blocks until the table reflects everything committed
when it was called; enrichment calls it before it reports ready, and again (rate-limited) when
it meets an unknown product, so that a product seeded just before its first order is not
rejected by a race. A refused or missing ``products`` topic is raised, never waited on forever.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from orderstream.config import Settings
from orderstream.kafka.errors import TableBehind
from orderstream.kafka.readers import reader_configs
from orderstream.kafka.table import TopicTable


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
        conf, admin = reader_configs(
            settings, "enrichment-catalog", "catalog", {"fetch.wait.max.ms": 20}
        )
        self._table = TopicTable(conf, admin, topic, decode=decode, name="catalog")
        self.topic = topic
        self._resync_s = resync_s
        self._last_resync = 0.0

    def __len__(self) -> int:
        return len(self._table)

    @property
    def undecodable(self) -> int:
        return self._table.undecodable

    def get(self, product_id: str) -> Any | None:
        return self._table.get(product_id)

    def lookup(self, product_id: str) -> Any | None:
        """The product, re-syncing with the topic (at most once per ``resync_s``) on a miss."""
        product = self._table.get(product_id)
        if product is not None:
            return product
        now = time.monotonic()
        if now - self._last_resync < self._resync_s:
            return None
        self._last_resync = now
        with contextlib.suppress(TableBehind):  # a refused or missing topic is raised
            self.wait_caught_up(timeout_s=5.0)
        return self._table.get(product_id)

    def start(self) -> None:
        self._table.start()

    def close(self) -> None:
        self._table.close()

    def wait_caught_up(self, timeout_s: float = 60.0) -> None:
        """Block until every record committed before this call is in the table."""
        self._table.wait_caught_up(timeout_s)
