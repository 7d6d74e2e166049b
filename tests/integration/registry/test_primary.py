"""Two instances on one topic: one primary assigns ids; the other serves reads and forwards
writes to it (answers relayed verbatim, then read-your-writes); when the primary stops, the
other takes over."""

from __future__ import annotations

import time

import httpx
import pytest

from orderstream.testing.registry import RegistryProcess

from .conftest import StartRegistry, record_schema

pytestmark = pytest.mark.integration


def _schema(n: int) -> dict[str, str]:
    return {"schema": record_schema(f"P{n}", [{"name": "a", "type": "int"}])}


def _primaries(registries: list[RegistryProcess], timeout: float = 20) -> list[RegistryProcess]:
    """The primaries, once exactly one instance reports being primary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            r for r in registries if httpx.get(f"{r.url}/_orderstream/status").json()["primary"]
        ]
        if len(found) == 1:
            return found
        time.sleep(0.2)
    raise AssertionError("no single primary was elected")


def _wait_visible(url: str, subject: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/subjects/{subject}/versions/latest")
        if answer.status_code == 200:
            return dict(answer.json())
        time.sleep(0.05)
    raise AssertionError(f"{subject} never became visible at {url}")


def test_one_primary_assigns_ids_and_the_other_takes_over(start_private: StartRegistry) -> None:
    both = [start_private(), start_private()]
    (primary,) = _primaries(both)
    (secondary,) = [r for r in both if r is not primary]

    first = httpx.post(f"{primary.url}/subjects/one/versions", json=_schema(1), timeout=30)
    assert first.status_code == 200
    assert _wait_visible(secondary.url, "one")["id"] == first.json()["id"]

    forwarded = httpx.post(f"{secondary.url}/subjects/two/versions", json=_schema(2), timeout=30)
    assert forwarded.status_code == 200
    assert forwarded.json()["id"] == first.json()["id"] + 1
    seen = httpx.get(f"{secondary.url}/subjects/two/versions/latest")  # no waiting needed
    assert seen.json()["id"] == forwarded.json()["id"]
    httpx.put(f"{secondary.url}/config/two", json={"compatibility": "FULL"})
    refused = httpx.post(f"{secondary.url}/subjects/two/versions", json=_schema(3), timeout=30)
    assert (refused.status_code, refused.json()["error_code"]) == (409, 40901)  # relayed

    primary.stop()
    assert _primaries([secondary]) == [secondary]
    taken = httpx.post(f"{secondary.url}/subjects/three/versions", json=_schema(3), timeout=30)
    assert taken.status_code == 200
    assert taken.json()["id"] == forwarded.json()["id"] + 1
