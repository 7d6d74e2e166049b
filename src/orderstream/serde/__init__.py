"""Avro event contracts, typed events and the Confluent wire format.

from orderstream.serde import EventSerde, OrderCreated
serde = EventSerde(registry_url)          # or EventSerde.from_settings(settings)
data = serde.encode("orders", event)      # subject "orders-value"; id registered once, cached
event = serde.decode(data)                # typed event, or DeserializationError
"""

from orderstream.serde.catalog import TOPIC_SCHEMAS, schema_text, value_subject
from orderstream.serde.client import RegistryClient
from orderstream.serde.events import (
    EVENT_TYPES,
    EnrichedOrder,
    InventoryAdjusted,
    OrderCreated,
    PaymentCompleted,
    PaymentFailed,
    Product,
    StockReleased,
    avro_event,
    register_event_type,
)
from orderstream.serde.serde import Codec, EventSerde
from orderstream.serde.wire import frame, unframe

__all__ = [
    "EVENT_TYPES",
    "TOPIC_SCHEMAS",
    "Codec",
    "EnrichedOrder",
    "EventSerde",
    "InventoryAdjusted",
    "OrderCreated",
    "PaymentCompleted",
    "PaymentFailed",
    "Product",
    "RegistryClient",
    "StockReleased",
    "avro_event",
    "frame",
    "register_event_type",
    "schema_text",
    "unframe",
    "value_subject",
]
