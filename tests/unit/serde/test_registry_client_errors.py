"""The serde's registry client: 401/403 are configuration errors, 429 is waited out."""

from __future__ import annotations

import httpx
import pytest

from orderstream.errors import (
    ConfigError,
    RegistryAccessDenied,
    RegistryError,
    RegistryUnavailable,
    TransientError,
)
from orderstream.serde import client as client_module
from orderstream.serde.client import RegistryClient


def _client(answers: list[httpx.Response], calls: list[httpx.Request]) -> RegistryClient:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return answers.pop(0)

    client = RegistryClient("http://registry.invalid", auth=("svc", "pw-123"))
    client._http = httpx.Client(  # the transport is the unit boundary
        base_url=client.url, transport=httpx.MockTransport(handle)
    )
    return client


def test_429_is_waited_out_per_retry_after_then_succeeds() -> None:
    calls: list[httpx.Request] = []
    throttled = httpx.Response(429, headers={"retry-after": "0"}, json={"error_code": 42901})
    client = _client([throttled, throttled, httpx.Response(200, json={"id": 7})], calls)
    assert client.register("s", '"string"') == 7
    assert len(calls) == 3


def test_429_past_the_budget_is_unavailable_not_a_record_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "THROTTLE_BUDGET_S", 0.0)
    throttled = httpx.Response(429, headers={"retry-after": "5"}, json={"error_code": 42901})
    client = _client([throttled], [])
    with pytest.raises(RegistryUnavailable) as unavailable:
        client.schema_by_id(1)
    assert isinstance(unavailable.value, TransientError)
    assert unavailable.value.status == 429


@pytest.mark.parametrize(("status", "hint"), [(401, "ORDERSTREAM_REGISTRY_"), (403, "read-write")])
def test_401_and_403_are_access_denied_with_the_fix(status: int, hint: str) -> None:
    answer = httpx.Response(status, json={"error_code": status * 100 + 1, "message": "no"})
    client = _client([answer], [])
    with pytest.raises(RegistryAccessDenied) as denied:
        client.schema_by_id(1)
    error = denied.value
    assert (error.status, isinstance(error, ConfigError), isinstance(error, TransientError)) == (
        status,
        True,
        True,
    )
    assert not isinstance(error, RegistryError)  # callers that map RegistryError never see it
    assert hint in str(error) and "'svc'" in str(error) and "pw-123" not in str(error)
