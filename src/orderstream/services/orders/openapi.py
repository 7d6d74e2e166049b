"""The orders API's OpenAPI 3.1 document, built once from the request and response models.

The routes are plain Starlette routes (no per-request dependency solving), so FastAPI cannot
derive the document; it is written here, next to the models it uses, and a test fuzzes the
running API against it (tests/integration/services/test_orders_contract.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from orderstream.services.orders.idempotency import KEY_NAMESPACE, WINDOW_S
from orderstream.services.orders.models import MAX_BATCH, MAX_BODY_BYTES, OrderRequest

REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body, header, then the field path")
    msg: str
    type: str


class Invalid(BaseModel):
    """422: the body or a header is invalid; every bad field is named."""

    detail: list[FieldError] | str


class Problem(BaseModel):
    """An error; orderId is there when the order got one (look it up with GET later)."""

    detail: str
    orderId: str | None = None  # noqa: N815


class Accepted(BaseModel):
    """202: Kafka acknowledged the order (replayed: a retry of an order already written)."""

    orderId: str  # noqa: N815
    replayed: bool = False


class BatchItem(BaseModel):
    """The outcome of one item of a batch, with the status a single POST would have had."""

    status: Literal[202, 409, 422, 503]
    orderId: str | None = None  # noqa: N815
    replayed: bool = False
    detail: list[FieldError] | str | None = None


class BatchResults(BaseModel):
    results: list[BatchItem]


class LifecycleStep(BaseModel):
    """One step of an order's path, with its time (ms since the epoch) and reason."""

    status: str
    at: int | None = None
    reason: str | None = None
    paymentId: str | None = None  # noqa: N815


class EnrichedOrderOut(BaseModel):
    """200: the enrichment outcome of the order."""

    orderId: str  # noqa: N815
    customerId: str  # noqa: N815
    productId: str  # noqa: N815
    quantity: int
    amountCents: int  # noqa: N815
    currency: str
    timestamp: int = Field(description="the order's event time, ms since the epoch")
    productName: str  # noqa: N815
    category: str
    status: str = Field(
        description="RESERVED or REJECTED, then PAID or CANCELLED for a reserved order"
    )
    rejectReason: str | None  # noqa: N815
    stockAfter: int  # noqa: N815
    enrichedAt: int  # noqa: N815
    path: list[LifecycleStep] = Field(
        default_factory=list,
        description="CREATED -> RESERVED | REJECTED -> PAID | (PAYMENT_FAILED) CANCELLED",
    )


class Pending(BaseModel):
    """202: the order is in ``orders`` but has no enrichment outcome yet."""

    orderId: str  # noqa: N815
    status: Literal["PENDING"]
    detail: str


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    view: bool = Field(description="the enriched-orders view is assigned")
    kafka: str | None = Field(description="why Kafka cannot take writes now; null when it can")
    view_error: str | None = Field(
        default=None,
        description="only when the view's reader stopped: the refused or missing topic and the fix",
    )


MODELS: tuple[type[BaseModel], ...] = (
    OrderRequest,
    FieldError,
    Invalid,
    Problem,
    Accepted,
    BatchItem,
    BatchResults,
    EnrichedOrderOut,
    Pending,
    Health,
    Readiness,
)

IDEMPOTENCY = f"""Idempotent ingest. Send an `Idempotency-Key` (1-255 visible ASCII characters).
On `POST /orders` the orderId is `uuid5({KEY_NAMESPACE}, key)`; on `POST /orders/batch` item `i`
(0-based) gets `uuid5({KEY_NAMESPACE}, key + "#" + str(i))`. A body orderId that differs is a 409.
Without a key, a client orderId plays its part; with neither, the server assigns a uuid4 and a
retry is a new order.

For {WINDOW_S / 3600:.0f} h a retry with the same key and the same order (customerId, productId,
quantity, amountCents, currency) is the same order: the same orderId and the same OrderCreated,
event timestamp included, and one reservation downstream (enrichment drops a repeated orderId).
If the API knows the first attempt was written it answers 202 with `replayed: true` and writes
nothing. The same key with a different order is a 409. The API remembers keys from its own writes
and from the `orders` topic (so a restarted or second instance knows them), up to 1,000,000 keys
per instance (the oldest forgotten first, so at more than ~11 orders/s on average the API's
own memory is shorter than the window); past that, or when two instances race on one key,
enrichment's dedupe by orderId drops an exact repeat and dead-letters a conflicting one.

A 503 may still be written later (the ack did not come in time): retry with the same key after
Retry-After, or look the order up with `GET /orders/{{orderId}}`."""


def _json(schema: str, description: str) -> dict[str, Any]:
    ref = {"$ref": REF.format(model=schema)}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _unavailable(schema: str = "Problem") -> dict[str, Any]:
    answer = _json(
        schema,
        "Kafka cannot take the write now (cluster down, min ISR not met, no ack within the "
        "deadline) or the schema registry is away: retry after Retry-After with the same key",
    )
    answer["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
    return answer


KEY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "names the order for retries (see the API description)",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}

_POST_ERRORS = {
    "409": _json(
        "Problem",
        "the Idempotency-Key or orderId names a different order, or the body's orderId is "
        "not the one the Idempotency-Key maps to",
    ),
    "413": _json("Problem", f"the body is over {MAX_BODY_BYTES} bytes"),
    "422": _json("Invalid", "invalid body or Idempotency-Key; every bad field is named"),
}


def _paths() -> dict[str, Any]:
    order_body = {"required": True, "content": {"application/json": {"schema": _ref("Order")}}}
    # Items are validated one by one: an invalid item is answered in its own result (422), so
    # the array admits anything and says which shape is accepted.
    item = {"anyOf": [_ref("Order"), {"description": "anything else: a 422 in its result"}]}
    batch_schema = {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": item}
    return {
        "/orders": {
            "post": {
                "summary": "Place one order (202 once Kafka acknowledged it)",
                "operationId": "postOrder",
                "parameters": [KEY_HEADER],
                "requestBody": order_body,
                "responses": {
                    "202": _json("Accepted", "Kafka acknowledged the order"),
                    **_POST_ERRORS,
                    "503": _unavailable(),
                },
            }
        },
        "/orders/batch": {
            "post": {
                "summary": f"Place up to {MAX_BATCH} orders, with one status per order",
                "operationId": "postBatch",
                "parameters": [KEY_HEADER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": batch_schema}},
                },
                "responses": {
                    "200": _json("BatchResults", "one result per item, in order"),
                    "413": _POST_ERRORS["413"],
                    "422": _POST_ERRORS["422"],
                    "503": _unavailable("BatchResults"),
                },
            }
        },
        "/orders/{order_id}": {"get": _get_order()},
        "/healthz": {"get": _simple("getHealth", "The process is up", "Health")},
        "/readyz": {"get": _readyz()},
        "/metrics": {"get": _metrics()},
    }


def _get_order() -> dict[str, Any]:
    wait = {"type": "number", "minimum": 0, "maximum": 30, "default": 0}
    return {
        "summary": "The order's enrichment outcome (long-polls up to `wait` seconds)",
        "operationId": "getOrder",
        "parameters": [
            {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "wait", "in": "query", "required": False, "schema": wait},
        ],
        "responses": {
            "200": _json("EnrichedOrderOut", "the enrichment outcome"),
            "202": _json("Pending", "written to orders, not enriched yet"),
            "404": _json("Problem", "no such order known yet"),
            "422": _json("Invalid", "wait is not a number of seconds between 0 and 30"),
        },
    }


def _readyz() -> dict[str, Any]:
    answer = _simple("getReady", "Ready: the view is assigned and Kafka takes writes", "Readiness")
    answer["responses"]["503"] = _json("Readiness", "not ready; `kafka` says why")
    return answer


def _metrics() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "summary": "Prometheus metrics",
        "operationId": "getMetrics",
        "responses": {"200": {"description": "the exposition text", "content": text}},
    }


def _simple(operation: str, summary: str, schema: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation,
        "responses": {"200": _json(schema, summary)},
    }


def _ref(model: str) -> dict[str, str]:
    return {"$ref": REF.format(model=model)}


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at /openapi.json (built on first use, then the same dict)."""
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    schemas = dict(defs["$defs"])
    schemas["Order"] = schemas.pop("OrderRequest")
    return {
        "openapi": "3.1.0",
        "info": {"title": "orderstream orders", "version": "1", "description": IDEMPOTENCY},
        "paths": _paths(),
        "components": {"schemas": schemas},
    }
