"""The orders API's request bodies, validated strictly, and their field errors as JSON."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_BODY_BYTES = 1_048_576
MAX_BATCH = 1_000

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class OrderRequest(BaseModel):
    """One order as a client posts it; the API assigns an orderId when none is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orderId: Identifier | None = None  # noqa: N815 (the wire name)
    customerId: Identifier  # noqa: N815
    productId: Identifier  # noqa: N815
    quantity: Annotated[int, Field(ge=1, le=1000, strict=True)]
    amountCents: Annotated[int, Field(ge=0, strict=True)] = 0  # noqa: N815
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
