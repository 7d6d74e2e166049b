"""The registry's in-memory view of ``_schemas``: a pure fold over the topic's records.

Every instance builds the same state by applying the records in offset order; nothing else is
kept anywhere. Callers hold ``lock`` while they read, because the store's reader thread applies
new records concurrently.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

from orderstream.registry.keys import KeyType, StoreKey, decode_key, decode_value

AVRO = "AVRO"
DEFAULT_LEVEL = "BACKWARD"


@dataclass(frozen=True)
class Reference:
    """A named type imported from another subject's version."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one subject, as stored in a SCHEMA record."""

    subject: str
    version: int
    schema_id: int
    schema: str
    schema_type: str = AVRO
    references: tuple[Reference, ...] = ()
    deleted: bool = False

    def to_value(self) -> dict[str, Any]:
        """The SCHEMA record's value (schemaType and references only when needed)."""
        return {
            **self.coordinates(),
            **self.non_default_fields(),
            "schema": self.schema,
            "deleted": self.deleted,
        }

    def coordinates(self) -> dict[str, Any]:
        """Where this version stands (subject, version) and its id, as the JSON names them."""
        return {"subject": self.subject, "version": self.version, "id": self.schema_id}

    def schema_json(self) -> dict[str, Any]:
        """The schema as the API answers it, with the non-default fields."""
        return {"schema": self.schema, **self.non_default_fields()}

    def non_default_fields(self) -> dict[str, Any]:
        """schemaType and references, each only when it is not the default (Confluent's way)."""
        fields: dict[str, Any] = {}
        if self.schema_type != AVRO:
            fields["schemaType"] = self.schema_type
        if self.references:
            fields["references"] = [r.to_json() for r in self.references]
        return fields

    def identity(self) -> tuple[str, str, tuple[Reference, ...]]:
        """What makes two registrations "the same schema" (and so the same id)."""
        return (self.schema_type, self.schema, self.references)


def parse_references(raw: Any) -> tuple[Reference, ...]:
    """References from JSON; raises ValueError naming what is wrong."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("references must be a list")
    refs = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("each reference must be an object")
        name, subject, version = item.get("name"), item.get("subject"), item.get("version")
        if not isinstance(name, str) or not isinstance(subject, str):
            raise ValueError("a reference needs string name and subject")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("a reference needs an integer version")
        refs.append(Reference(name, subject, version))
    return tuple(refs)


class RegistryState:
    """Subjects, versions, ids and compatibility levels, folded from ``_schemas``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.subjects: dict[str, dict[int, SchemaVersion]] = {}
        self.by_id: dict[int, SchemaVersion] = {}  # one representative version per id
        self.id_users: dict[int, set[tuple[str, int]]] = {}
        self.by_identity: dict[tuple[str, str, tuple[Reference, ...]], int] = {}
        self.levels: dict[str | None, str] = {}
        self.max_id = 0
        self.records = 0

    def apply(self, raw_key: bytes | None, raw_value: bytes | None) -> None:
        """Fold one record of the topic into the state; unknown records are skipped."""
        key = decode_key(raw_key) if raw_key is not None else None
        if key is None:
            return
        value = decode_value(raw_value)
        with self.lock:
            self.records += 1
            if key.keytype == KeyType.SCHEMA:
                self._apply_schema(key, value)
            elif key.keytype == KeyType.CONFIG:
                self._apply_config(key, value)
            elif key.keytype == KeyType.DELETE_SUBJECT and value is not None:
                self._apply_delete_subject(value)

    def _apply_schema(self, key: StoreKey, value: dict[str, Any] | None) -> None:
        if key.subject is None or key.version is None:
            return
        if value is None:
            self._forget(key.subject, key.version)
            return
        try:
            version = SchemaVersion(
                subject=key.subject,
                version=key.version,
                schema_id=int(value["id"]),
                schema=str(value["schema"]),
                schema_type=str(value.get("schemaType") or AVRO),
                references=parse_references(value.get("references")),
                deleted=bool(value.get("deleted", False)),
            )
        except (KeyError, TypeError, ValueError):
            return
        self._forget(key.subject, key.version)
        self.subjects.setdefault(key.subject, {})[key.version] = version
        self.by_id.setdefault(version.schema_id, version)
        self.id_users.setdefault(version.schema_id, set()).add((key.subject, key.version))
        self.by_identity.setdefault(version.identity(), version.schema_id)
        self.max_id = max(self.max_id, version.schema_id)

    def _forget(self, subject: str, version_number: int) -> None:
        versions = self.subjects.get(subject)
        old = versions.pop(version_number, None) if versions is not None else None
        if old is None:
            return
        if not versions:
            del self.subjects[subject]
        users = self.id_users.get(old.schema_id, set())
        users.discard((subject, version_number))
        if users:
            current = self.by_id.get(old.schema_id)
            if current is not None and (current.subject, current.version) == (
                subject,
                version_number,
            ):
                s, v = next(iter(users))
                self.by_id[old.schema_id] = self.subjects[s][v]
            return
        # No version uses the id any more; max_id keeps it so it is never reused.
        self.id_users.pop(old.schema_id, None)
        self.by_id.pop(old.schema_id, None)
        self.by_identity.pop(old.identity(), None)

    def _apply_config(self, key: StoreKey, value: dict[str, Any] | None) -> None:
        level = value.get("compatibilityLevel") if value else None
        if isinstance(level, str):
            self.levels[key.subject] = level.upper()
        else:
            self.levels.pop(key.subject, None)

    def _apply_delete_subject(self, value: dict[str, Any]) -> None:
        subject, upto = value.get("subject"), value.get("version")
        if not isinstance(subject, str) or not isinstance(upto, int):
            return
        for number, version in list(self.subjects.get(subject, {}).items()):
            if number <= upto and not version.deleted:
                self.subjects[subject][number] = replace(version, deleted=True)

    # Queries (callers hold ``lock``).

    def versions(self, subject: str, *, include_deleted: bool = False) -> list[SchemaVersion]:
        """Versions of ``subject`` in ascending order."""
        found = self.subjects.get(subject, {})
        return [v for _, v in sorted(found.items()) if include_deleted or not v.deleted]

    def level(self, subject: str | None) -> str | None:
        return self.levels.get(subject)

    def effective_level(self, subject: str) -> str:
        return self.levels.get(subject) or self.levels.get(None) or DEFAULT_LEVEL
