"""State lives only in the topic: kill -9 and restart changes nothing; ids are never reused."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import pytest

from .conftest import StartRegistry, record_schema

pytestmark = pytest.mark.integration


def _schema(n: int) -> str:
    return record_schema(f"Rec{n}", [{"name": f"f{n}", "type": "long"}])


def snapshot(url: str) -> dict[str, object]:
    """Every subject, version, id, schema and level, deleted ones included."""
    with httpx.Client(base_url=url, timeout=30) as api:
        subjects = api.get("/subjects", params={"deleted": "true"}).json()
        versions = {}
        for s in subjects:
            q = quote(s, safe="")
            for v in api.get(f"/subjects/{q}/versions", params={"deleted": "true"}).json():
                versions[(s, v)] = api.get(
                    f"/subjects/{q}/versions/{v}", params={"deleted": "true"}
                ).json()
        levels = {s: api.get(f"/config/{quote(s, safe='')}").json() for s in subjects}
        return {
            "live": api.get("/subjects").json(),
            "versions": versions,
            "levels": levels,
            "global": api.get("/config").json(),
        }


def test_kill_9_and_restart_keeps_everything(start_private: StartRegistry) -> None:
    first = start_private()
    with httpx.Client(base_url=first.url, timeout=30) as api:
        api.put("/config", json={"compatibility": "NONE"})
        for n in range(6):
            subject = quote(f"app/topic-{n % 3}-value", safe="")
            assert api.post(f"/subjects/{subject}/versions", json={"schema": _schema(n)}).is_success
        api.post("/subjects/shared-value/versions", json={"schema": _schema(0)})  # id reuse
        api.put("/config/app%2Ftopic-1-value", json={"compatibility": "FULL"})
        api.delete("/subjects/app%2Ftopic-2-value/versions/1")
    before = snapshot(first.url)
    first.stop(hard=True)  # SIGKILL: no clean shutdown of anything

    second = start_private()
    after = snapshot(second.url)
    assert after == before
    assert before["live"] == ["app/topic-0-value", "app/topic-1-value", "app/topic-2-value",
                              "shared-value"]  # fmt: skip
    ids = {key: v["id"] for key, v in before["versions"].items()}  # type: ignore[attr-defined]
    assert ids[("shared-value", 1)] == ids[("app/topic-0-value", 1)]


def test_ids_are_never_reused_after_a_hard_delete(start_private: StartRegistry) -> None:
    registry = start_private()
    with httpx.Client(base_url=registry.url, timeout=30) as api:
        first = api.post("/subjects/gone/versions", json={"schema": _schema(1)}).json()["id"]
        assert api.delete("/subjects/gone").json() == [1]
        assert api.delete("/subjects/gone", params={"permanent": "true"}).json() == [1]
        assert api.get(f"/schemas/ids/{first}").status_code == 404
        again = api.post("/subjects/gone/versions", json={"schema": _schema(1)}).json()["id"]
        other = api.post("/subjects/other/versions", json={"schema": _schema(2)}).json()["id"]
    assert first < again < other
    registry.stop()  # SIGTERM leaves the election group, so the next one is primary at once
    restarted = start_private()
    with httpx.Client(base_url=restarted.url, timeout=30) as api:
        newest = api.post("/subjects/more/versions", json={"schema": _schema(3)}).json()["id"]
    assert newest == other + 1


def test_fifty_concurrent_registrations_get_fifty_ids(start_private: StartRegistry) -> None:
    registry = start_private()

    async def register_all() -> list[int]:
        async with httpx.AsyncClient(base_url=registry.url, timeout=60) as api:
            answers = await asyncio.gather(
                *(
                    api.post(f"/subjects/c-{n}/versions", json={"schema": _schema(n)})
                    for n in range(50)
                )
            )
        return [a.json()["id"] for a in answers]

    ids = asyncio.run(register_all())
    assert len(set(ids)) == 50
    with httpx.Client(base_url=registry.url) as api:
        assert {api.get(f"/subjects/c-{n}/versions/1").json()["id"] for n in range(50)} == set(ids)
