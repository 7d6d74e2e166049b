"""The registry's /metrics: requests by route, method and status, latency, schema counts; no
auth needed, and unknown paths do not become labels."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from orderstream.registry.auth import Authenticator, RoleName, load_users, user_line
from orderstream.registry.http import RegistryApp
from orderstream.registry.keys import encode_value, schema_key
from orderstream.registry.routes import build_router
from orderstream.registry.service import RegistryService
from orderstream.registry.state import RegistryState


def _app(state: RegistryState, auth: Authenticator | None = None) -> RegistryApp:
    store = SimpleNamespace(ready=threading.Event(), topic="_schemas", position=0,
                            ready_after_s=None)  # fmt: skip
    store.ready.set()
    election = SimpleNamespace(wait_primary=lambda _t: True, is_primary=True, generation=0)
    service = RegistryService(state, store, election, primary_wait_s=0)  # type: ignore[arg-type]
    return RegistryApp(service, build_router(service), auth=auth)


def _calls(app: RegistryApp, *requests: tuple[str, str]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
            return [await client.request(m, p) for m, p in requests]

    return asyncio.run(go())


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_requests_by_route_and_status_and_schema_counts() -> None:
    state = RegistryState()
    app = _app(state)
    *_, metrics = _calls(
        app,
        ("GET", "/subjects"),
        ("GET", "/subjects"),
        ("GET", "/subjects/nope/versions"),
        ("GET", "/no/such/path/at/all"),
        ("GET", "/metrics"),
    )
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    got = _samples(metrics.text)
    ok = (("method", "GET"), ("route", "subjects"), ("status", "200"))
    assert got[("registry_requests_total", ok)] == 2
    missing = (("method", "GET"), ("route", "subject_versions"), ("status", "404"))
    assert got[("registry_requests_total", missing)] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert got[("registry_requests_total", unmatched)] == 1
    assert got[("registry_request_duration_seconds_count", (("route", "subjects"),))] == 2
    assert got[("registry_subjects", ())] == 0
    assert got[("registry_schema_ids", ())] == 0


def test_metrics_needs_no_credentials_and_counts_schemas(tmp_path: Any) -> None:
    users = tmp_path / "users"
    users.write_text(user_line("u", RoleName.READ_ONLY, "p"))
    state = RegistryState()
    value = {"subject": "orders-value", "version": 1, "id": 1, "schema": '"string"'}
    state.apply(schema_key("orders-value", 1), encode_value(value))
    (answer,) = _calls(_app(state, Authenticator(load_users(users))), ("GET", "/metrics"))
    assert answer.status_code == 200
    got = _samples(answer.text)
    assert (got[("registry_subjects", ())], got[("registry_schema_ids", ())]) == (1, 1)
    assert got[("registry_schema_versions", ())] == 1
