"""Encode and decode typed events in the Confluent wire format through the registry.

The fast path is fastavro's schemaless writer and reader, with parsed schemas cached per
(topic, event type) for writing and per schema id for reading. ``decode`` works by schema id
alone, whatever the topic, and resolves the writer's schema to the local one of the event type
named by the writer's record name (so older and newer writers both decode).

Schemas are parsed for reading without their ``timestamp-millis`` logical type: fastavro would
build a datetime from each such long, and the event types turn it straight back into epoch
millis (that round trip was a third of analytics' decode time). The longs are the same millis.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro

from orderstream.config import Settings
from orderstream.errors import DeserializationError, RegistryError, SerializationError
from orderstream.naming import prefixed
from orderstream.serde.catalog import NAMESPACE, TOPIC_SCHEMAS, schema_text, value_subject
from orderstream.serde.client import RegistryClient, registry_auth
from orderstream.serde.events import EVENT_TYPES, Event, from_record, to_record
from orderstream.serde.wire import frame, unframe


class Codec(Protocol):
    """What a processor needs from the serde (an ``EventSerde`` is one; tests give fakes)."""

    def encode(self, topic: str, event: Any) -> bytes: ...

    def decode(self, data: bytes | None) -> Any: ...


@dataclass(frozen=True)
class _Writer:
    schema_id: int
    parsed: Any


@dataclass(frozen=True)
class _Reader:
    event_type: type[Any]
    writer: Any
    reader: Any | None  # None when the writer's schema is the local one


class EventSerde:
    """Typed events <-> wire-format bytes; thread-safe, caches everything immutable."""

    def __init__(
        self,
        registry_url: str,
        auth: tuple[str, str] | None = None,
        *,
        client: RegistryClient | None = None,
        prefix: str = "",
    ) -> None:
        self.client = client or RegistryClient(registry_url, auth=auth)
        self.prefix = prefix  # Settings.prefix: the pipeline copy whose subjects these are
        self._lock = threading.Lock()
        self._writers: dict[tuple[str, type[Any]], _Writer] = {}
        self._readers: dict[int, _Reader] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> EventSerde:
        """A serde for ``settings.registry_url`` with its optional Basic credentials."""
        auth = registry_auth(settings)
        # security.ca_file is also trusted for an https registry (the local stack's is signed
        # by the cluster's CA)
        client = RegistryClient(settings.registry_url, auth=auth, ca_file=settings.security.ca_file)
        return cls(settings.registry_url, client=client, prefix=settings.prefix)

    def encode(self, topic: str, event: Event) -> bytes:
        """Wire-format bytes of ``event`` for ``topic`` (schema registered once, then cached)."""
        writer = self._writer(topic, type(event))
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, writer.parsed, to_record(event))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise SerializationError(
                f"{type(event).__name__} does not fit its schema: {exc}"
            ) from exc
        return frame(writer.schema_id, buf.getvalue())

    def decode(self, data: bytes | None) -> Event:
        """The typed event in ``data``; DeserializationError for anything undecodable."""
        event_type, record = self.decode_fields(data)
        return from_record(event_type, record)

    def decode_fields(self, data: bytes | None) -> tuple[type[Any], dict[str, Any]]:
        """The event type in ``data`` and its Avro record (camelCase keys, timestamps as epoch
        millis), for a hot path that reads a few fields and builds no event; errors as
        ``decode``."""
        schema_id, body = unframe(data)
        reader = self._reader(schema_id)
        buf = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(buf, reader.writer, reader.reader)
        except Exception as exc:  # fastavro raises many types on garbage: EOFError, ValueError...
            raise DeserializationError(
                f"body of schema id {schema_id} is not a valid "
                f"{reader.event_type.__name__}: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(record, dict):
            raise DeserializationError(f"schema id {schema_id} does not hold a record")
        if buf.tell() != len(body):
            raise DeserializationError(
                f"body of schema id {schema_id} has {len(body) - buf.tell()} trailing bytes"
            )
        return reader.event_type, record

    def close(self) -> None:
        self.client.close()

    def _writer(self, topic: str, event_type: type[Any]) -> _Writer:
        key = (topic, event_type)
        with self._lock:
            cached = self._writers.get(key)
        if cached is not None:
            return cached
        stem = getattr(event_type, "schema_name", None)
        if not isinstance(stem, str):
            raise SerializationError(f"{event_type.__name__} is not an event type (no schema_name)")
        text = schema_text(stem)
        writer = _Writer(
            self.client.register(subject_for(topic, stem, self.prefix), text), _parse(text)
        )
        with self._lock:
            self._writers[key] = writer
        return writer

    def _reader(self, schema_id: int) -> _Reader:
        # No lock to read: a dict lookup is atomic, and this is once per consumed record.
        cached = self._readers.get(schema_id)
        if cached is not None:
            return cached
        try:
            text = self.client.schema_by_id(schema_id)
        except RegistryError as exc:
            if exc.status == 404:
                raise DeserializationError(f"unknown schema id {schema_id}") from exc
            raise
        reader = _resolve_reader(schema_id, text)
        with self._lock:
            self._readers[schema_id] = reader
        return reader


def subject_for(topic: str, stem: str, prefix: str = "") -> str:
    """``<topic>-value`` when the topic carries this record, else the record's full name.

    A topic can carry a second record type (``orders-by-product`` forwards restocks too);
    those go under RecordNameStrategy so the topic's own subject keeps a single type. Under a
    pipeline prefix (``Settings.prefix``) both kinds of subject take it, so two copies of the
    pipeline evolve their schemas apart on one registry.
    """
    logical = topic[len(prefix) :] if topic.startswith(prefix) else topic
    if TOPIC_SCHEMAS.get(logical) == stem:
        return value_subject(topic)
    return prefixed(prefix, f"{NAMESPACE}.{stem}")


def _parse(text: str) -> Any:
    return fastavro.parse_schema(json.loads(text))


def _parse_for_reading(schema: Any) -> Any:
    return fastavro.parse_schema(_without_timestamps(schema))


def _without_timestamps(schema: Any) -> Any:
    """``schema`` with each ``timestamp-millis`` long a plain long (see the module docstring)."""
    if isinstance(schema, list):
        return [_without_timestamps(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: _without_timestamps(value)
        for key, value in schema.items()
        if not (key == "logicalType" and value == "timestamp-millis")
    }


def _resolve_reader(schema_id: int, text: str) -> _Reader:
    try:
        writer_json = json.loads(text)
        writer = _parse_for_reading(writer_json)
    except Exception as exc:
        raise DeserializationError(f"schema id {schema_id} is not a usable Avro schema") from exc
    name = writer.get("name") if isinstance(writer, dict) else None
    event_type = EVENT_TYPES.get(str(name))
    if event_type is None:
        raise DeserializationError(f"schema id {schema_id} is record {name!r}: no event type")
    local = schema_text(event_type.schema_name)
    same = json.dumps(writer_json, separators=(",", ":")) == local
    reader = None if same else _parse_for_reading(json.loads(local))
    return _Reader(event_type, writer, reader)
