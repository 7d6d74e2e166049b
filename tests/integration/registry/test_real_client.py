"""confluent-kafka's own SchemaRegistryClient and Avro serde, unchanged, against our registry."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from orderstream.testing.cluster import LocalCluster

from .conftest import record_schema

pytestmark = pytest.mark.integration

V1 = record_schema("Order", [{"name": "id", "type": "string"}, {"name": "qty", "type": "int"}])
V2 = record_schema(
    "Order",
    [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
)
BREAKING = record_schema("Order", [{"name": "id", "type": "string"}, {"name": "x", "type": "int"}])


def test_avro_serde_round_trips_through_a_real_topic(
    kafka_cluster: LocalCluster, schema_registry_url: str
) -> None:
    topic = kafka_cluster.create_topic()
    client = SchemaRegistryClient({"url": schema_registry_url})
    serializer = AvroSerializer(client, V1)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": schema_registry_url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    records = [{"id": f"o-{i}", "qty": i} for i in range(5)]
    producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap, "acks": "all"})
    for record in records:
        producer.produce(topic, value=serializer(record, ctx))
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_cluster.bootstrap,
            "group.id": f"g-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got = []
    try:
        while len(got) < len(records):
            msg = consumer.poll(10)
            assert msg is not None, "timed out waiting for records"
            assert msg.error() is None
            got.append(deserializer(msg.value(), ctx))
    finally:
        consumer.close()
    assert got == records
    stored = client.get_latest_version(f"{topic}-value").schema.schema_str
    assert json.loads(stored) == json.loads(V1)  # stored compact, like Confluent


def test_client_calls_behave_as_the_reference_says(schema_registry_url: str) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    subject = f"team/{uuid.uuid4().hex[:8]}-value"  # a '/' travels as %2F
    first = client.register_schema(subject, Schema(V1, "AVRO"))
    assert client.register_schema(subject, Schema(V1, "AVRO")) == first  # idempotent

    found = client.lookup_schema(subject, Schema(V1, "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (first, 1, subject)

    client.set_compatibility(subject_name=subject, level="FULL")
    assert client.get_compatibility(subject) == "FULL"
    assert client.test_compatibility(subject, Schema(V2, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(BREAKING, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(BREAKING, "AVRO"))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 40901)

    second = client.register_schema(subject, Schema(V2, "AVRO"))
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, second)
    assert second != first

    assert client.delete_subject(subject) == [1, 2]
    assert subject not in client.get_subjects()
    with pytest.raises(SchemaRegistryError) as again:
        client.delete_subject(subject)
    assert again.value.error_code == 40404
    assert json.loads(client.get_schema(first).schema_str) == json.loads(V1)  # soft-deleted
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    with pytest.raises(SchemaRegistryError) as gone:
        SchemaRegistryClient({"url": schema_registry_url}).get_versions(subject)  # no cache
    assert gone.value.error_code == 40401
