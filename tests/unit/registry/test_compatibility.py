"""Compatibility verdicts and the checks the avro package lacks, without a broker."""

from __future__ import annotations

import json

import pytest

from orderstream.registry.avro_schema import InvalidSchema, canonical_text, parse
from orderstream.registry.compatibility import Level, incompatibilities, parse_level


def rec(*fields: dict[str, object], name: str = "R", **extra: object) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "n", "fields": list(fields)}
                      | extra)  # fmt: skip


A = {"name": "a", "type": "string"}


def verdict(new: str, old: str, level: Level) -> bool:
    return not incompatibilities(parse(new), [(1, parse(old))], level)


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward"),
    [
        (rec(A), rec(A, {"name": "b", "type": "int", "default": 1}), True, True),
        (rec(A), rec(A, {"name": "b", "type": "int"}), False, True),
        (rec(A, {"name": "b", "type": "int"}), rec(A), True, False),
        (rec({"name": "n", "type": "int"}), rec({"name": "n", "type": "long"}), True, False),
        (rec(A), rec(A, name="R2", aliases=["R"]), True, False),  # unqualified alias
    ],
)
def test_directions(old: str, new: str, backward: bool, forward: bool) -> None:
    assert verdict(new, old, Level.BACKWARD) is backward
    assert verdict(new, old, Level.FORWARD) is forward
    assert verdict(new, old, Level.FULL) is (backward and forward)
    assert verdict(new, old, Level.NONE) is True


def test_reasons_are_readable() -> None:
    (reason,) = incompatibilities(
        parse(rec(A, {"name": "b", "type": "int"})), [(3, parse(rec(A)))], Level.BACKWARD
    )
    assert "version 3" in reason and "READER_FIELD_MISSING_DEFAULT_VALUE" in reason


@pytest.mark.parametrize(
    ("field_type", "default"),
    [
        ("int", "zero"),
        ("int", 2**40),
        ("string", None),
        (["null", "string"], 5),
        ({"type": "enum", "name": "E", "symbols": ["X"]}, "Y"),
        ({"type": "array", "items": "int"}, ["a"]),
        ("boolean", 0),
    ],
)
def test_defaults_must_match_their_type(field_type: object, default: object) -> None:
    with pytest.raises(InvalidSchema, match="Invalid default"):
        parse(rec({"name": "f", "type": field_type, "default": default}))


def test_valid_defaults_and_references() -> None:
    parse(rec({"name": "f", "type": ["null", "string"], "default": None}))
    parse(rec({"name": "f", "type": {"type": "map", "values": "long"}, "default": {"k": 1}}))
    address = json.dumps({"type": "record", "name": "Address", "namespace": "n",
                          "fields": [{"name": "city", "type": "string"}]})  # fmt: skip
    parse(rec({"name": "home", "type": "n.Address"}), [address])
    with pytest.raises(InvalidSchema, match="Unknown|Undefined|not a"):
        parse(rec({"name": "home", "type": "n.Address"}))


def test_invalid_text_and_levels() -> None:
    with pytest.raises(InvalidSchema, match="not JSON"):
        canonical_text("{nope")
    assert canonical_text('{ "type" : "int" }') == '{"type":"int"}'
    assert parse_level("full_transitive") is Level.FULL_TRANSITIVE
    assert parse_level("SIDEWAYS") is None and parse_level(3) is None
