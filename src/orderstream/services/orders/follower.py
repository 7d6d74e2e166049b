"""Feed the idempotency ledger from ``orders``: what every API instance wrote in the window.

A ``TopicTable`` (kafka/table.py) reads every partition from ``window`` ago
(``offsets_for_times``), with no group and no commits, in a thread; from each record the
follower takes only its key (the orderId), its timestamp and the digest header that the API
puts on it; nothing is decoded, so it needs no registry. Records without the header
(``load --direct``, other producers) are skipped: they carry no key contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message

from orderstream.config import Settings
from orderstream.kafka.offsets import from_seconds_ago
from orderstream.kafka.readers import FollowedTable, reader_configs
from orderstream.kafka.table import TopicTable
from orderstream.services.orders.idempotency import DIGEST_HEADER

Seen = tuple[str, str, int]  # orderId, digest, timestamp ms
OnSeen = Callable[[list[Seen]], None]


class OrdersFollower(FollowedTable):
    """Reads ``topic`` from ``window_s`` ago and hands (orderId, digest, ts) batches to the loop."""

    def __init__(self, settings: Settings, topic: str, window_s: float) -> None:
        conf, admin = reader_configs(
            settings, "orders-ledger", "orders-ledger", {"fetch.wait.max.ms": 50}
        )
        self._table = TopicTable(
            conf, admin, topic, start_at=from_seconds_ago(window_s), name="orders-ledger"
        )
        self.topic = topic
        self.window_s = window_s

    def start(self, loop: asyncio.AbstractEventLoop, on_seen: OnSeen) -> None:
        def hand_over(messages: list[Message]) -> None:
            batch = [seen for m in messages if (seen := _seen(m)) is not None]
            if batch:
                loop.call_soon_threadsafe(on_seen, batch)

        self._table.subscribe(hand_over)
        self._table.start()


def _seen(message: Any) -> Seen | None:
    key = message.key()
    if key is None:
        return None
    for name, value in message.headers() or ():
        if name == DIGEST_HEADER and value is not None:
            return key.decode(errors="replace"), value.decode(), message.timestamp()[1]
    return None
