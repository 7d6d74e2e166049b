"""OpenTelemetry traces across HTTP and Kafka: W3C trace context in record headers.

Off unless an OTLP endpoint is configured by the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and never when
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Off means no SDK is loaded and
``active_tracer()`` is None, so callers keep their untraced code paths: nothing per record.

On: spans go over OTLP/HTTP through a batch processor; ``OTEL_SERVICE_NAME`` overrides the
service's own name; ``OTEL_TRACES_SAMPLER``/``_ARG`` choose the sampler, and without them it is
parent-based with a ratio of ``DEFAULT_RATIO`` for new traces. The ``orderId`` travels as W3C
baggage beside ``traceparent``, so that every log line written while handling an order can name
it (``log_fields``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter

logger = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
BAGGAGE = "baggage"
ORDER_ID = "orderId"  # the baggage entry
# Of new traces (no sampled parent): 1 in 1000 orders end to end. Measured by `bench tracing`
# (exactly-once pass-through, the cheapest processor, spans exported to Jaeger on the same two
# loaded cores), two runs: 0.001 gave 1.02 and 0.92 of off, 0.01 gave 0.62 and 0.70 (a sampled
# record's two spans and their export cost ~0.5 ms of Python), 100 % 0.03. A sampled incoming
# traceparent is always followed.
DEFAULT_RATIO = 0.001

Header = tuple[str, bytes]
# What an output emitted later (from punctuation) keeps of a record that caused it: the sampled
# span that handled the record (see ``current_link`` and ``runtime.tracing.Causes``).
TraceLink = trace.SpanContext
_tracer: trace.Tracer | None = None
# The raw trace headers of the record being handled when it is not sampled (no span is made for
# it): the log lines of that record still name its trace and order.
_passthrough: ContextVar[tuple[bytes, bytes | None] | None] = ContextVar(
    "orderstream_trace_passthrough", default=None
)


class _HeaderGetter(Getter[Sequence[Header]]):
    """confluent-kafka's headers: a list of (str, bytes) tuples, keys possibly repeated."""

    def get(self, carrier: Sequence[Header], key: str) -> list[str] | None:
        found = [v.decode("latin-1") for k, v in carrier if k == key and v is not None]
        return found or None

    def keys(self, carrier: Sequence[Header]) -> list[str]:
        return [k for k, _ in carrier]


class _HeaderSetter(Setter[list[Header]]):
    def set(self, carrier: list[Header], key: str, value: str) -> None:
        carrier.append((key, value.encode("latin-1")))


class _HttpGetter(Getter[Any]):
    """Starlette's case-insensitive request headers."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: Any) -> list[str]:
        return list(carrier.keys())


HEADER_GETTER = _HeaderGetter()
HEADER_SETTER = _HeaderSetter()
HTTP_GETTER = _HttpGetter()


def tracing_requested(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(service: str) -> trace.Tracer | None:
    """Install the SDK's tracer provider when the environment asks for traces; see above."""
    if _tracer is not None or not service or not tracing_requested():
        return _tracer
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource, sampler=_default_sampler())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install_provider(provider)
    logger.info(
        "tracing on: OTLP export",
        extra={"otel_service": resource.attributes.get(SERVICE_NAME)},
    )
    return _tracer


def install_provider(provider: trace.TracerProvider) -> trace.Tracer:
    """Use ``provider`` from now on (tests pass one with an in-memory exporter)."""
    global _tracer
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("orderstream")
    return _tracer


def use_tracer(tracer: trace.Tracer | None) -> trace.Tracer | None:
    """Swap the tracer (None: tracing off) and return the previous one: for benchmarks."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def active_tracer() -> trace.Tracer | None:
    """The tracer when tracing is on, else None (callers then skip tracing entirely)."""
    return _tracer


def _default_sampler() -> Any:
    """None lets the SDK read OTEL_TRACES_SAMPLER; without it, parent-based with a ratio."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None
    try:
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", DEFAULT_RATIO))
    except ValueError:
        logger.warning("OTEL_TRACES_SAMPLER_ARG is not a number: using %s", DEFAULT_RATIO)
        ratio = DEFAULT_RATIO
    return ParentBased(TraceIdRatioBased(ratio))


# -- HTTP ---------------------------------------------------------------------------------------


@contextmanager
def server_span(tracer: trace.Tracer, name: str, headers: Any) -> Iterator[trace.Span]:
    """A SERVER span, child of the request's ``traceparent`` when it has one."""
    parent = propagate.extract(headers, getter=HTTP_GETTER)
    with tracer.start_as_current_span(
        name, context=parent, kind=trace.SpanKind.SERVER, attributes={"http.request.method": "POST"}
    ) as span:
        yield span


@contextmanager
def order_scope(order_id: str) -> Iterator[None]:
    """The orderId in the current context's baggage: log lines and injected headers carry it."""
    token = context.attach(baggage.set_baggage(ORDER_ID, order_id))
    try:
        yield
    finally:
        context.detach(token)


def send_span(
    tracer: trace.Tracer, topic: str, key: bytes | None
) -> tuple[trace.Span, list[Header]]:
    """A PRODUCER span for one record and the headers that carry it (end it on delivery)."""
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.destination.name": topic,
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    span = tracer.start_span(f"send {topic}", kind=trace.SpanKind.PRODUCER, attributes=attributes)
    headers: list[Header] = []
    propagate.inject(headers, context=trace.set_span_in_context(span), setter=HEADER_SETTER)
    return span, headers


def current_link() -> TraceLink | None:
    """The span handling the current record, when there is one and it is sampled (a link to
    an unsampled span would point at nothing in the backend)."""
    span_context = trace.get_current_span().get_span_context()
    return span_context if span_context.is_valid and span_context.trace_flags.sampled else None


# -- logs ---------------------------------------------------------------------------------------


def log_fields() -> dict[str, str]:
    """trace_id, span_id and orderId of what is being handled now, if anything."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        fields = {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}
        order_id = baggage.get_baggage(ORDER_ID)
        if order_id is not None:
            fields[ORDER_ID] = str(order_id)
        return fields
    raw = _passthrough.get()
    return {} if raw is None else _fields_of_headers(*raw)


def _fields_of_headers(traceparent: bytes, baggage_header: bytes | None) -> dict[str, str]:
    parts = traceparent.decode("latin-1").split("-")
    fields = {"trace_id": parts[1], "span_id": parts[2]} if len(parts) == 4 else {}
    for entry in (baggage_header or b"").decode("latin-1").split(","):
        name, _, value = entry.partition("=")
        if name.strip() == ORDER_ID:
            fields[ORDER_ID] = value.split(";")[0].strip()
    return fields


def set_passthrough(value: tuple[bytes, bytes | None] | None) -> Any:
    return _passthrough.set(value)


def reset_passthrough(token: Any) -> None:
    _passthrough.reset(token)
