"""Avro references: a schema may import named types from another subject's version."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.integration

ADDRESS = json.dumps(
    {"type": "record", "name": "Address", "namespace": "refs",
     "fields": [{"name": "city", "type": "string"}]}
)  # fmt: skip
PERSON = json.dumps(
    {"type": "record", "name": "Person", "namespace": "refs",
     "fields": [{"name": "home", "type": "refs.Address"}]}
)  # fmt: skip


def test_references_resolve_and_protect_their_target(api: httpx.Client, subject: str) -> None:
    base = f"{subject}-address"
    assert api.post(f"/subjects/{base}/versions", json={"schema": ADDRESS}).status_code == 200
    refs = [{"name": "refs.Address", "subject": base, "version": 1}]

    unresolved = api.post(f"/subjects/{subject}/versions", json={"schema": PERSON})
    assert (unresolved.status_code, unresolved.json()["error_code"]) == (422, 42201)
    bad_ref = [{"name": "refs.Address", "subject": base, "version": 9}]
    missing = api.post(
        f"/subjects/{subject}/versions", json={"schema": PERSON, "references": bad_ref}
    )
    assert missing.json()["error_code"] == 42201

    person = api.post(f"/subjects/{subject}/versions", json={"schema": PERSON, "references": refs})
    assert person.status_code == 200
    person_id = person.json()["id"]
    got = api.get(f"/subjects/{subject}/versions/1").json()
    assert got["references"] == refs
    assert api.get(f"/schemas/ids/{person_id}").json()["references"] == refs
    assert api.get(f"/subjects/{base}/versions/1/referencedby").json() == [person_id]

    in_use = api.delete(f"/subjects/{base}/versions/1")
    assert (in_use.status_code, in_use.json()["error_code"]) == (422, 42206)
    assert api.delete(f"/subjects/{subject}").json() == [1]
    assert api.delete(f"/subjects/{base}/versions/1").json() == 1
