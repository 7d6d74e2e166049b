"""EventSerde against the real registry: typed round trips, ids cached, undecodable bytes."""

from __future__ import annotations

import struct

import pytest

from orderstream.errors import DeserializationError, SerializationError
from orderstream.serde import (
    EnrichedOrder,
    EventSerde,
    InventoryAdjusted,
    OrderCreated,
    Product,
)

pytestmark = pytest.mark.integration

ORDER = OrderCreated("o-1", "c-1", "p-1", 2, 1998, "EUR", 1_795_000_000_123)
ENRICHED = EnrichedOrder(
    "o-1", "c-1", "p-1", 2, 1998, "EUR", 1_795_000_000_123,
    "Mug", "kitchen", "REJECTED", "out of stock", 0, 1_795_000_000_456,
)  # fmt: skip


def test_every_event_round_trips(schema_registry_url: str) -> None:
    serde = EventSerde(schema_registry_url)
    events = [
        ("orders", ORDER),
        ("products", Product("p-1", "Mug", "kitchen", 999)),
        ("inventory-adjustments", InventoryAdjusted("p-1", 5, "restock", 1_795_000_000_000)),
        ("enriched-orders", ENRICHED),
        ("orders-by-product", ORDER),
        ("orders-by-product", InventoryAdjusted("p-1", 5, "restock", 1_795_000_000_000)),
    ]
    for topic, event in events:
        data = serde.encode(topic, event)
        assert data[0] == 0
        assert serde.decode(data) == event
    fresh = EventSerde(schema_registry_url)  # decodes by id alone, with empty caches
    assert fresh.decode(serde.encode("enriched-orders", ENRICHED)) == ENRICHED


def test_schema_id_is_looked_up_once(schema_registry_url: str) -> None:
    serde = EventSerde(schema_registry_url)
    first = serde.encode("orders", ORDER)
    serde.client.close()  # a closed HTTP client fails any further lookup
    assert serde.encode("orders", ORDER)[:5] == first[:5]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x00\x00\x00\x01abc", "magic byte"),
        (struct.pack(">bI", 0, 999_999) + b"\x02", "unknown schema id"),
        (b"\x00\x00", "shorter than"),
    ],
)
def test_undecodable_bytes_raise_one_clear_error(
    schema_registry_url: str, data: bytes, reason: str
) -> None:
    with pytest.raises(DeserializationError, match=reason):
        EventSerde(schema_registry_url).decode(data)


def test_truncated_and_garbage_bodies(schema_registry_url: str) -> None:
    serde = EventSerde(schema_registry_url)
    data = serde.encode("orders", ORDER)
    with pytest.raises(DeserializationError, match="not a valid OrderCreated"):
        serde.decode(data[:-4])
    with pytest.raises(DeserializationError, match="trailing bytes"):
        serde.decode(data + b"\x00")


def test_values_that_do_not_fit_raise_serialization_error(schema_registry_url: str) -> None:
    serde = EventSerde(schema_registry_url)
    bad = OrderCreated("o-1", "c-1", "p-1", "two", 1998, "EUR", 1)  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="OrderCreated does not fit"):
        serde.encode("orders", bad)
    with pytest.raises(SerializationError, match="not an event type"):
        serde.encode("orders", object())
