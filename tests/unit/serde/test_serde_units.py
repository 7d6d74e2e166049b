"""Wire format, typed events and the packaged schemas, without a registry."""

from __future__ import annotations

import datetime as dt
import io
import json

import avro.schema
import fastavro
import pytest

import orderstream.serde as serde
from orderstream.errors import DeserializationError
from orderstream.registry.avro_schema import parse
from orderstream.registry.compatibility import Level, incompatibilities
from orderstream.serde.catalog import TOPIC_SCHEMAS, released_dir, schema_text, schemas_dir
from orderstream.serde.events import camel, from_record, millis, snake, to_record
from orderstream.serde.wire import frame, unframe

ORDER = serde.OrderCreated("o", "c", "p", 1, 250, "EUR", 1_795_000_000_001)


def test_public_api() -> None:
    assert set(serde.__all__) >= {
        "OrderCreated", "Product", "InventoryAdjusted", "EnrichedOrder", "EventSerde",
    }  # fmt: skip


def test_wire_format() -> None:
    data = frame(258, b"body")
    assert data == b"\x00\x00\x00\x01\x02body"
    schema_id, body = unframe(data)
    assert (schema_id, bytes(body)) == (258, b"body")
    for bad, reason in [(b"\x01\x00\x00\x00\x01x", "magic"), (b"\x00\x00", "shorter"),
                        (None, "tombstone")]:  # fmt: skip
        with pytest.raises(DeserializationError, match=reason):
            unframe(bad)


def test_names_and_timestamps() -> None:
    assert camel("amount_cents") == "amountCents" and snake("amountCents") == "amount_cents"
    assert camel("latency_p50_ms") == "latencyP50Ms"
    moment = dt.datetime(2026, 11, 27, 10, 0, 0, 123_000, tzinfo=dt.UTC)
    assert millis(moment) == 1_795_773_600_123
    assert millis(moment.replace(tzinfo=None)) == 1_795_773_600_123


def test_events_round_trip_through_fastavro() -> None:
    parsed = fastavro.parse_schema(json.loads(schema_text("OrderCreated")))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, to_record(ORDER))
    buf.seek(0)
    record = fastavro.schemaless_reader(buf, parsed, None)
    assert isinstance(record["timestamp"], dt.datetime)  # fastavro's logical type...
    assert from_record(serde.OrderCreated, record) == ORDER  # ...back to exact millis


def test_every_field_has_a_doc_and_every_schema_parses() -> None:
    for path in sorted(schemas_dir().glob("*.avsc")):
        schema = json.loads(path.read_text())
        assert schema["namespace"] == "orderstream.events"
        assert all(f.get("doc") for f in schema["fields"]), path.name
        assert isinstance(parse(json.dumps(schema)), avro.schema.RecordSchema)
        fastavro.parse_schema(schema)


def test_current_schemas_are_full_compatible_with_released() -> None:
    for stem in sorted(set(TOPIC_SCHEMAS.values())):
        if not (released_dir() / f"{stem}.avsc").exists():
            continue
        old = parse(schema_text(stem, released_dir()))
        assert incompatibilities(parse(schema_text(stem)), [(1, old)], Level.FULL) == [], stem


def test_avro_events_are_frozen_slotted_registered_and_mirror_their_schema() -> None:
    import dataclasses

    events = [serde.OrderCreated, serde.Product, serde.InventoryAdjusted, serde.EnrichedOrder,
              serde.PaymentCompleted, serde.PaymentFailed, serde.StockReleased]  # fmt: skip
    for cls in events:
        name = cls.__name__
        assert getattr(cls, "schema_name") == name  # noqa: B009 - set by @avro_event
        assert serde.EVENT_TYPES[f"orderstream.events.{name}"] is cls
        assert "__slots__" in vars(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        avro_fields = [f["name"] for f in json.loads(schema_text(name))["fields"]]
        assert sorted(camel(f.name) for f in dataclasses.fields(cls)) == sorted(avro_fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ORDER.quantity = 2  # type: ignore[misc]
