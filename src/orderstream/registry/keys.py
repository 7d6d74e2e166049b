"""Keys and values of the ``_schemas`` topic, byte-compatible with Confluent and Karapace.

Keys are compact JSON with a fixed field order, because log compaction compares raw key bytes:
the same logical key must always encode to the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class KeyType(StrEnum):
    SCHEMA = "SCHEMA"
    CONFIG = "CONFIG"
    DELETE_SUBJECT = "DELETE_SUBJECT"
    NOOP = "NOOP"


@dataclass(frozen=True)
class StoreKey:
    """A decoded key; ``subject`` is None for the global CONFIG and for NOOP."""

    keytype: str
    subject: str | None = None
    version: int | None = None


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def schema_key(subject: str, version: int) -> bytes:
    return _dumps({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})


def config_key(subject: str | None) -> bytes:
    """The CONFIG key; a null subject is the global level (as Confluent writes it)."""
    return _dumps({"keytype": "CONFIG", "subject": subject, "magic": 0})


def delete_subject_key(subject: str) -> bytes:
    return _dumps({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0})


def noop_key() -> bytes:
    return _dumps({"keytype": "NOOP", "magic": 0})


def encode_value(value: dict[str, Any]) -> bytes:
    return _dumps(value)


def decode_key(raw: bytes) -> StoreKey | None:
    """The key, or None for bytes that are not a key we know (other tools' records)."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("keytype"), str):
        return None
    subject = obj.get("subject")
    version = obj.get("version")
    return StoreKey(
        keytype=obj["keytype"],
        subject=subject if isinstance(subject, str) else None,
        version=version if isinstance(version, int) else None,
    )


def decode_value(raw: bytes | None) -> dict[str, Any] | None:
    """The JSON object of a value, or None for a tombstone or an unreadable value."""
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None
