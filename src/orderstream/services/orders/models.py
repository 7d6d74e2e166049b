"""The orders API's request bodies, validated strictly, and their field errors as JSON."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from orderstream.serde.events import camel

MAX_BODY_BYTES = 1_048_576
MAX_BATCH = 1_000
AVRO_LONG_MAX = 2**63 - 1  # OrderCreated.amountCents is an Avro long


def _integral(value: Any) -> Any:
    """324.0 is the integer 324 in JSON Schema (and so in the OpenAPI document); 1.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict (no "2", no true), but a JSON number without a fraction counts as an integer. The
# validator comes after the Field so the constraints stay JSON Schema's minimum and maximum.
_INTEGRAL = BeforeValidator(_integral)

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class OrderRequest(BaseModel):
    """One order as a client posts it; the API assigns an orderId when none is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orderId: Identifier | None = None  # noqa: N815 (the wire name)
    customerId: Identifier  # noqa: N815
    productId: Identifier  # noqa: N815
    quantity: Annotated[int, Field(ge=1, le=1000, strict=True), _INTEGRAL]
    amountCents: Annotated[int, Field(ge=0, le=AVRO_LONG_MAX, strict=True), _INTEGRAL] = 0  # noqa: N815
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"

    def with_order_id(self, order_id: str | None) -> OrderRequest:
        """This order under ``order_id``, or a fresh UUID when that is None."""
        if order_id is None:
            order_id = str(uuid.uuid4())
        if order_id == self.orderId:
            return self
        return self.model_copy(update={"orderId": order_id})


_ORDER: TypeAdapter[OrderRequest] = TypeAdapter(OrderRequest)
_BATCH: TypeAdapter[list[Any]] = TypeAdapter(
    Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]
)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"loc", "msg", "type"}]``, the shape FastAPI clients know."""
    return [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def parse_order(body: bytes) -> OrderRequest:
    """One order from JSON bytes (orderId None when the client gave none).

    ValidationError names every bad field.
    """
    return _ORDER.validate_json(body)


def parse_batch(body: bytes) -> list[Any]:
    """The raw items of a batch: a JSON array of 1..MAX_BATCH elements."""
    return _BATCH.validate_json(body)


def parse_item(item: Any) -> OrderRequest:
    """One item of a batch, already decoded from JSON."""
    return _ORDER.validate_python(item)


_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def parse_idempotency_key(header: str | None) -> str | None:
    """The Idempotency-Key header: 1-255 visible ASCII characters, or None when absent."""
    if header is None:
        return None
    if not _KEY.match(header):
        raise ValueError("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return header


# --- order lifecycle (issue 13) --------------------------------------------------------------

LIFECYCLE_EVENTS = ("PaymentCompleted", "PaymentFailed", "StockReleased")


def lifecycle_json(event: Any) -> dict[str, Any] | None:
    """A payment outcome or a release as ``{"event": <name>, <camelCase fields>}``; None for
    any other event."""
    name = getattr(type(event), "schema_name", None)
    if name not in LIFECYCLE_EVENTS or not dataclasses.is_dataclass(event):
        return None
    fields = {camel(f.name): getattr(event, f.name) for f in dataclasses.fields(event)}
    return {"event": name, **fields}


def order_view(enriched: dict[str, Any], facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What ``GET /orders/{id}`` answers: the enrichment outcome, the final ``status`` and the
    ``path`` CREATED -> RESERVED | REJECTED -> PAID | CANCELLED, with reasons and timestamps.

    ``facts`` holds the lifecycle events of the order by name, in whatever order they were read.
    """
    path: list[dict[str, Any]] = [
        {"status": "CREATED", "at": enriched.get("timestamp")},
        {
            "status": enriched.get("status"),
            "at": enriched.get("enrichedAt"),
            "reason": enriched.get("rejectReason"),
        },
    ]
    status = enriched.get("status")
    if (paid := facts.get("PaymentCompleted")) is not None:
        path.append({"status": "PAID", "at": paid["completedAt"], "paymentId": paid["paymentId"]})
        status = "PAID"
    if (failed := facts.get("PaymentFailed")) is not None:
        path.append(
            {"status": "PAYMENT_FAILED", "at": failed["failedAt"], "reason": failed["reason"]}
        )
        status = "CANCELLED"
    if (released := facts.get("StockReleased")) is not None:
        reason = released["reason"]
        if released.get("detail"):
            reason += f": {released['detail']}"
        path.append({"status": "CANCELLED", "at": released["releasedAt"], "reason": reason})
        status = "CANCELLED"
    return {**enriched, "status": status, "path": path}
