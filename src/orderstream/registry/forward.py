"""Forward writes that reach a non-primary to the primary, and relay its answer verbatim.

The primary is found through the election group (its member's client id carries its URL). A
forwarded request carries ``X-Orderstream-Forwarded``; an instance never forwards such a request
again, so a stale view of who is primary cannot make requests loop.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import httpx

from orderstream.errors import RegistryError
from orderstream.registry.election import PrimaryElection
from orderstream.registry.errors import forward_refused
from orderstream.tls import client_context

FORWARDED_HEADER = "x-orderstream-forwarded"
_PASSED_HEADERS = ("authorization", "content-type", "accept")
_URL_TTL_S = 5.0


class Forwarder:
    """Sends one request to the current primary; 503/50004 when none is known."""

    def __init__(
        self,
        election: PrimaryElection,
        timeout: float = 30.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.election = election
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify or client_context(None))
        self._url: str | None = None
        self._url_at = 0.0

    async def forward(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """(status, body) of the primary's answer to ``method target``."""
        url = await self._primary_url()
        if url is None or url == self.election.advertised_url:
            raise RegistryError(503, 50004, "No primary is known right now; retry later")
        passed = {k: v for k, v in headers.items() if k in _PASSED_HEADERS}
        if "authorization" in passed and not url.startswith("https://"):
            raise forward_refused(url)
        passed[FORWARDED_HEADER] = "1"
        try:
            answer = await self._http.request(method, url + target, content=body, headers=passed)
        except httpx.HTTPError as exc:
            self._url = None  # look the primary up again next time
            raise RegistryError(500, 50003, f"Error while forwarding to {url}: {exc}") from exc
        return answer.status_code, answer.content

    async def _primary_url(self) -> str | None:
        if self._url is None or time.monotonic() - self._url_at > _URL_TTL_S:
            self._url = await asyncio.to_thread(self.election.primary_url)
            self._url_at = time.monotonic()
        return self._url

    async def close(self) -> None:
        await self._http.aclose()
