"""A small synchronous Schema Registry client: register a schema, fetch a schema by id.

Only what the serde needs; answers are cached for the life of the client because ids and
their schemas never change. Registry errors become ``RegistryError(status, error_code, ...)``,
except those that are not about the request:

- 401/403: ``RegistryAccessDenied``, a configuration error (and transient, so a processing
  loop retries the record instead of dead-lettering good data);
- 429: retried after the answer's Retry-After, for up to ``THROTTLE_BUDGET_S``, then
  ``RegistryUnavailable``;
- unreachable or 5xx: ``RegistryUnavailable``.

An ``https://`` registry is verified against ``ca_file`` (else ``SSL_CERT_FILE`` or the
system's CAs).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cachetools import cachedmethod

from orderstream.config import Settings
from orderstream.errors import (
    ConfigError,
    RegistryAccessDenied,
    RegistryError,
    RegistryUnavailable,
)
from orderstream.tls import client_context

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
THROTTLE_BUDGET_S = 30.0  # how long 429s are waited out before the call counts as unavailable
_DEFAULT_RETRY_AFTER_S = 1.0


def registry_auth(settings: Settings) -> tuple[str, str] | None:
    """The Basic credentials of ``settings``: ``registry_password``, else the content of
    ``registry_password_file`` (a path, so the password never travels in the environment).

    ``registry_password_file`` is read with getattr: config.py does not declare it yet (see
    the registry section of the README); once it does, this picks it up unchanged.
    """
    if not settings.registry_user:
        return None
    if settings.registry_password is not None:
        return settings.registry_user, settings.registry_password.get_secret_value()
    path = getattr(settings, "registry_password_file", None)
    if path is None:
        return None
    try:
        return settings.registry_user, Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read registry_password_file {path}: {exc.strerror}") from exc


class RegistryClient:
    """HTTP client of one registry, with id and schema caches."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
        ca_file: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.user = auth[0] if auth else None
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,
            timeout=timeout,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
            verify=client_context(ca_file) if ca_file is not None else True,
        )
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}

    # cachedmethod looks up under the lock and calls the registry outside it, as a cache of
    # immutable answers may: two threads racing on a miss both ask, and the first answer stays.
    @cachedmethod(
        lambda self: self._ids,
        key=lambda _, subject, schema: (subject, schema),
        lock=lambda self: self._lock,
    )
    def register(self, subject: str, schema: str) -> int:
        """The id of ``schema`` under ``subject``, registering it on first use."""
        path = f"/subjects/{quote(subject, safe='')}/versions"
        schema_id = int(self._call("POST", path, {"schema": schema})["id"])
        with self._lock:
            self._schemas.setdefault(schema_id, schema)
        return schema_id

    @cachedmethod(
        lambda self: self._schemas, key=lambda _, schema_id: schema_id, lock=lambda self: self._lock
    )
    def schema_by_id(self, schema_id: int) -> str:
        """The schema text with this id (cached forever: ids are immutable)."""
        return str(self._call("GET", f"/schemas/ids/{schema_id}", None)["schema"])

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
        response = self._send_waiting_out_throttling(method, path, payload)
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise self._error(response, body)
        if not isinstance(body, dict):
            raise RegistryError(response.status_code, 50001, f"unexpected answer {body!r}")
        return body

    def _send_waiting_out_throttling(
        self, method: str, path: str, payload: dict[str, Any] | None
    ) -> httpx.Response:
        """The first answer that is not a 429; a 429 is waited out for its Retry-After."""
        deadline = time.monotonic() + THROTTLE_BUDGET_S
        while True:
            response = self._send(method, path, payload)
            if response.status_code != 429:
                return response
            wait = _retry_after_s(response)
            if time.monotonic() + wait > deadline:
                raise RegistryUnavailable(
                    429,
                    42901,
                    f"schema registry {self.url} kept refusing logins of user {self.user!r} "
                    f"as too many (HTTP 429) for {THROTTLE_BUDGET_S:.0f} s; retry later",
                )
            logger.warning(
                "schema registry throttles logins; waiting",
                extra={"registry": self.url, "user": self.user, "wait_s": wait},
            )
            time.sleep(wait)

    def _send(self, method: str, path: str, payload: dict[str, Any] | None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(
                503, 50002, f"schema registry {self.url} unreachable: {exc}"
            ) from exc

    def _error(self, response: httpx.Response, body: Any) -> RegistryError | RegistryAccessDenied:
        status = response.status_code
        is_dict = isinstance(body, dict)
        code = int(body.get("error_code", status)) if is_dict else 0
        message = str(body.get("message", response.text)) if is_dict else response.text
        if status in (401, 403):
            return RegistryAccessDenied(status, code, self._access_hint(status, message))
        error = RegistryUnavailable if status >= 500 else RegistryError
        return error(status, code, message)

    def _access_hint(self, status: int, message: str) -> str:
        """What was refused and which settings fix it (never the password itself)."""
        if status == 403:
            fix = "give this user the read-write role in the registry's auth file"
        elif self.user is None:
            fix = "set ORDERSTREAM_REGISTRY_USER and ORDERSTREAM_REGISTRY_PASSWORD"
        else:
            fix = "check ORDERSTREAM_REGISTRY_USER / ORDERSTREAM_REGISTRY_PASSWORD"
        return (
            f"schema registry {self.url} refused user {self.user!r}: {message}; {fix}. "
            "This is a configuration error: records are retried, never dead-lettered"
        )


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", _DEFAULT_RETRY_AFTER_S)))
    except ValueError:  # an HTTP date: rare; a second is a safe guess
        return _DEFAULT_RETRY_AFTER_S
