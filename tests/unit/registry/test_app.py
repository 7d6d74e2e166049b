"""The ASGI app without a broker: 503 before the store is ready, 503/50004 on a non-primary,
readiness visible without credentials, JSON content type everywhere."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import httpx

from orderstream.registry.auth import Authenticator, RoleName, load_users, user_line
from orderstream.registry.http import RegistryApp
from orderstream.registry.routes import build_router
from orderstream.registry.service import RegistryService
from orderstream.registry.state import RegistryState

SCHEMA = {"schema": '{"type": "string"}'}


def _app(*, ready: bool, primary: bool, auth: Authenticator | None = None) -> RegistryApp:
    store = SimpleNamespace(ready=threading.Event(), topic="_schemas", position=0,
                            ready_after_s=None)  # fmt: skip
    if ready:
        store.ready.set()
    election = SimpleNamespace(wait_primary=lambda _t: primary, is_primary=primary, generation=0)
    service = RegistryService(RegistryState(), store, election, primary_wait_s=0)  # type: ignore[arg-type]
    return RegistryApp(service, build_router(service), auth=auth)


def _call(app: RegistryApp, method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
            return await client.request(method, path, **kw)

    return asyncio.run(go())


def test_503_until_the_topic_was_read() -> None:
    app = _app(ready=False, primary=True)
    answer = _call(app, "GET", "/subjects")
    assert (answer.status_code, answer.json()["error_code"]) == (503, 50002)
    assert answer.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    assert _call(app, "GET", "/_orderstream/status").json()["ready"] is False
    assert _call(_app(ready=True, primary=True), "GET", "/subjects").json() == []


def test_non_primary_refuses_writes_but_serves_reads() -> None:
    app = _app(ready=True, primary=False)
    answer = _call(app, "POST", "/subjects/x/versions", json=SCHEMA)
    assert (answer.status_code, answer.json()["error_code"]) == (503, 50004)
    assert _call(app, "PUT", "/config", json={"compatibility": "FULL"}).status_code == 503
    assert _call(app, "GET", "/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_status_needs_no_credentials(tmp_path: Any) -> None:
    users = tmp_path / "users"
    users.write_text(user_line("u", RoleName.READ_ONLY, "p"))
    app = _app(ready=True, primary=True, auth=Authenticator(load_users(users)))
    assert _call(app, "GET", "/subjects").status_code == 401
    assert _call(app, "GET", "/_orderstream/status").status_code == 200
    assert _call(app, "GET", "/subjects", auth=("u", "p")).status_code == 200
