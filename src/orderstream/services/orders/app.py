"""The orders HTTP API (FastAPI): ingest orders durably, answer their enrichment outcome.

    POST /orders          one order  -> 202 {"orderId"} after Kafka's delivery report
    POST /orders/batch    up to 1000 -> 200 {"results": [...]} with a status per order
    GET  /orders/{id}     the outcome from enriched-orders, 404 while unknown; ?wait=S long-polls
    GET  /healthz /readyz /metrics

Errors: 413 for a body over 1 MB, 422 with field errors, 503 + Retry-After when Kafka cannot
confirm the write within the ack timeout (never a 2xx for an order that is not durable).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import ValidationError

from orderstream.services.orders.models import (
    MAX_BODY_BYTES,
    OrderRequest,
    field_errors,
    parse_batch,
    parse_item,
    parse_order,
)
from orderstream.services.orders.publisher import OrderNotDurable, OrderPublisher
from orderstream.services.orders.view import EnrichedOrderView
from orderstream.services.topics import PRODUCT_HEADER

MAX_WAIT_S = 30.0
RETRY_AFTER_S = "1"


class BodyTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


@dataclass
class OrdersComponents:
    """What the API needs at run time; built in the lifespan so tests can swap parts."""

    publisher: OrderPublisher
    view: EnrichedOrderView
    encode_order: Callable[[OrderRequest], bytes]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "orders_accepted_total", "orders durably written", registry=self.registry
        )
        self.refused = Counter(
            "orders_refused_total", "orders refused", ["reason"], registry=self.registry
        )
        self.ack_latency = Histogram(
            "orders_ack_latency_seconds",
            "time from produce to Kafka's delivery report",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _headers(order: OrderRequest) -> list[tuple[str, bytes]]:
    return [(PRODUCT_HEADER, order.productId.encode())]


def _unavailable(reason: str) -> Response:
    return _json(503, {"detail": reason}, {"Retry-After": RETRY_AFTER_S})


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
    """The request handlers; ``parts`` is set by the lifespan once the server starts."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.parts: OrdersComponents | None = None

    def _parts(self) -> OrdersComponents:
        assert self.parts is not None, "the lifespan has not started"
        return self.parts

    async def post_order(self, request: Request) -> Response:
        try:
            order = parse_order(await read_body(request))
        except BodyTooLarge:
            self.metrics.refused.labels("too_large").inc()
            return _json(413, {"detail": f"body over {MAX_BODY_BYTES} bytes"})
        except ValidationError as exc:
            self.metrics.refused.labels("invalid").inc()
            return _json(422, {"detail": field_errors(exc)})
        parts = self._parts()
        assert order.orderId is not None
        try:
            latency = await parts.publisher.publish(
                order.orderId.encode(), parts.encode_order(order), _headers(order)
            )
        except OrderNotDurable as exc:
            self.metrics.refused.labels("unavailable").inc()
            return _unavailable(str(exc))
        self._accepted(latency)
        return _json(202, {"orderId": order.orderId})

    async def post_batch(self, request: Request) -> Response:
        try:
            items = parse_batch(await read_body(request))
        except BodyTooLarge:
            return _json(413, {"detail": f"body over {MAX_BODY_BYTES} bytes"})
        except ValidationError as exc:
            return _json(422, {"detail": field_errors(exc)})
        results = await self._publish_batch(items)
        if all(r["status"] == 503 for r in results):
            return _json(503, {"results": results}, {"Retry-After": RETRY_AFTER_S})
        return _json(200, {"results": results})

    async def _publish_batch(self, items: list[Any]) -> list[dict[str, Any]]:
        parts = self._parts()
        results: list[dict[str, Any]] = [{} for _ in items]
        valid: list[tuple[int, OrderRequest, bytes]] = []
        for i, item in enumerate(items):
            try:
                order = parse_item(item)
            except ValidationError as exc:
                self.metrics.refused.labels("invalid").inc()
                results[i] = {"status": 422, "detail": field_errors(exc)}
                continue
            valid.append((i, order, parts.encode_order(order)))
        outcomes = await parts.publisher.publish_many(
            [(str(o.orderId).encode(), v, _headers(o)) for _, o, v in valid]
        )
        for (i, order, _), outcome in zip(valid, outcomes, strict=True):
            order_id = order.orderId
            if isinstance(outcome, OrderNotDurable):
                self.metrics.refused.labels("unavailable").inc()
                results[i] = {"status": 503, "orderId": order_id, "detail": str(outcome)}
            else:
                self._accepted(outcome)
                results[i] = {"status": 202, "orderId": order_id}
        return results

    def _accepted(self, latency: float) -> None:
        self.metrics.accepted.inc()
        self.metrics.ack_latency.observe(latency)

    async def get_order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            wait = -1.0
        if not 0 <= wait <= MAX_WAIT_S:
            return _json(422, {"detail": f"wait must be between 0 and {MAX_WAIT_S:.0f} seconds"})
        outcome = await self._parts().view.wait_for(order_id, wait)
        if outcome is None:
            return _json(404, {"detail": f"order {order_id} has no enrichment outcome yet"})
        return _json(200, outcome)

    async def healthz(self, _request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        ready = self.parts is not None and self.parts.view.assigned.is_set()
        return _json(200 if ready else 503, {"ready": ready})

    async def metrics_text(self, _request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(build: Callable[[], OrdersComponents]) -> FastAPI:
    """The API; ``build`` makes the publisher, view and encoder when the server starts."""
    api = OrdersApi()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        parts = await asyncio.to_thread(build)
        loop = asyncio.get_running_loop()
        parts.publisher.start(loop)
        parts.view.start(loop)
        api.parts = parts
        try:
            yield
        finally:
            parts.view.close()
            await asyncio.to_thread(parts.publisher.close)

    app = FastAPI(title="orderstream orders", lifespan=lifespan, docs_url=None, redoc_url=None)
    # Plain Starlette routes: the handlers parse their own bodies, and FastAPI's per-request
    # dependency solving cost a fifth of the CPU of POST /orders.
    app.router.add_route("/orders", api.post_order, methods=["POST"])
    app.router.add_route("/orders/batch", api.post_batch, methods=["POST"])
    app.router.add_route("/orders/{order_id}", api.get_order, methods=["GET"])
    app.router.add_route("/healthz", api.healthz, methods=["GET"])
    app.router.add_route("/readyz", api.readyz, methods=["GET"])
    app.router.add_route("/metrics", api.metrics_text, methods=["GET"])
    return app
