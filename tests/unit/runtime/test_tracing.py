"""The runtime's trace propagation layer, against the real OpenTelemetry SDK (in memory)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode

from orderstream.runtime.api import ProcessorContext, Record
from orderstream.runtime.context import RecordContext
from orderstream.runtime.tracing import RecordTracer
from orderstream.tracing import log_fields, tracing_requested

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE_ID}-{PARENT}-01".encode()
UNSAMPLED = f"00-{TRACE_ID}-{PARENT}-00".encode()
BAGGAGE = b"orderId=o-42"


def _setup(sampler: object = ALWAYS_ON) -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


def _record(headers: tuple[tuple[str, bytes], ...]) -> Record:
    return Record("orders", 3, 17, b"o-42", b"v", headers)


class Forward:
    """Emits one record with a stale copy of its input's trace headers, and logs what it sees."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: dict[str, str] = {}

    def __call__(self, record: Record, ctx: ProcessorContext) -> None:
        self.seen = log_fields()
        ctx.emit("orders-by-product", b"p-1", record.value, [("x", b"1"), *record.headers])
        if self.fail:
            raise ValueError("bad order")


def _header(headers: list[tuple[str, bytes]] | None, name: str) -> list[bytes]:
    return [v for k, v in headers or [] if k == name]


def test_a_sampled_parent_gets_a_process_span_and_its_emit_a_send_span() -> None:
    exporter, provider = _setup()
    step = Forward()
    ctx = RecordContext({})
    RecordTracer(step, provider.get_tracer("t"), "enrichment")(
        _record((("traceparent", SAMPLED), ("baggage", BAGGAGE))), ctx
    )
    spans = {s.kind: s for s in exporter.get_finished_spans()}
    process, send = spans[SpanKind.CONSUMER], spans[SpanKind.PRODUCER]
    assert process.kind is SpanKind.CONSUMER and process.name == "process orders"
    assert send.kind is SpanKind.PRODUCER and send.name == "send orders-by-product"
    assert f"{process.context.trace_id:032x}" == TRACE_ID
    assert process.parent is not None and f"{process.parent.span_id:016x}" == PARENT
    assert send.parent is not None and send.parent.span_id == process.context.span_id
    attrs = process.attributes or {}
    assert attrs["messaging.system"] == "kafka"
    assert attrs["messaging.consumer.group.name"] == "enrichment"
    assert attrs["messaging.destination.partition.id"] == "3"
    assert attrs["messaging.kafka.offset"] == 17
    # The processor's log lines name the trace, its own span and the order.
    assert step.seen == {
        "trace_id": TRACE_ID,
        "span_id": f"{process.context.span_id:016x}",
        "orderId": "o-42",
    }
    (_, _, _, headers) = ctx.emits[0]
    # One traceparent (the stale copy is replaced), naming the send span; the baggage goes on.
    assert _header(headers, "traceparent") == [
        f"00-{TRACE_ID}-{send.context.span_id:016x}-01".encode()
    ]
    assert _header(headers, "baggage") == [BAGGAGE]
    assert _header(headers, "x") == [b"1"]


def test_an_unsampled_parent_is_forwarded_without_spans() -> None:
    exporter, provider = _setup()
    step = Forward()
    ctx = RecordContext({})
    RecordTracer(step, provider.get_tracer("t"), "g")(
        _record((("traceparent", UNSAMPLED), ("baggage", BAGGAGE))), ctx
    )
    assert exporter.get_finished_spans() == ()
    assert step.seen == {"trace_id": TRACE_ID, "span_id": PARENT, "orderId": "o-42"}
    (_, _, _, headers) = ctx.emits[0]
    assert _header(headers, "traceparent") == [UNSAMPLED]
    assert _header(headers, "baggage") == [BAGGAGE]
    assert log_fields() == {}  # nothing is left current after the record


def test_a_record_without_context_starts_a_trace_the_sampler_may_drop() -> None:
    exporter, provider = _setup(ALWAYS_OFF)
    ctx = RecordContext({})
    RecordTracer(Forward(), provider.get_tracer("t"), "g")(_record(()), ctx)
    assert exporter.get_finished_spans() == ()
    (_, _, _, headers) = ctx.emits[0]
    (traceparent,) = _header(headers, "traceparent")
    assert int(traceparent[-2:], 16) & 1 == 0  # downstream knows it is not sampled


def test_a_failing_record_marks_its_span_and_still_raises() -> None:
    exporter, provider = _setup()
    with pytest.raises(ValueError, match="bad order"):
        RecordTracer(Forward(fail=True), provider.get_tracer("t"), "g")(
            _record((("traceparent", SAMPLED),)), RecordContext({})
        )
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_the_dlq_step_of_a_failed_record_sees_its_trace_again() -> None:
    _, provider = _setup()
    tracer = RecordTracer(Forward(fail=True), provider.get_tracer("t"), "g")
    for traceparent, span_id in ((SAMPLED, None), (UNSAMPLED, PARENT)):
        record = _record((("traceparent", traceparent), ("baggage", BAGGAGE)))
        with pytest.raises(ValueError, match="bad order"):
            tracer(record, RecordContext({}))
        assert log_fields() == {}
        with tracer.failure_scope(record):
            fields = log_fields()
        assert fields["trace_id"] == TRACE_ID and fields["orderId"] == "o-42"
        assert span_id is None or fields["span_id"] == span_id
        with tracer.failure_scope(record):  # once only
            assert log_fields() == {}


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_when_an_endpoint_is_configured(env: dict[str, str], on: bool) -> None:
    assert tracing_requested(env) is on
