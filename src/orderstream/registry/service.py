"""The registry's operations, over the folded state (reads) and the store (writes).

Writes run on the primary only, one at a time (``_write_lock``): after winning an election the
primary first syncs to the end of ``_schemas`` (a NOOP round-trip), then decides ids and
versions from a state that holds every earlier write. Each write returns once applied locally.
"""

from __future__ import annotations

import asyncio
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

import avro.schema

from orderstream.errors import RegistryError
from orderstream.registry import errors
from orderstream.registry.avro_schema import InvalidSchema, parse
from orderstream.registry.compatibility import Level, incompatibilities, parse_level
from orderstream.registry.election import PrimaryElection
from orderstream.registry.keys import config_key, delete_subject_key, encode_value, schema_key
from orderstream.registry.requests import MAX_VERSION, SchemaRequest, parse_version, version_json
from orderstream.registry.state import (
    DEFAULT_LEVEL,
    Reference,
    RegistryState,
    SchemaVersion,
)
from orderstream.registry.store import SchemaStore

__all__ = ["MAX_VERSION", "RegistryService", "SchemaRequest", "parse_version", "version_json"]


@dataclass(eq=False)
class RegistryService:
    """What the HTTP routes call; raises RegistryError with the Confluent codes."""

    state: RegistryState
    store: SchemaStore
    election: PrimaryElection
    _: KW_ONLY
    primary_wait_s: float = 10.0
    _write_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _synced_generation: int = field(default=0, init=False)
    _parsed: dict[int, avro.schema.Schema] = field(default_factory=dict, init=False, repr=False)

    # ---- readiness -----------------------------------------------------------------------

    def require_ready(self) -> None:
        if not self.store.ready.is_set():
            raise errors.not_ready(f"still reading {self.store.topic}")

    def status(self) -> dict[str, Any]:
        """Readiness, primacy and start-up figures of this instance (not a Confluent route)."""
        with self.state.lock:
            records, max_id = self.state.records, self.state.max_id
        return {
            "ready": self.store.ready.is_set(),
            "primary": self.election.is_primary,
            "records": records,
            "max_id": max_id,
            "offset": self.store.position,
            "ready_after_s": self.store.ready_after_s,
        }

    # ---- reads ---------------------------------------------------------------------------

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        with self.state.lock:
            found = self.state.by_id.get(schema_id)
        if found is None:
            raise errors.schema_not_found()
        return found.schema_json()

    def id_versions(self, schema_id: int, *, deleted: bool) -> list[dict[str, Any]]:
        with self.state.lock:
            users = sorted(self.state.id_users.get(schema_id, set()))
            found = [self.state.subjects[s][v] for s, v in users]
        if not found:
            raise errors.schema_not_found()
        return [
            {"subject": v.subject, "version": v.version} for v in found if deleted or not v.deleted
        ]

    def subjects(self, *, deleted: bool) -> list[str]:
        with self.state.lock:
            return sorted(
                s for s in self.state.subjects if self.state.versions(s, include_deleted=deleted)
            )

    def subject_versions(self, subject: str, *, deleted: bool) -> list[int]:
        with self.state.lock:
            found = self.state.versions(subject, include_deleted=deleted)
        if not found:
            raise errors.subject_not_found(subject)
        return [v.version for v in found]

    def get_version(self, subject: str, version: str, *, deleted: bool) -> SchemaVersion:
        number = parse_version(version)
        with self.state.lock:
            found = self.state.versions(subject, include_deleted=deleted)
        if not found:
            raise errors.subject_not_found(subject)
        if number is None:
            return found[-1]
        for v in found:
            if v.version == number:
                return v
        raise errors.version_not_found(subject, number)

    def lookup(self, subject: str, body: Any, *, deleted: bool) -> dict[str, Any]:
        request = SchemaRequest.from_body(body)
        with self.state.lock:
            found = self.state.versions(subject, include_deleted=deleted)
        if not found:
            raise errors.subject_not_found(subject)
        self._parse_request(request)
        for v in reversed(found):
            if v.identity() == (request.schema_type, request.schema, request.references):
                return version_json(v)
        raise errors.schema_not_found()

    def referenced_by(self, subject: str, version: str) -> list[int]:
        target = self.get_version(subject, version, deleted=True)
        return self._referrers(target.subject, target.version)

    def get_level(self, subject: str | None, *, default_to_global: bool) -> dict[str, str]:
        with self.state.lock:
            level = self.state.level(subject)
            global_level = self.state.level(None) or DEFAULT_LEVEL
        if level is None and subject is not None and not default_to_global:
            raise errors.no_subject_level(subject)
        return {"compatibilityLevel": level or global_level}

    def test_compatibility(
        self, subject: str, version: str | None, body: Any, *, verbose: bool
    ) -> dict[str, Any]:
        request = SchemaRequest.from_body(body)
        new = self._parse_request(request)
        with self.state.lock:
            level = Level(self.state.effective_level(subject))
            live = self.state.versions(subject)
        if not live:
            raise errors.subject_not_found(subject)
        number = parse_version(version) if version is not None else None
        if number is not None:
            chosen = [v for v in live if v.version == number]
            if not chosen:
                raise errors.version_not_found(subject, number)
            level = Level(level.value.removesuffix("_TRANSITIVE"))
            live = chosen
        reasons = incompatibilities(
            new, [(v.version, self._parsed_version(v)) for v in live], level
        )
        out: dict[str, Any] = {"is_compatible": not reasons}
        if verbose:
            out["messages"] = reasons
        return out

    # ---- writes --------------------------------------------------------------------------

    async def register(self, subject: str, body: Any) -> dict[str, int]:
        request = SchemaRequest.from_body(body)
        new = self._parse_request(request)
        existing = self._live_match(subject, request)
        if existing is not None:
            return {"id": existing.schema_id}
        async with self._write_lock:
            await self._become_writer()
            existing = self._live_match(subject, request)
            if existing is not None:
                return {"id": existing.schema_id}
            with self.state.lock:
                level = Level(self.state.effective_level(subject))
                live = self.state.versions(subject)
                every = self.state.versions(subject, include_deleted=True)
                schema_id = self.state.by_identity.get(
                    (request.schema_type, request.schema, request.references)
                )
                if schema_id is None:
                    schema_id = self.state.max_id + 1
            previous = [(v.version, self._parsed_version(v)) for v in live]
            reasons = incompatibilities(new, previous, level)
            if reasons:
                raise errors.incompatible(subject, reasons)
            record = SchemaVersion(
                subject=subject,
                version=(every[-1].version + 1) if every else 1,
                schema_id=schema_id,
                schema=request.schema,
                schema_type=request.schema_type,
                references=request.references,
            )
            await self._write(schema_key(subject, record.version), record.to_value())
            return {"id": schema_id}

    async def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        async with self._write_lock:
            await self._become_writer()
            with self.state.lock:
                every = self.state.versions(subject, include_deleted=True)
                live = [v for v in every if not v.deleted]
                level = self.state.level(subject)
            if not every:
                raise errors.subject_not_found(subject)
            for v in live if not permanent else every:
                if self._referrers(subject, v.version):
                    raise errors.still_referenced(subject, v.version)
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                for v in every:
                    await self._write(schema_key(subject, v.version), None)
                await self._write(delete_subject_key(subject), None)
                return [v.version for v in every]
            if not live:
                raise errors.subject_soft_deleted(subject)
            value = {"subject": subject, "version": every[-1].version}
            await self._write(delete_subject_key(subject), value)
            if level is not None:
                await self._write(config_key(subject), None)
            return [v.version for v in live]

    async def delete_version(self, subject: str, version: str, *, permanent: bool) -> int:
        async with self._write_lock:
            await self._become_writer()
            target = self.get_version(subject, version, deleted=permanent)
            if self._referrers(subject, target.version):
                raise errors.still_referenced(subject, target.version)
            if permanent:
                if not target.deleted:
                    raise errors.version_not_soft_deleted(subject, target.version)
                await self._write(schema_key(subject, target.version), None)
                return target.version
            if target.deleted:
                raise errors.version_soft_deleted(subject, target.version)
            soft = replace(target, deleted=True)
            await self._write(schema_key(subject, target.version), soft.to_value())
            return target.version

    async def set_level(self, subject: str | None, body: Any) -> dict[str, str]:
        raw = (
            body.get("compatibility", body.get("compatibilityLevel"))
            if isinstance(body, dict)
            else None
        )
        level = parse_level(raw)
        if level is None:
            raise errors.invalid_level(raw)
        async with self._write_lock:
            await self._become_writer()
            await self._write(config_key(subject), {"compatibilityLevel": level.value})
        return {"compatibility": level.value}

    async def delete_level(self, subject: str | None) -> dict[str, str]:
        async with self._write_lock:
            await self._become_writer()
            with self.state.lock:
                level = self.state.level(subject)
            if level is None and subject is not None:
                raise errors.no_subject_level(subject)
            await self._write(config_key(subject), None)
        return {"compatibilityLevel": level or "BACKWARD"}

    # ---- helpers -------------------------------------------------------------------------

    async def _become_writer(self) -> None:
        """Wait to be primary; after each election won, catch up before deciding anything."""
        waited = await asyncio.to_thread(self.election.wait_primary, self.primary_wait_s)
        if not waited:
            raise errors.not_primary()
        generation = self.election.generation
        if generation != self._synced_generation:
            await asyncio.to_thread(self.store.sync)
            self._synced_generation = generation

    async def _write(self, key: bytes, value: dict[str, Any] | None) -> None:
        if not self.election.is_primary:
            raise errors.not_primary()
        raw = encode_value(value) if value is not None else None
        await asyncio.to_thread(self.store.write, key, raw)

    def _live_match(self, subject: str, request: SchemaRequest) -> SchemaVersion | None:
        identity = (request.schema_type, request.schema, request.references)
        with self.state.lock:
            for v in self.state.versions(subject):
                if v.identity() == identity:
                    return v
        return None

    def _parse_request(self, request: SchemaRequest) -> avro.schema.Schema:
        try:
            return parse(request.schema, self._reference_texts(request.references, set()))
        except InvalidSchema as exc:
            raise errors.invalid_schema(str(exc)) from None

    def _reference_texts(self, refs: tuple[Reference, ...], seen: set[Reference]) -> list[str]:
        """Texts of the referenced schemas, transitively, dependencies first."""
        texts: list[str] = []
        for ref in refs:
            if ref in seen:
                continue
            seen.add(ref)
            with self.state.lock:
                found = self.state.subjects.get(ref.subject, {}).get(ref.version)
            if found is None:
                raise errors.invalid_schema(
                    f"Invalid schema: reference {ref.name} to subject {ref.subject} "
                    f"version {ref.version} not found"
                )
            texts += self._reference_texts(found.references, seen)
            texts.append(found.schema)
        return texts

    def _parsed_version(self, v: SchemaVersion) -> avro.schema.Schema:
        cached = self._parsed.get(v.schema_id)
        if cached is None:
            try:
                cached = parse(v.schema, self._reference_texts(v.references, set()))
            except (InvalidSchema, RegistryError) as exc:
                # A stored schema we cannot parse (written by another tool): report, don't 500.
                raise errors.invalid_schema(
                    f"stored version {v.version} of {v.subject} cannot be parsed: {exc}"
                ) from None
            self._parsed[v.schema_id] = cached
        return cached

    def _referrers(self, subject: str, version: int) -> list[int]:
        with self.state.lock:
            return sorted(
                {
                    v.schema_id
                    for versions in self.state.subjects.values()
                    for v in versions.values()
                    if not v.deleted
                    and any(r.subject == subject and r.version == version for r in v.references)
                }
            )
