"""Orders in and EnrichedOrders out on the bytes, when their Avro layout is known to be ours.

The reservation path decodes every order twice (stage 1 to dedupe it, stage 2 to reserve it)
and encodes one EnrichedOrder per order. Through the general serde each costs a generic record
dict, a datetime per timestamp and a dataclass built field by field. Two facts make most of it
unnecessary:

- An order written with the local OrderCreated schema decodes with that schema as it is, minus
  its logical type (the timestamp stays the long it is on the wire), and builds the event
  positionally.
- EnrichedOrder's first seven fields are OrderCreated's, with the same types, so an
  EnrichedOrder's body is the order's body followed by the enrichment: productName, category,
  status, rejectReason (the same bytes for every order of a product and outcome, cached) and
  stockAfter, enrichedAt.

And an order is decoded once per instance, not once per stage: stage 2 meets the very bytes stage
1 forwarded (and parking keeps), so the decoded orders of the last few thousand values are kept
by value, in two generations that bound the memory.

Neither layout is assumed. A schema id is trusted once the registry's text for it is the local
OrderCreated schema (the test the serde makes before it reads with the writer's schema alone);
the EnrichedOrder encoding is trusted once its first output equals the serde's own. Anything
else (another schema version, another event type, no registry lookup, a codec that is not
Avro) takes the serde.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from typing import Any

import fastavro

from orderstream.errors import DeserializationError
from orderstream.serde import Codec, EnrichedOrder, OrderCreated
from orderstream.serde.catalog import schema_text
from orderstream.serde.events import line_of
from orderstream.serde.wire import HEADER_SIZE, MAGIC_BYTE
from orderstream.services.enrichment.rules import Reservation

GENERATION = 16_384  # decoded orders kept per generation (two of them), a bound on memory
_PRODUCT_FIELDS = ("productName", "category", "status", "rejectReason")


def _plain_schema(stem: str, fields: tuple[str, ...] | None = None) -> Any:
    """The local schema of ``stem`` without logical types, optionally only ``fields`` of it."""
    schema = copy.deepcopy(json.loads(schema_text(stem)))
    if fields is not None:
        schema["name"] = f"{schema['name']}{len(fields)}"  # a record of its own, same types
        schema["fields"] = [f for f in schema["fields"] if f["name"] in fields]
    for field in schema["fields"]:
        if isinstance(field["type"], dict):
            field["type"].pop("logicalType", None)
    return fastavro.parse_schema(schema)


_LOCAL_ORDER = schema_text("OrderCreated")
_ORDER = _plain_schema("OrderCreated")
_PRODUCT_PART = _plain_schema("EnrichedOrder", _PRODUCT_FIELDS)


def _write(schema: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


def avro_long(value: int) -> bytes:
    """Avro's encoding of a long (zigzag, then base-128 varint): what fastavro writes, without
    its per-call cost (several microseconds, most of an EnrichedOrder's encoding)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def schema_id_of(value: bytes | None) -> int | None:
    """The schema id of a wire-format value, None when it is not one."""
    if value is None or len(value) <= HEADER_SIZE or value[0] != MAGIC_BYTE:
        return None
    return int.from_bytes(value[1:HEADER_SIZE], "big")


class OrderWire:
    """Decodes orders and encodes EnrichedOrders, on the bytes once each layout is proven."""

    def __init__(
        self, codec: Codec, enriched_topic: str, writer_schema: Callable[[int], str] | None = None
    ) -> None:
        """``writer_schema``: the registry's schema text of an id (``RegistryClient.schema_by_id``,
        which the serde has cached by then); without it every order takes the serde."""
        self._codec = codec
        self._writer_schema = writer_schema
        self._enriched_topic = enriched_topic
        # wire header (magic byte and schema id) -> whether its schema is the local OrderCreated
        self._order_headers: dict[bytes, bool] = {}
        self._enriched_header: bytes | None = None  # set once the fast encoding is proven
        self._enriched_checked = False
        self._product_parts: dict[tuple[str, str, str, str | None], bytes] = {}
        self._last_at: tuple[int, bytes] = (-1, b"")
        self._young: dict[bytes, OrderCreated] = {}
        self._old: dict[bytes, OrderCreated] = {}

    def decode(self, value: bytes | None) -> Any:
        """The event in ``value``: an order of a proven schema id from its bytes, else the
        serde's decoding (DeserializationError for anything undecodable)."""
        seen = self._young.get(value) or self._old.get(value)  # type: ignore[arg-type]
        if seen is not None:
            return seen
        header = value[:HEADER_SIZE] if value is not None else b""
        known = self._order_headers.get(header)
        if known:
            event: Any = self._read_order(value)  # type: ignore[arg-type]
        else:
            event = self._codec.decode(value)
            if not isinstance(event, OrderCreated):
                return event
            if known is None and self._writer_schema is not None:
                self._order_headers[header] = self._is_local(header)
        self._keep(value, event)  # type: ignore[arg-type]
        return event

    def _keep(self, value: bytes, order: OrderCreated) -> None:
        if len(self._young) >= GENERATION:
            self._old, self._young = self._young, {}
        self._young[value] = order

    def _is_local(self, header: bytes) -> bool:
        writer = self._writer_schema(int.from_bytes(header[1:], "big"))  # type: ignore[misc]
        return json.dumps(json.loads(writer), separators=(",", ":")) == _LOCAL_ORDER

    @staticmethod
    def _read_order(value: bytes) -> OrderCreated:
        schema_id = schema_id_of(value)
        buf = io.BytesIO(memoryview(value)[HEADER_SIZE:])
        try:
            r: Any = fastavro.schemaless_reader(buf, _ORDER, None)
        except Exception as exc:  # fastavro raises many types on garbage
            raise DeserializationError(
                f"body of schema id {schema_id} is not a valid OrderCreated: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if buf.tell() != len(value) - HEADER_SIZE:
            raise DeserializationError(
                f"body of schema id {schema_id} has "
                f"{len(value) - HEADER_SIZE - buf.tell()} trailing bytes"
            )
        return OrderCreated(
            r["orderId"], r["customerId"], r["productId"], r["quantity"], r["amountCents"],
            r["currency"], r["timestamp"],
        )  # fmt: skip

    def encode_enriched(
        self,
        order: OrderCreated,
        value: bytes | None,
        product: Any,
        outcome: Reservation,
        enriched_at: int,
    ) -> bytes:
        """The EnrichedOrder of ``order`` (whose record value is ``value``), wire format."""
        name, category = (product.name, product.category) if product is not None else ("", "")
        reason = outcome.reject_reason.value if outcome.reject_reason else None
        tail = (name, category, outcome.status.value, reason, outcome.stock_after, enriched_at)
        on_bytes = value is not None and self._order_headers.get(value[:HEADER_SIZE], False)
        if on_bytes and self._enriched_header is not None:
            return self._join(self._enriched_header, value, *tail)  # type: ignore[arg-type]
        enriched = EnrichedOrder(**line_of(order), timestamp=order.timestamp, product_name=name,
            category=category, status=tail[2], reject_reason=reason,  # type: ignore[arg-type]
            stock_after=outcome.stock_after, enriched_at=enriched_at)  # fmt: skip
        encoded = self._codec.encode(self._enriched_topic, enriched)
        if on_bytes and not self._enriched_checked:
            self._enriched_checked = True
            header = encoded[:HEADER_SIZE]
            if self._join(header, value, *tail) == encoded:  # type: ignore[arg-type]
                self._enriched_header = header
        return encoded

    def _join(
        self,
        header: bytes,
        value: bytes,
        name: str,
        category: str,
        status: str,
        reason: str | None,
        stock_after: int,
        enriched_at: int,
    ) -> bytes:
        return b"".join(
            (
                header,
                memoryview(value)[HEADER_SIZE:],
                self._product_part(name, category, status, reason),
                avro_long(stock_after),
                self._enriched_at(enriched_at),
            )
        )

    def _enriched_at(self, at_ms: int) -> bytes:
        """Orders of one millisecond share their enrichedAt: encode it once."""
        if self._last_at[0] != at_ms:
            self._last_at = (at_ms, avro_long(at_ms))
        return self._last_at[1]

    def _product_part(self, name: str, category: str, status: str, reason: str | None) -> bytes:
        key = (name, category, status, reason)
        part = self._product_parts.get(key)
        if part is None:
            if len(self._product_parts) > 100_000:  # renamed products: never grow unbounded
                self._product_parts.clear()
            part = self._product_parts[key] = _write(
                _PRODUCT_PART,
                {
                    "productName": name,
                    "category": category,
                    "status": status,
                    "rejectReason": reason,
                },
            )
        return part
