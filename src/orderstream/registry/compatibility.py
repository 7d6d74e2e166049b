"""Compatibility levels and verdicts, from ``avro.compatibility`` (a port of Java's checker).

BACKWARD: the new schema, as reader, reads the previous one. FORWARD: the previous one, as
reader, reads the new one. FULL: both. ``_TRANSITIVE``: against every live version, otherwise
against the latest only. NONE: no check.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


class Level(StrEnum):
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


def parse_level(text: object) -> Level | None:
    """The level named by ``text`` (case-insensitive), or None when it names none."""
    if not isinstance(text, str):
        return None
    try:
        return Level(text.upper())
    except ValueError:
        return None


def incompatibilities(
    new: avro.schema.Schema,
    previous: Sequence[tuple[int, avro.schema.Schema]],
    level: Level,
) -> list[str]:
    """Readable reasons why ``new`` breaks ``level`` against ``previous`` (version, schema),
    oldest first; empty when compatible."""
    if level is Level.NONE or not previous:
        return []
    targets = previous if level.transitive else previous[-1:]
    reasons: list[str] = []
    for version, old in reversed(targets):
        if level.backward:
            reasons += _check(new, old, f"new schema cannot read version {version}")
        if level.forward:
            reasons += _check(old, new, f"version {version} cannot read the new schema")
    return reasons


def reader_reads_writer(reader: avro.schema.Schema, writer: avro.schema.Schema) -> bool:
    """Whether data written with ``writer`` can be read with ``reader``."""
    return not _check(reader, writer, "")


def _check(reader: avro.schema.Schema, writer: avro.schema.Schema, what: str) -> list[str]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted(i.name.upper() for i in result.incompatibilities)) or "INCOMPATIBLE"
    where = ", ".join(sorted(result.locations))
    detail = "; ".join(sorted(result.messages))
    return [f"{what}: {kinds} at {where}: {detail}"]
