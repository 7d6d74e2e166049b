"""The orders HTTP API (FastAPI): ingest orders durably and idempotently, answer their outcome.

    POST /orders          one order  -> 202 {"orderId"} after Kafka's delivery report
    POST /orders/batch    up to 1000 -> 200 {"results": [...]} with a status per order
    GET  /orders/{id}     the outcome from enriched-orders; 202 while written but not enriched,
                          404 while unknown; ?wait=S long-polls
    GET  /healthz /readyz /metrics, /openapi.json and /docs (the contract, built once)

Errors: 413 for a body over 1 MB, 422 with field errors, 409 for an Idempotency-Key reused for
a different order, 503 + Retry-After when Kafka cannot confirm the write within one ack deadline
per request, at once while the cluster cannot take writes (never a 2xx for an order that is not
durable), or while the schema registry is away before the schema was registered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from orderstream.services.orders.follower import OrdersFollower, Seen
from orderstream.services.orders.idempotency import IdempotencyLedger, Ledger
from orderstream.services.orders.ingest import (
    EncodeOrder,
    Ingest,
    ItemResult,
    SchemaGate,
    SchemaUnavailable,
)
from orderstream.services.orders.metrics import Metrics
from orderstream.services.orders.models import (
    MAX_BODY_BYTES,
    field_errors,
    parse_batch,
    parse_idempotency_key,
    parse_item,
    parse_order,
)
from orderstream.services.orders.openapi import openapi_document
from orderstream.services.orders.publisher import OrderPublisher
from orderstream.services.orders.view import EnrichedOrderView
from orderstream.tracing import active_tracer, server_span

T = TypeVar("T")

MAX_WAIT_S = 30.0
RETRY_AFTER_S = "1"


class BodyTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


@dataclass
class OrdersComponents:
    """What the API needs at run time; built in the lifespan so tests can swap parts."""

    publisher: OrderPublisher
    view: EnrichedOrderView
    encode_order: EncodeOrder  # (order, event timestamp ms) -> record value; never blocks
    register_schema: Callable[[], None]  # blocking: registers what encode_order needs
    follower: OrdersFollower | None = None
    ledger: Ledger | None = None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _unavailable(body: dict[str, Any]) -> Response:
    return _json(503, body, {"Retry-After": RETRY_AFTER_S})


def _answer(result: ItemResult) -> Response:
    if result.status == 503:
        return _unavailable(result.body)
    return _json(result.status, result.body)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing early (by Content-Length) or while streaming when over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class OrdersApi:
    """The request handlers; ``start`` wires them to the parts once the server starts."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.parts: OrdersComponents | None = None
        self.ledger: Ledger = IdempotencyLedger()
        self._ingest: Ingest | None = None
        self._schema: SchemaGate | None = None

    def start(self, parts: OrdersComponents) -> None:
        self.parts = parts
        self.ledger = parts.ledger if parts.ledger is not None else self.ledger
        self._ingest = Ingest(parts.publisher, self.ledger, parts.encode_order, self.metrics)
        self._schema = SchemaGate(parts.register_schema, parts.publisher.ack_timeout_s)

    def on_seen(self, batch: list[Seen]) -> None:
        for order_id, digest, timestamp_ms in batch:
            self.ledger.written(order_id, digest, timestamp_ms)

    def _ready_ingest(self) -> tuple[Ingest, SchemaGate]:
        assert self._ingest is not None, "the lifespan has not run"
        assert self._schema is not None
        return self._ingest, self._schema

    async def _refusal(self, request: Request) -> tuple[Response | None, str | None, bytes]:
        """(an early answer or None, the Idempotency-Key, the body)."""
        try:
            key = parse_idempotency_key(request.headers.get("idempotency-key"))
        except ValueError as exc:
            self.metrics.refuse("invalid")
            detail = [
                {"loc": ["header", "Idempotency-Key"], "msg": str(exc), "type": "value_error"}
            ]
            return _json(422, {"detail": detail}), None, b""
        try:
            body = await read_body(request)
        except BodyTooLarge:
            self.metrics.refuse("too_large")
            return _json(413, {"detail": f"body over {MAX_BODY_BYTES} bytes"}), key, b""
        _ingest, schema = self._ready_ingest()
        try:
            await schema.ensure()
        except SchemaUnavailable as exc:
            self.metrics.refuse("unavailable")
            return _unavailable({"detail": str(exc)}), key, body
        return None, key, body

    async def post_order(self, request: Request) -> Response:
        return await _traced(self._post_order, "POST /orders", request)

    async def post_batch(self, request: Request) -> Response:
        return await _traced(self._post_batch, "POST /orders/batch", request)

    async def _parsed(
        self, request: Request, parse: Callable[[bytes], T]
    ) -> Response | tuple[str | None, T]:
        """(the Idempotency-Key, the parsed body), or the early answer that refuses it."""
        early, key, body = await self._refusal(request)
        if early is not None:
            return early
        try:
            return key, parse(body)
        except ValidationError as exc:
            return _json(422, self._invalid(exc))

    def _invalid(self, exc: ValidationError) -> dict[str, Any]:
        """Count an invalid input; the 422 body that names its fields."""
        self.metrics.refuse("invalid")
        return {"detail": field_errors(exc)}

    async def _post_order(self, request: Request) -> Response:
        parsed = await self._parsed(request, parse_order)
        if isinstance(parsed, Response):
            return parsed
        key, order = parsed
        ingest, _ = self._ready_ingest()
        (result,) = await ingest.publish([order], key, batch=False)
        return _answer(result)

    async def _post_batch(self, request: Request) -> Response:
        parsed = await self._parsed(request, parse_batch)
        if isinstance(parsed, Response):
            return parsed
        key, raw = parsed
        items: list[Any] = []
        for item in raw:
            try:
                items.append(parse_item(item))
            except ValidationError as exc:
                items.append(ItemResult(422, self._invalid(exc)))
        ingest, _ = self._ready_ingest()
        results = [
            {"status": r.status, **r.body} for r in await ingest.publish(items, key, batch=True)
        ]
        if all(r["status"] == 503 for r in results):
            return _unavailable({"results": results})
        return _json(200, {"results": results})

    async def get_order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            wait = -1.0
        if not 0 <= wait <= MAX_WAIT_S:
            detail = f"wait must be a number of seconds between 0 and {MAX_WAIT_S:.0f}"
            return _json(422, {"detail": detail})
        assert self.parts is not None
        outcome = await self.parts.view.wait_for(order_id, wait)
        if outcome is not None:
            return _json(200, outcome)
        if self.ledger.is_written(order_id):
            pending = {"orderId": order_id, "status": "PENDING"}
            return _json(202, {**pending, "detail": "in orders, not enriched yet"})
        return _json(404, {"detail": f"order {order_id} has no enrichment outcome yet"})

    async def healthz(self, _request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        parts = self.parts
        failure = None if parts is None else parts.view.failure
        view = parts is not None and parts.view.assigned.is_set() and failure is None
        kafka = None if parts is None else parts.publisher.circuit.reason
        ready = view and parts is not None and kafka is None
        body: dict[str, Any] = {"ready": ready, "view": view, "kafka": kafka}
        if failure is not None:  # a refused or missing topic: say what to fix
            body["view_error"] = str(failure)
        return _json(200 if ready else 503, body)

    async def metrics_text(self, _request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _traced(
    handle: Callable[[Request], Awaitable[Response]], name: str, request: Request
) -> Response:
    """``handle`` under a SERVER span that continues the request's ``traceparent``, if any."""
    tracer = active_tracer()
    if tracer is None:
        return await handle(request)
    with server_span(tracer, name, request.headers) as span:
        response = await handle(request)
        span.set_attribute("http.response.status_code", response.status_code)
        return response


def create_app(build: Callable[[], OrdersComponents]) -> FastAPI:
    """The API; ``build`` makes the publisher, view and encoder when the server starts."""
    api = OrdersApi()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        parts = await asyncio.to_thread(build)
        loop = asyncio.get_running_loop()
        parts.publisher.start(loop)
        parts.view.start(loop)
        api.start(parts)
        if parts.follower is not None:
            parts.follower.start(loop, api.on_seen)
        try:
            yield
        finally:
            if parts.follower is not None:
                parts.follower.close()
            parts.view.close()
            await asyncio.to_thread(parts.publisher.close)

    app = FastAPI(title="orderstream orders", lifespan=lifespan, redoc_url=None)
    app.state.orders_api = api
    # Plain Starlette routes: the handlers parse their own bodies, and FastAPI's per-request
    # dependency solving cost a fifth of the CPU of POST /orders. The OpenAPI document is
    # therefore written out (openapi.py) and built once, not derived from the routes.
    app.router.add_route("/orders", api.post_order, methods=["POST"])
    app.router.add_route("/orders/batch", api.post_batch, methods=["POST"])
    app.router.add_route("/orders/{order_id}", api.get_order, methods=["GET"])
    app.router.add_route("/healthz", api.healthz, methods=["GET"])
    app.router.add_route("/readyz", api.readyz, methods=["GET"])
    app.router.add_route("/metrics", api.metrics_text, methods=["GET"])
    document = openapi_document()
    app.openapi = lambda: document  # type: ignore[method-assign]
    return app


class PostOrdersFirst:
    """The ASGI app the server runs: ``POST /orders`` straight to its handler, the rest to FastAPI.

    The handler needs neither middleware nor routing, and on the hot path of the API those cost
    about a third of the CPU of a request; lifespan, every other route and every other method of
    ``/orders`` (405) still go through ``app``.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.api: OrdersApi = app.state.orders_api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/orders" and scope["method"] == "POST":
            response = await self.api.post_order(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
