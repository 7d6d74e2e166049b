"""A registration request as the API takes it, and a version as the API answers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderstream.registry import errors
from orderstream.registry.avro_schema import InvalidSchema, canonical_text
from orderstream.registry.state import AVRO, Reference, SchemaVersion, parse_references

MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class SchemaRequest:
    """The body of a register, lookup or compatibility request."""

    schema: str
    schema_type: str
    references: tuple[Reference, ...]

    @classmethod
    def from_body(cls, body: Any) -> SchemaRequest:
        if not isinstance(body, dict):
            raise errors.invalid_schema("The request body must be a JSON object")
        schema = body.get("schema")
        if not isinstance(schema, str) or not schema.strip():
            raise errors.invalid_schema("Empty schema")
        schema_type = body.get("schemaType") or AVRO
        if schema_type != AVRO:
            raise errors.invalid_schema(f"Invalid schema type {schema_type!r}: only AVRO")
        try:
            references = parse_references(body.get("references"))
        except ValueError as exc:
            raise errors.invalid_schema(f"Invalid references: {exc}") from None
        try:
            canonical = canonical_text(schema)
        except InvalidSchema as exc:
            raise errors.invalid_schema(str(exc)) from None
        return cls(canonical, AVRO, references)


def parse_version(text: str) -> int | None:
    """The version number, or None for "latest" / -1; 42202 for anything else."""
    if text.lower() == "latest" or text == "-1":
        return None
    try:
        number = int(text)
    except ValueError:
        raise errors.invalid_version(text) from None
    if not 1 <= number <= MAX_VERSION:
        raise errors.invalid_version(text)
    return number


def version_json(v: SchemaVersion) -> dict[str, Any]:
    """A version as GET .../versions/{n} and lookups answer it."""
    return {**v.coordinates(), **v.schema_json()}
