"""The _schemas records are Confluent's: what we write has their exact keys and values, and a
topic written the Confluent way (by hand here) is served as is."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from orderstream.testing.cluster import LocalCluster

from .conftest import StartRegistry, record_schema

pytestmark = pytest.mark.integration

SCHEMA = record_schema("Stored", [{"name": "a", "type": "string"}])


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    records = []
    try:
        while True:
            msg = consumer.poll(10)
            assert msg is not None, "timed out reading the topic"
            if msg.error():
                break  # partition EOF
            records.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return records


def test_written_records_have_confluent_formats(
    kafka_cluster: LocalCluster, schemas_topic: str, start_private: StartRegistry
) -> None:
    url = start_private().url
    httpx.put(f"{url}/config", json={"compatibility": "FULL"})
    schema_id = httpx.post(f"{url}/subjects/a%2Fb/versions", json={"schema": SCHEMA}).json()["id"]
    httpx.delete(f"{url}/subjects/a%2Fb")
    records = [(k, v) for k, v in read_topic(kafka_cluster.bootstrap, schemas_topic)
               if not k.startswith(b'{"keytype":"NOOP"')]  # fmt: skip
    assert records[0] == (
        b'{"keytype":"CONFIG","subject":null,"magic":0}',
        b'{"compatibilityLevel":"FULL"}',
    )
    key, value = records[1]
    assert key == b'{"keytype":"SCHEMA","subject":"a/b","version":1,"magic":1}'
    assert value is not None
    assert json.loads(value) == {
        "subject": "a/b", "version": 1, "id": schema_id,
        "schema": json.dumps(json.loads(SCHEMA), separators=(",", ":")), "deleted": False,
    }  # fmt: skip
    assert records[2] == (
        b'{"keytype":"DELETE_SUBJECT","subject":"a/b","magic":0}',
        b'{"subject":"a/b","version":1}',
    )


def test_a_topic_written_by_another_registry_is_served(
    kafka_cluster: LocalCluster, schemas_topic: str, start_private: StartRegistry
) -> None:
    producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap})
    foreign = [  # as Confluent writes them: spacing, field order and optional fields vary
        (b'{"keytype":"SCHEMA","subject":"legacy-value","version":1,"magic":1}',
         json.dumps({"subject": "legacy-value", "version": 1, "id": 41, "schema": SCHEMA,
                     "deleted": False}).encode()),
        (b'{"keytype":"SCHEMA","subject":"legacy-value","version":2,"magic":1}',
         json.dumps({"subject": "legacy-value", "version": 2, "id": 42, "schemaType": "AVRO",
                     "schema": '"string"', "deleted": True}).encode()),
        (b'{"keytype":"CONFIG","subject":"legacy-value","magic":0}',
         b'{"compatibilityLevel":"FORWARD"}'),
        (b'{"keytype":"NOOP","magic":0}', None),
        (b'{"keytype":"MODE","subject":null,"magic":0}', b'{"mode":"READWRITE"}'),  # unknown
    ]  # fmt: skip
    for key, value in foreign:
        producer.produce(schemas_topic, key=key, value=value)
    assert producer.flush(30) == 0

    url = start_private().url
    assert httpx.get(f"{url}/subjects/legacy-value/versions").json() == [1]
    assert httpx.get(f"{url}/schemas/ids/42").json() == {"schema": '"string"'}
    assert httpx.get(f"{url}/config/legacy-value").json() == {"compatibilityLevel": "FORWARD"}
    fresh = httpx.post(f"{url}/subjects/new/versions", json={"schema": '"long"'}, timeout=30)
    assert fresh.json() == {"id": 43}  # the highest id in the topic, plus one
