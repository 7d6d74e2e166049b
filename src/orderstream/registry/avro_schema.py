"""Parse and validate Avro schemas the way the Java registry does.

``avro.schema.parse`` accepts field defaults that do not match their type, and compares
unqualified aliases with qualified names; Java rejects the first (42201) and qualifies the
second. Both gaps are closed here, so the compatibility checker sees what Java would see.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import avro.errors
import avro.name
import avro.schema

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)


class InvalidSchema(ValueError):
    """The text is not a valid Avro schema; the message is the parser's."""


def canonical_text(text: str) -> str:
    """The schema as stored: its JSON with insignificant whitespace removed."""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError as exc:
        raise InvalidSchema(f"Invalid schema: not JSON: {exc}") from exc


def parse(text: str, references: Sequence[str] = ()) -> avro.schema.Schema:
    """Parse ``text`` after the referenced schema texts (dependencies first), and validate it."""
    names = avro.name.Names(validate_names=True)
    try:
        for ref_text in references:
            avro.schema.make_avsc_object(json.loads(ref_text), names)
        schema = avro.schema.make_avsc_object(json.loads(text), names)
    except (ValueError, TypeError, KeyError, AttributeError, avro.errors.AvroException) as exc:
        raise InvalidSchema(f"Invalid schema: {exc}") from exc
    except RecursionError as exc:
        raise InvalidSchema("Invalid schema: nested too deeply") from exc
    _walk(schema, set())
    return schema


def _walk(schema: avro.schema.Schema, seen: set[int]) -> None:
    """Validate defaults and qualify aliases of every named type, once each."""
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if isinstance(schema, avro.schema.NamedSchema):
        _qualify_aliases(schema)
    if isinstance(schema, avro.schema.RecordSchema):
        for field in schema.fields:
            if field.has_default and not valid_default(field.type, field.default):
                raise InvalidSchema(
                    f"Invalid default for field {field.name}: {json.dumps(field.default)} "
                    f"not a {field.type}"
                )
            _walk(field.type, seen)
    elif isinstance(schema, avro.schema.ArraySchema):
        _walk(schema.items, seen)
    elif isinstance(schema, avro.schema.MapSchema):
        _walk(schema.values, seen)
    elif isinstance(schema, avro.schema.UnionSchema):
        for branch in schema.schemas:
            _walk(branch, seen)


def _qualify_aliases(schema: avro.schema.NamedSchema) -> None:
    aliases = schema.props.get("aliases")
    if not isinstance(aliases, list):
        return
    namespace = schema.namespace
    schema.props["aliases"] = [
        a if "." in a or not namespace else f"{namespace}.{a}"
        for a in aliases
        if isinstance(a, str)
    ]


def valid_default(schema: avro.schema.Schema, value: Any) -> bool:
    """Whether ``value`` (decoded JSON) is a valid default for ``schema``, as Java judges it."""
    kind = schema.type
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        low, high = _INT_RANGE if kind == "int" else _LONG_RANGE
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("string", "bytes", "fixed"):
        return isinstance(value, str)
    if kind == "enum":
        return isinstance(value, str) and value in schema.symbols  # type: ignore[attr-defined]
    if kind == "array":
        items = schema.items  # type: ignore[attr-defined]
        return isinstance(value, list) and all(valid_default(items, v) for v in value)
    if kind == "map":
        values = schema.values  # type: ignore[attr-defined]
        return isinstance(value, dict) and all(valid_default(values, v) for v in value.values())
    if kind in ("union", "error_union"):
        return any(valid_default(b, value) for b in schema.schemas)  # type: ignore[attr-defined]
    if kind in ("record", "error", "request"):
        return isinstance(value, dict) and all(
            valid_default(f.type, value[f.name]) if f.name in value else f.has_default
            for f in schema.fields  # type: ignore[attr-defined]
        )
    return True
