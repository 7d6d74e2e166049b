"""The Confluent REST routes, each a thin adapter from ``Request`` to ``RegistryService``."""

from __future__ import annotations

from typing import Any

from orderstream.registry import errors
from orderstream.registry.http import Request, Router
from orderstream.registry.service import RegistryService, version_json


def build_router(service: RegistryService) -> Router:  # noqa: PLR0915 - one line per route
    """Every route of the API, bound to ``service``."""
    router = Router()
    ready = service.require_ready

    async def root(_: Request) -> Any:
        return {}

    async def schema_types(_: Request) -> Any:
        return ["AVRO"]

    async def schema_by_id(req: Request) -> Any:
        ready()
        return service.schema_by_id(_schema_id(req))

    async def schema_id_versions(req: Request) -> Any:
        ready()
        return service.id_versions(_schema_id(req), deleted=req.flag("deleted"))

    async def schema_id_subjects(req: Request) -> Any:
        ready()
        found = service.id_versions(_schema_id(req), deleted=req.flag("deleted"))
        return sorted({v["subject"] for v in found})

    async def schema_id_raw(req: Request) -> Any:
        ready()
        return service.schema_by_id(_schema_id(req))["schema"].encode()

    async def subjects(req: Request) -> Any:
        ready()
        return service.subjects(deleted=req.flag("deleted"))

    async def subject_versions(req: Request) -> Any:
        ready()
        return service.subject_versions(req.params["subject"], deleted=req.flag("deleted"))

    async def register(req: Request) -> Any:
        ready()
        return await service.register(req.params["subject"], req.json())

    async def lookup(req: Request) -> Any:
        ready()
        return service.lookup(req.params["subject"], req.json(), deleted=req.flag("deleted"))

    async def get_version(req: Request) -> Any:
        ready()
        found = service.get_version(
            req.params["subject"], req.params["version"], deleted=req.flag("deleted")
        )
        return version_json(found)

    async def get_version_schema(req: Request) -> Any:
        ready()
        found = service.get_version(
            req.params["subject"], req.params["version"], deleted=req.flag("deleted")
        )
        return found.schema.encode()

    async def referenced_by(req: Request) -> Any:
        ready()
        return service.referenced_by(req.params["subject"], req.params["version"])

    async def delete_subject(req: Request) -> Any:
        ready()
        return await service.delete_subject(req.params["subject"], permanent=req.flag("permanent"))

    async def delete_version(req: Request) -> Any:
        ready()
        return await service.delete_version(
            req.params["subject"], req.params["version"], permanent=req.flag("permanent")
        )

    async def get_global_level(_: Request) -> Any:
        ready()
        return service.get_level(None, default_to_global=True)

    async def put_global_level(req: Request) -> Any:
        ready()
        return await service.set_level(None, req.json())

    async def delete_global_level(_: Request) -> Any:
        ready()
        return await service.delete_level(None)

    async def get_level(req: Request) -> Any:
        ready()
        return service.get_level(
            req.params["subject"], default_to_global=req.flag("defaultToGlobal")
        )

    async def put_level(req: Request) -> Any:
        ready()
        return await service.set_level(req.params["subject"], req.json())

    async def delete_level(req: Request) -> Any:
        ready()
        return await service.delete_level(req.params["subject"])

    async def compatibility(req: Request) -> Any:
        ready()
        return service.test_compatibility(
            req.params["subject"],
            req.params.get("version"),
            req.json(),
            verbose=req.flag("verbose"),
        )

    async def mode(_: Request) -> Any:
        return {"mode": "READWRITE"}

    async def status(_: Request) -> Any:
        return service.status()

    router.add("GET", "/", root)
    router.add("GET", "/schemas/types", schema_types)
    router.add("GET", "/schemas/ids/{id}", schema_by_id)
    router.add("GET", "/schemas/ids/{id}/schema", schema_id_raw)
    router.add("GET", "/schemas/ids/{id}/versions", schema_id_versions)
    router.add("GET", "/schemas/ids/{id}/subjects", schema_id_subjects)
    router.add("GET", "/subjects", subjects)
    router.add("GET", "/subjects/{subject}/versions", subject_versions)
    router.add("POST", "/subjects/{subject}/versions", register)
    router.add("POST", "/subjects/{subject}", lookup)
    router.add("DELETE", "/subjects/{subject}", delete_subject)
    router.add("GET", "/subjects/{subject}/versions/{version}", get_version)
    router.add("DELETE", "/subjects/{subject}/versions/{version}", delete_version)
    router.add("GET", "/subjects/{subject}/versions/{version}/schema", get_version_schema)
    router.add("GET", "/subjects/{subject}/versions/{version}/referencedby", referenced_by)
    router.add("GET", "/config", get_global_level)
    router.add("PUT", "/config", put_global_level)
    router.add("DELETE", "/config", delete_global_level)
    router.add("GET", "/config/{subject}", get_level)
    router.add("PUT", "/config/{subject}", put_level)
    router.add("DELETE", "/config/{subject}", delete_level)
    router.add("POST", "/compatibility/subjects/{subject}/versions/{version}", compatibility)
    router.add("POST", "/compatibility/subjects/{subject}/versions", compatibility)
    router.add("GET", "/mode", mode)
    router.add("GET", "/_orderstream/status", status)  # ours: readiness, primacy, start-up
    return router


def _schema_id(req: Request) -> int:
    text = req.params["id"]
    if not text.isdigit():
        raise errors.schema_not_found(f"Schema id {text!r} is not a number")
    return int(text)
