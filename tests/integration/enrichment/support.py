"""Helpers of the enrichment tests: produce orders as the API does, read their outcomes."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.ops.topics_reader import TopicFollower
from orderstream.serde import EnrichedOrder, EventSerde, OrderCreated
from orderstream.services.topics import ENRICHED_ORDERS, ORDERS, PRODUCT_HEADER


def produce_orders(settings: Settings, orders: Iterable[OrderCreated]) -> None:
    """As the API does: key orderId, the product header, acks=all, idempotent."""
    serde = EventSerde.from_settings(settings)
    producer = Producer(kafka_config(Role.PRODUCER, "test-orders", settings=settings))
    try:
        for o in orders:
            headers = [(PRODUCT_HEADER, o.product_id.encode())]
            producer.produce(ORDERS, serde.encode(ORDERS, o), o.order_id.encode(), headers=headers)
            producer.poll(0)
        assert producer.flush(30) == 0
    finally:
        serde.close()


def wait_for_enriched(
    settings: Settings, order_ids: set[str], timeout_s: float = 180
) -> list[EnrichedOrder]:
    """The EnrichedOrders of ``order_ids`` in the order they were committed, once all are there."""
    serde = EventSerde.from_settings(settings)
    follower = TopicFollower(settings, ENRICHED_ORDERS)
    found: list[EnrichedOrder] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for record in follower.catch_up():
                event = serde.decode(record.value)
                if event.order_id in order_ids:
                    found.append(event)
            if {e.order_id for e in found} >= order_ids:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(order_ids) - len({e.order_id for e in found})} of {len(order_ids)} "
                    f"orders not enriched within {timeout_s:.0f} s"
                )
            time.sleep(0.5)
    finally:
        follower.close()
        serde.close()
