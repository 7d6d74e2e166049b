"""Bad input gets its documented 4xx and error_code, never a 500; query parsing quirks."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import record_schema

pytestmark = pytest.mark.integration

GOOD = record_schema("Thing", [{"name": "a", "type": "string"}])
CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def _error(response: httpx.Response) -> tuple[int, int]:
    assert response.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    return response.status_code, body["error_code"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"schema": ', (400, 400)),  # malformed JSON
        (b"", (400, 400)),
        (b'{"schema": "{\\"type\\": \\"nope\\"}"}', (422, 42201)),  # not Avro
        (b'{"schema": "not json at all"}', (422, 42201)),
        (b'{"schema": "{\\"type\\": \\"record\\", \\"name\\": \\"R\\"}"}', (422, 42201)),
        (b'{"no_schema": 1}', (422, 42201)),
        (b'["a list"]', (422, 42201)),
        (json.dumps({"schema": GOOD, "schemaType": "PROTOBUF"}).encode(), (422, 42201)),
        (json.dumps({"schema": GOOD, "references": "x"}).encode(), (422, 42201)),
    ],
)
def test_bad_registrations(api: httpx.Client, subject: str, body: bytes, expected: tuple) -> None:
    assert _error(api.post(f"/subjects/{subject}/versions", content=body, headers=CT)) == expected


def test_default_that_does_not_match_its_type_is_invalid(api: httpx.Client, subject: str) -> None:
    bad = record_schema("R", [{"name": "n", "type": "int", "default": "zero"}])
    response = api.post(f"/subjects/{subject}/versions", json={"schema": bad})
    assert _error(response) == (422, 42201)
    assert "default" in response.json()["message"]


def test_invalid_schema_carries_the_parser_message(api: httpx.Client, subject: str) -> None:
    response = api.post(f"/subjects/{subject}/versions", json={"schema": '{"type": "nope"}'})
    assert "nope" in response.json()["message"]


def test_unknown_versions_subjects_ids(api: httpx.Client, subject: str) -> None:
    assert api.post(f"/subjects/{subject}/versions", json={"schema": GOOD}).status_code == 200
    assert _error(api.get(f"/subjects/{subject}/versions/7")) == (404, 40402)
    assert _error(api.get(f"/subjects/{subject}/versions/abc")) == (422, 42202)
    assert _error(api.get(f"/subjects/{subject}/versions/0")) == (422, 42202)
    assert _error(api.get(f"/subjects/{subject}-missing/versions/1")) == (404, 40401)
    assert _error(api.get("/schemas/ids/987654")) == (404, 40403)
    assert _error(api.get("/schemas/ids/x")) == (404, 40403)
    other = record_schema("Other", [{"name": "b", "type": "long"}])
    assert _error(api.post(f"/subjects/{subject}", json={"schema": other})) == (404, 40403)
    assert _error(api.get("/no/such/route")) == (404, 404)
    assert _error(api.put("/schemas/types")) == (405, 405)


def test_invalid_compatibility_level(api: httpx.Client, subject: str) -> None:
    assert _error(api.put(f"/config/{subject}", json={"compatibility": "SIDEWAYS"})) == (
        422,
        42203,
    )
    assert _error(api.put("/config", json={"compatibility": 3})) == (422, 42203)


def test_ten_megabyte_body_is_refused(api: httpx.Client, subject: str) -> None:
    huge = b'{"schema": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert _error(api.post(f"/subjects/{subject}/versions", content=huge, headers=CT)) == (
        413,
        41301,
    )
    assert api.get("/subjects").status_code == 200  # and the server is fine


def test_subject_without_own_level_is_40408(api: httpx.Client, subject: str) -> None:
    api.post(f"/subjects/{subject}/versions", json={"schema": GOOD})
    assert _error(api.get(f"/config/{subject}")) == (404, 40408)
    fallback = api.get(f"/config/{subject}", params={"defaultToGlobal": "TRUE"})
    assert fallback.json() == api.get("/config").json()
    assert api.put(f"/config/{subject}", json={"compatibility": "full"}).json() == {
        "compatibility": "FULL"
    }
    assert api.get(f"/config/{subject}").json() == {"compatibilityLevel": "FULL"}


def test_query_booleans_any_case_and_unknown_params(api: httpx.Client, subject: str) -> None:
    api.post(f"/subjects/{subject}/versions", json={"schema": GOOD})
    assert api.delete(f"/subjects/{subject}", params={"permanent": "False"}).json() == [1]
    listed = api.get("/subjects", params={"deleted": "True", "whatever": "1"}).json()
    assert subject in listed
    assert subject not in api.get("/subjects", params={"deleted": "false"}).json()
    assert api.delete(f"/subjects/{subject}", params={"permanent": "TRUE"}).json() == [1]
