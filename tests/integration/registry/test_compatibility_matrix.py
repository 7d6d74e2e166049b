"""Every level x the classic schema changes, through real registrations: verdicts match
Confluent's, and an incompatible registration answers 409 / 40901."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from .conftest import record_schema

pytestmark = pytest.mark.integration

A = {"name": "a", "type": "string"}
B_DEFAULT = {"name": "b", "type": "int", "default": 0}
B_REQUIRED = {"name": "b", "type": "int"}


def _enum(symbols: list[str], default: str | None = None) -> str:
    enum: dict[str, object] = {"type": "enum", "name": "Color", "symbols": symbols}
    if default:
        enum["default"] = default
    return record_schema("Paint", [{"name": "c", "type": enum}])


def _r(*fields: dict[str, object], name: str = "R", **extra: object) -> str:
    return record_schema(name, list(fields), **extra)


INT_N, LONG_N = {"name": "n", "type": "int"}, {"name": "n", "type": "long"}
RB, RBG = ["RED", "BLUE"], ["RED", "BLUE", "GREEN"]

# change -> (versions oldest first, the new schema last), backward ok, forward ok
CHANGES: dict[str, tuple[list[str], bool, bool]] = {
    "add field with default": ([_r(A), _r(A, B_DEFAULT)], True, True),
    "add field without default": ([_r(A), _r(A, B_REQUIRED)], False, True),
    "remove field with default": ([_r(A, B_DEFAULT), _r(A)], True, True),
    "remove field without default": ([_r(A, B_REQUIRED), _r(A)], True, False),
    "promote int to long": ([_r(INT_N), _r(LONG_N)], True, False),
    "add enum symbol without enum default": ([_enum(RB), _enum(RBG)], True, False),
    "add enum symbol with enum default": ([_enum(RB, "RED"), _enum(RBG, "RED")], True, True),
    "rename record with alias": ([_r(A), _r(A, name="R2", aliases=["R"])], True, False),
}

LEVELS = [
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
]


def expected(level: str, backward: bool, forward: bool) -> bool:
    if level == "NONE":
        return True
    ok = True
    if level.startswith(("BACKWARD", "FULL")):
        ok = ok and backward
    if level.startswith(("FORWARD", "FULL")):
        ok = ok and forward
    return ok


def _register(api: httpx.Client, subject: str, schema: str) -> httpx.Response:
    return api.post(f"/subjects/{subject}/versions", json={"schema": schema})


def test_matrix_of_levels_and_changes(api: httpx.Client) -> None:
    wrong = []
    for change, (versions, backward, forward) in CHANGES.items():
        for level in LEVELS:
            subject = f"m-{uuid.uuid4().hex[:10]}"
            assert api.put(f"/config/{subject}", json={"compatibility": level}).status_code == 200
            for old in versions[:-1]:
                assert _register(api, subject, old).status_code == 200
            verdict = api.post(
                f"/compatibility/subjects/{subject}/versions/latest",
                params={"verbose": "true"},
                json={"schema": versions[-1]},
            ).json()
            response = _register(api, subject, versions[-1])
            want = expected(level, backward, forward)
            if verdict["is_compatible"] != want or (response.status_code == 200) != want:
                wrong.append((change, level, verdict, response.status_code))
            if not want:
                assert response.json()["error_code"] == 40901
                assert verdict["messages"], "verbose=true lists the reasons"
    assert wrong == []


def test_transitive_levels_check_every_live_version(api: httpx.Client) -> None:
    v1 = record_schema("R", [A])
    v2 = record_schema("R", [A, B_DEFAULT])
    v3 = record_schema("R", [A, B_REQUIRED])  # reads v2, cannot read v1
    outcome = {}
    for level in LEVELS:
        subject = f"t-{uuid.uuid4().hex[:10]}"
        api.put(f"/config/{subject}", json={"compatibility": "NONE"})
        _register(api, subject, v1)
        _register(api, subject, v2)
        api.put(f"/config/{subject}", json={"compatibility": level})
        outcome[level] = _register(api, subject, v3).status_code
    assert outcome == {
        "BACKWARD": 200,
        "BACKWARD_TRANSITIVE": 409,
        "FORWARD": 200,
        "FORWARD_TRANSITIVE": 200,
        "FULL": 200,
        "FULL_TRANSITIVE": 409,
        "NONE": 200,
    }


def test_soft_deleted_versions_are_not_checked(api: httpx.Client, subject: str) -> None:
    api.put(f"/config/{subject}", json={"compatibility": "FULL"})
    _register(api, subject, record_schema("R", [A]))
    assert api.delete(f"/subjects/{subject}/versions/1").json() == 1
    unrelated = record_schema("R", [{"name": "z", "type": "long"}])
    assert _register(api, subject, unrelated).status_code == 200
    assert json.loads(api.get(f"/subjects/{subject}/versions/latest").json()["schema"]) == (
        json.loads(unrelated)
    )
