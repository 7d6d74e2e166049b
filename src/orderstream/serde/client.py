"""A small synchronous Schema Registry client: register a schema, fetch a schema by id.

Only what the serde needs; answers are cached for the life of the client because ids and
their schemas never change. Registry errors become ``RegistryError(status, error_code, ...)``.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import httpx

from orderstream.errors import RegistryError, RegistryUnavailable

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryClient:
    """HTTP client of one registry, with id and schema caches."""

    def __init__(
        self, url: str, *, auth: tuple[str, str] | None = None, timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            timeout=timeout,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}

    def register(self, subject: str, schema: str) -> int:
        """The id of ``schema`` under ``subject``, registering it on first use."""
        key = (subject, schema)
        with self._lock:
            cached = self._ids.get(key)
        if cached is not None:
            return cached
        path = f"/subjects/{quote(subject, safe='')}/versions"
        body = self._call("POST", path, {"schema": schema})
        schema_id = int(body["id"])
        with self._lock:
            self._ids[key] = schema_id
            self._schemas[schema_id] = schema
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text with this id (cached forever: ids are immutable)."""
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        body = self._call("GET", f"/schemas/ids/{schema_id}", None)
        schema = str(body["schema"])
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

    def set_level(self, subject: str, level: str) -> None:
        """Set the subject's compatibility level (``PUT /config/{subject}``)."""
        self._call("PUT", f"/config/{quote(subject, safe='')}", {"compatibility": level})

    def subject_level(self, subject: str) -> str | None:
        """The subject's own level, or None when it has none (40408)."""
        try:
            body = self._call("GET", f"/config/{quote(subject, safe='')}", None)
        except RegistryError as exc:
            if exc.error_code in (40408, 40401):
                return None
            raise
        return str(body["compatibilityLevel"])

    def latest_version(self, subject: str) -> int | None:
        """The latest live version of ``subject``, or None when it does not exist."""
        try:
            body = self._call("GET", f"/subjects/{quote(subject, safe='')}/versions/latest", None)
        except RegistryError as exc:
            if exc.error_code == 40401:
                return None
            raise
        return int(body["version"])

    def check_compatibility(self, subject: str, schema: str) -> list[str]:
        """Why ``schema`` is incompatible with ``subject`` at its level (empty: compatible)."""
        path = f"/compatibility/subjects/{quote(subject, safe='')}/versions/latest?verbose=true"
        body = self._call("POST", path, {"schema": schema})
        if body.get("is_compatible"):
            return []
        return [str(m) for m in body.get("messages", [])] or ["incompatible"]

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(
                503, 50002, f"schema registry {self.url} unreachable: {exc}"
            ) from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            error = RegistryUnavailable if response.status_code >= 500 else RegistryError
            raise error(
                response.status_code,
                int(body.get("error_code", response.status_code)) if isinstance(body, dict) else 0,
                str(body.get("message", response.text))
                if isinstance(body, dict)
                else response.text,
            )
        if not isinstance(body, dict):
            raise RegistryError(response.status_code, 50001, f"unexpected answer {body!r}")
        return body
