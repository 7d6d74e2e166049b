"""Forwarding: credentials never go to a primary that advertises plain http."""

from __future__ import annotations

import asyncio

import pytest

from orderstream.errors import RegistryError
from orderstream.registry.forward import Forwarder


class _Election:
    advertised_url = "https://127.0.0.1:1"

    def primary_url(self) -> str:
        return "http://127.0.0.1:9"  # nothing listens: a request would fail differently


def test_credentials_are_not_forwarded_over_plain_http() -> None:
    forwarder = Forwarder(_Election())  # type: ignore[arg-type]

    async def forward() -> None:
        try:
            await forwarder.forward(
                "POST", "/subjects/s/versions", b"{}", {"authorization": "Basic eDp5"}
            )
        finally:
            await forwarder.close()

    with pytest.raises(RegistryError, match="Refusing to forward credentials over plain http"):
        asyncio.run(forward())
