"""Typed events: frozen dataclasses mirroring the Avro records of ``schemas/``.

Python names are snake_case, Avro names camelCase (``amount_cents`` <-> ``amountCents``).
Money is integer minor units; timestamps are integer epoch milliseconds (Avro
``timestamp-millis`` on the wire). Each event class is declared with ``@avro_event``;
other modules can add their own the same way (or with ``register_event_type``, for a dataclass
that sets its own ``schema_name``); ``EventSerde.decode`` finds the class by the writer's
record name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Literal, TypeVar, dataclass_transform

from orderstream.serde.catalog import NAMESPACE

ReservationStatus = Literal["RESERVED", "REJECTED"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLI = dt.timedelta(milliseconds=1)


@dataclasses.dataclass(frozen=True, slots=True)
class OrderLine:
    """The fields every order event begins with (who ordered what, for how much), in the
    order of their Avro records; not an event itself."""

    order_id: str
    customer_id: str
    product_id: str
    quantity: int
    amount_cents: int
    currency: str


_LINE_FIELDS = tuple(f.name for f in dataclasses.fields(OrderLine))

Event = Any  # any registered frozen dataclass
E = TypeVar("E")

# Avro full name -> event class.
EVENT_TYPES: dict[str, type[Any]] = {}


def register_event_type(cls: type[E]) -> type[E]:
    """Make ``cls`` (a dataclass with ``schema_name``) decodable by its Avro full name."""
    name: str = getattr(cls, "schema_name")  # noqa: B009 - ClassVar on an arbitrary class
    full = name if "." in name else f"{NAMESPACE}.{name}"
    EVENT_TYPES[full] = cls
    return cls


@dataclass_transform(frozen_default=True)
def avro_event(cls: type[E]) -> type[E]:
    """What every event class of ``schemas/`` is: a frozen, slotted dataclass whose
    ``schema_name`` is its class name (the Avro record's name), registered for decoding."""
    event = dataclasses.dataclass(frozen=True, slots=True)(cls)
    setattr(event, "schema_name", cls.__name__)  # noqa: B010 - a ClassVar, not a field
    return register_event_type(event)


def line_of(event: OrderLine) -> dict[str, Any]:
    """The order line of an order event, as keyword arguments for the next event."""
    return {name: getattr(event, name) for name in _LINE_FIELDS}


@avro_event
class OrderCreated(OrderLine):
    """A customer placed an order (topic ``orders``, key orderId)."""

    timestamp: int


@avro_event
class Product:
    """A catalog entry (compacted topic ``products``, key productId)."""

    product_id: str
    name: str
    category: str
    unit_price_cents: int


@avro_event
class InventoryAdjusted:
    """A stock change for one product (topic ``inventory-adjustments``, key productId)."""

    product_id: str
    delta: int
    reason: str
    timestamp: int


@avro_event
class EnrichedOrder(OrderLine):
    """An order after stock reservation (topic ``enriched-orders``, key orderId)."""

    timestamp: int
    product_name: str
    category: str
    status: ReservationStatus
    reject_reason: str | None
    stock_after: int
    enriched_at: int


@avro_event
class PaymentCompleted(OrderLine):
    """The provider took a RESERVED order's payment (topic ``payments-completed``, key orderId)."""

    payment_id: str
    reserved_at: int
    completed_at: int


@avro_event
class PaymentFailed(OrderLine):
    """A RESERVED order's payment failed for good (topic ``payments-failed``, key orderId)."""

    reason: str
    detail: str | None
    reserved_at: int
    failed_at: int


@avro_event
class StockReleased:
    """Enrichment gave a reservation back (topic ``stock-released``, key orderId)."""

    order_id: str
    product_id: str
    quantity: int
    reason: str
    detail: str | None
    stock_after: int
    released_at: int


def camel(name: str) -> str:
    """``amount_cents`` -> ``amountCents``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``amountCents`` -> ``amount_cents``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


_FIELD_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}


def _field_names(cls: type) -> tuple[tuple[str, str], ...]:
    """(python name, Avro name) per field, computed once per class: this is on the hot path."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple((f.name, camel(f.name)) for f in dataclasses.fields(cls))
        _FIELD_NAMES[cls] = names
    return names


def to_record(event: Any) -> dict[str, Any]:
    """The Avro record (camelCase dict) of an event."""
    return {avro: getattr(event, py) for py, avro in _field_names(type(event))}


def from_record(cls: type[E], record: dict[str, Any]) -> E:
    """Build an event from a decoded Avro record; datetimes become epoch millis."""
    values = {}
    for py, avro in _field_names(cls):
        value = record.get(avro)
        if isinstance(value, dt.datetime):
            value = millis(value)
        values[py] = value
    return cls(**values)


def millis(moment: dt.datetime) -> int:
    """Exact epoch milliseconds of an aware datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // _MILLI
