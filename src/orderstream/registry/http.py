"""The REST API as a small ASGI app, routed on the *raw* path.

Starlette and FastAPI decode ``%2F`` before routing, which breaks subject names holding ``/``
(the Python client sends them encoded), so this app splits the raw path first and decodes each
segment after. Every answer is ``application/vnd.schemaregistry.v1+json``; every error is
``{"error_code": N, "message": "..."}`` and bad input is always a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from prometheus_client import CONTENT_TYPE_LATEST

from orderstream.errors import RegistryError
from orderstream.registry.auth import Authenticator
from orderstream.registry.errors import LoginsThrottled
from orderstream.registry.forward import FORWARDED_HEADER, Forwarder
from orderstream.registry.metrics import UNMATCHED, RegistryMetrics
from orderstream.registry.service import RegistryService

logger = logging.getLogger(__name__)

CONTENT_TYPE = b"application/vnd.schemaregistry.v1+json"
MAX_BODY_BYTES = 1024 * 1024
STATUS_PATH = ["_orderstream", "status"]  # readiness for probes: no auth, no secrets in it
METRICS_PATH = ["metrics"]  # Prometheus: no auth either (counts only, no names or schemas)
ROUTE_KEY = "orderstream.route"  # set in the scope once a route matched, for the metrics label

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Request:
    method: str
    params: dict[str, str]
    query: dict[str, str]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        """A query boolean: ``true``/``True``/``TRUE`` are true, anything else false."""
        return self.query.get(name, "").strip().lower() == "true"

    def json(self) -> Any:
        if not self.body:
            raise RegistryError(400, 400, "The request body is empty; a JSON object is expected")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RegistryError(400, 400, f"Malformed JSON in the request body: {exc}") from None


Handler = Callable[[Request], Awaitable[Any]]


class Router:
    """(method, path pattern) -> handler; ``{name}`` segments capture one decoded segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, tuple(s for s in pattern.split("/") if s), handler))

    def match(self, method: str, segments: list[str]) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for route_method, pattern, handler in self._routes:
            params = _match(pattern, segments)
            if params is None:
                continue
            if route_method == method:
                return handler, params
            allowed = True
        if allowed:
            raise RegistryError(405, 405, f"HTTP {method} not allowed here")
        raise RegistryError(404, 404, "HTTP 404 Not Found")


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{"):
            params[expected[1:-1]] = actual
        elif expected != actual:
            return None
    return params


def split_raw_path(raw: bytes) -> list[str]:
    """``/subjects/a%2Fb/versions`` -> ``["subjects", "a/b", "versions"]``."""
    text = raw.decode("latin-1").split("?", 1)[0]
    return [unquote(part, errors="replace") for part in text.split("/") if part]


@dataclass(eq=False)
class RegistryApp:
    """The ASGI callable: auth, body limit, routing, JSON answers and error mapping."""

    service: RegistryService
    router: Router
    _: KW_ONLY
    auth: Authenticator | None = None
    max_body: int = MAX_BODY_BYTES
    on_shutdown: Callable[[], None] | None = None
    forwarder: Forwarder | None = None
    metrics: RegistryMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = RegistryMetrics(self.service.state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and split_raw_path(scope["path"].encode()) == METRICS_PATH:
            await _send_metrics(send, self.metrics.exposition())
            return
        started = time.perf_counter()
        status = await self._respond(scope, receive, send)
        route = scope.get(ROUTE_KEY, UNMATCHED)
        self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> int:
        extra: list[tuple[bytes, bytes]] = []
        try:
            status, payload = await self._answer(scope, receive)
        except RegistryError as exc:
            status, payload = exc.status, {"error_code": exc.error_code, "message": _msg(exc)}
            if isinstance(exc, LoginsThrottled):
                extra.append((b"retry-after", str(exc.retry_after_s).encode()))
        except Exception as exc:  # a bug: answer 500 with the class, log the traceback
            logger.exception("unhandled error", extra={"path": scope.get("path")})
            status, payload = 500, {"error_code": 50001, "message": f"{type(exc).__name__}"}
        await _send_json(send, status, payload, scope, extra)
        return status

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        segments = split_raw_path(scope.get("raw_path") or scope["path"].encode())
        if self.auth is not None and segments != STATUS_PATH:
            client = scope.get("client")
            address = str(client[0]) if client else "-"
            header = headers.get("authorization")
            if self.auth.is_cheap(header):
                self.auth.authorize(header, method, address)
            else:  # a new password runs scrypt: off the event loop, so other requests go on
                await asyncio.to_thread(self.auth.authorize, header, method, address)
        handler, params = self.router.match(method, segments)
        scope[ROUTE_KEY] = handler.__name__
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        body = await self._read_body(receive, headers)
        try:
            result = await handler(Request(method, params, query, body, headers))
        except RegistryError as exc:
            if exc.error_code != 50004 or self.forwarder is None or FORWARDED_HEADER in headers:
                raise
            return await self._forward(scope, body, headers)
        return 200, result

    async def _forward(
        self, scope: Scope, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """Relay a write to the primary; on success, catch up so the client reads its write."""
        assert self.forwarder is not None
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        status, answer = await self.forwarder.forward(scope["method"], target, body, headers)
        if status < 300:
            await asyncio.to_thread(self.service.store.sync)
        return status, answer

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Shutdown hook: uvicorn re-raises SIGTERM after serving, so clean up here, before."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await asyncio.to_thread(self.on_shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise _too_large(self.max_body)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(self.max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> RegistryError:
    return RegistryError(413, 41301, f"Request body larger than {limit} bytes")


def _msg(exc: RegistryError) -> str:
    text = str(exc)
    suffix = f" (HTTP {exc.status}, error_code {exc.error_code})"
    return text.removesuffix(suffix)


async def _send_metrics(send: Send, body: bytes) -> None:
    headers = [
        (b"content-type", CONTENT_TYPE_LATEST.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, payload: Any, scope: Scope, extra: list[tuple[bytes, bytes]]
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = [(b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())]
    headers += extra
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="orderstream-registry"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
