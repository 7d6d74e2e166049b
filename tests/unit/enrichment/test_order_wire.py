"""OrderWire: orders decoded and EnrichedOrders encoded on the bytes give exactly what the serde
gives, and anything whose layout is not proven (another schema, another codec) takes the serde."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from orderstream.errors import DeserializationError
from orderstream.serde import EnrichedOrder, EventSerde, OrderCreated, Product
from orderstream.serde.catalog import schema_text
from orderstream.services.enrichment.order_wire import OrderWire, avro_long
from orderstream.services.enrichment.rules import RejectReason, Reservation, Status
from orderstream.testing.registry import MemoryRegistry

ORDER = OrderCreated("o-1", "c-9", "p-7", 3, 4_500, "EUR", 1_764_000_000_123)
LAMP = Product("p-7", "Lämp", "home", 1500)
RESERVED = Reservation(Status.RESERVED, None, 41)
OUT = Reservation(Status.REJECTED, RejectReason.OUT_OF_STOCK, 2)


class CountingSerde(EventSerde):
    def __init__(self, registry: MemoryRegistry) -> None:
        super().__init__("memory://", client=registry)  # type: ignore[arg-type]
        self.decodes = self.encodes = 0

    def decode(self, data: bytes | None) -> object:
        self.decodes += 1
        return super().decode(data)

    def encode(self, topic: str, event: object) -> bytes:
        self.encodes += 1
        return super().encode(topic, event)


@pytest.fixture
def serde() -> CountingSerde:
    return CountingSerde(MemoryRegistry())


def enriched(order: OrderCreated, product: Product | None, outcome: Reservation) -> EnrichedOrder:
    return EnrichedOrder(
        order.order_id, order.customer_id, order.product_id, order.quantity,
        order.amount_cents, order.currency, order.timestamp,
        product.name if product else "", product.category if product else "",
        outcome.status.value, outcome.reject_reason.value if outcome.reject_reason else None,
        outcome.stock_after, 99,
    )  # fmt: skip


def test_orders_after_the_first_are_read_from_the_bytes_and_equal_the_serdes(
    serde: CountingSerde,
) -> None:
    wire = OrderWire(serde, "enriched-orders", serde.client.schema_by_id)
    orders = [ORDER, OrderCreated("ö-2", "c-1", "p-1", 1, -5, "JPY", 0)]
    values = [serde.encode("orders", o) for o in orders]
    assert [wire.decode(v) for v in values] == orders
    assert serde.decodes == 1  # only the first order of its schema id went through the serde


def test_enriched_orders_on_the_bytes_equal_the_serdes_encoding(serde: CountingSerde) -> None:
    wire = OrderWire(serde, "enriched-orders", serde.client.schema_by_id)
    value = serde.encode("orders", ORDER)
    wire.decode(value)
    for product, outcome in [(LAMP, RESERVED), (LAMP, OUT), (None, OUT), (LAMP, RESERVED)]:
        expected = serde.encode("enriched-orders", enriched(ORDER, product, outcome))
        before = serde.encodes
        assert wire.encode_enriched(ORDER, value, product, outcome, 99) == expected
        assert serde.decode(expected) == enriched(ORDER, product, outcome)
    assert serde.encodes == before  # the last ones were built from the bytes


def test_an_order_of_another_schema_version_takes_the_serde(serde: CountingSerde) -> None:
    evolved = json.loads(schema_text("OrderCreated"))
    evolved["fields"].append({"name": "note", "type": "string", "default": ""})
    schema_id = serde.client.register("orders-value", json.dumps(evolved))
    buf = io.BytesIO()
    record = {"orderId": "o-1", "customerId": "c-9", "productId": "p-7", "quantity": 3,
              "amountCents": 4_500, "currency": "EUR", "timestamp": ORDER.timestamp,
              "note": "x"}  # fmt: skip
    fastavro.schemaless_writer(buf, fastavro.parse_schema(evolved), record)
    value = b"\0" + schema_id.to_bytes(4, "big") + buf.getvalue()
    wire = OrderWire(serde, "enriched-orders", serde.client.schema_by_id)
    assert wire.decode(value) == ORDER and wire.decode(value + b"") == ORDER
    assert wire.decode(value[:-1] + b"\x02") == ORDER  # another order: still the serde's
    assert serde.decodes == 2  # never trusted; the repeated value was decoded once
    out = wire.encode_enriched(ORDER, value, LAMP, RESERVED, 99)
    assert serde.decode(out) == enriched(ORDER, LAMP, RESERVED)


def test_garbage_under_a_trusted_schema_id_is_a_deserialization_error(
    serde: CountingSerde,
) -> None:
    wire = OrderWire(serde, "enriched-orders", serde.client.schema_by_id)
    value = serde.encode("orders", ORDER)
    wire.decode(value)
    with pytest.raises(DeserializationError, match="trailing bytes"):
        wire.decode(value + b"\x01")
    with pytest.raises(DeserializationError, match="not a valid OrderCreated"):
        wire.decode(value[:12])


@pytest.mark.parametrize("n", [0, 1, -1, 63, -64, 64, 2**31, -(2**40), 2**63 - 1, -(2**63)])
def test_avro_long_is_what_fastavro_writes(n: int) -> None:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", n)
    assert avro_long(n) == buf.getvalue()


def test_without_a_schema_lookup_every_order_takes_the_serde(serde: CountingSerde) -> None:
    wire = OrderWire(serde, "enriched-orders")
    other = OrderCreated("o-2", "c", "p", 1, 2, "EUR", 3)
    values = [serde.encode("orders", ORDER), serde.encode("orders", other)]
    assert [wire.decode(v).order_id for v in values] == ["o-1", "o-2"] and serde.decodes == 2
    assert serde.decode(wire.encode_enriched(ORDER, values[0], LAMP, RESERVED, 99)) == enriched(
        ORDER, LAMP, RESERVED
    )
