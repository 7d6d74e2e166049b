"""A minimal keep-alive HTTP/1.1 client for the load generator.

httpx costs a few hundred microseconds of CPU per request, which on a small machine caps the
load generator below the rates it must offer. The load generator only talks to our own orders
API, with bodies it built itself, so a raw client over asyncio streams is enough and 5-10x
cheaper per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass


class HttpProtocolError(Exception):
    """The server's answer could not be parsed."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes


class RawHttpConnection:
    """One persistent connection; requests on it are sequential."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls  # HTTPS when set (verifies the server's certificate)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.tls
            )
        return self._reader, self._writer

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """Send one request and read its full response; reconnects once if the peer closed."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            return await self._exchange(head + body)
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            return await self._exchange(head + body)

    async def _exchange(self, request: bytes) -> HttpResponse:
        reader, writer = await self._connect()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpProtocolError(f"bad status line {lines[0]!r}") from None
        length = 0
        closing = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "connection" and value.strip().lower() == "close":
                closing = True
        body = await reader.readexactly(length) if length else b""
        if closing:
            await self.close()
        return HttpResponse(status, body)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
