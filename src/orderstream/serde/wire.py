"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro body."""

from __future__ import annotations

import struct

from orderstream.errors import DeserializationError

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an Avro body with the wire-format header."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + body


def unframe(data: bytes | None) -> tuple[int, memoryview]:
    """Split wire-format bytes into (schema id, body), or raise DeserializationError."""
    if data is None:
        raise DeserializationError("value is null (a tombstone), not an Avro record")
    if len(data) < HEADER_SIZE:
        raise DeserializationError(
            f"value of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte wire header"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise DeserializationError(f"unknown magic byte {magic} (expected {MAGIC_BYTE})")
    return schema_id, memoryview(data)[HEADER_SIZE:]
