"""Trace context for outputs emitted from punctuation, against the real OpenTelemetry SDK (in
memory): a cause's trace continues, the other causes are span links, and tracing off leaves the
outputs (and the processors) untraced. Through analytics too: a window's ``order-stats`` record
continues the trace of a sampled order counted in it, and an ``order-alerts`` record the trace
of the order that raised it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from orderstream.runtime.api import ProcessorContext, PunctuateContext, Record, StoreSpec
from orderstream.runtime.context import CycleContext, RecordContext
from orderstream.runtime.tracing import Causes, RecordTracer
from orderstream.serde import EnrichedOrder, EventSerde
from orderstream.services.analytics.events import ORDER_ALERTS, ORDER_STATS
from orderstream.services.analytics.model import ModelConfig
from orderstream.services.analytics.processor import AnalyticsOptions, AnalyticsProcessor
from orderstream.services.analytics.windows import WindowSpec
from orderstream.testing.driver import Output, ProcessorDriver
from orderstream.testing.registry import MemoryRegistry
from orderstream.tracing import current_link, use_tracer

TRACES = [f"{i:032x}" for i in (0xA1, 0xB2, 0xC3)]


def _traceparent(trace_id: str, sampled: bool = True) -> bytes:
    return f"00-{trace_id}-00f067aa0ba902b7-0{int(sampled)}".encode()


@pytest.fixture
def traced() -> Iterator[tuple[InMemorySpanExporter, trace.Tracer]]:
    """Tracing on (``active_tracer()``) for the test, with spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    previous = use_tracer(tracer)
    try:
        yield exporter, tracer
    finally:
        use_tracer(previous)


class Tally:
    """Counts records per key and, in punctuation, emits each key's count with its causes."""

    input_topics = ("orders",)
    stores: tuple[StoreSpec, ...] = ()

    def __init__(self) -> None:
        self.causes = Causes(per_key=2)
        self.counts: dict[bytes, int] = {}

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        assert record.key is not None
        self.counts[record.key] = self.counts.get(record.key, 0) + 1
        self.causes.note(record.key)

    def punctuate(self, now_ms: int, ctx: PunctuateContext) -> None:
        for key, count in sorted(self.counts.items()):
            ctx.emit("tally", key, str(count).encode(), caused_by=self.causes.pop(key))
        ctx.emit("tally", b"heartbeat", b"")  # no cause: no trace context
        self.counts.clear()


def _feed(process: RecordTracer, key: bytes, traceparent: bytes) -> None:
    process(Record("orders", 0, 1, key, b"v", (("traceparent", traceparent),)), RecordContext({}))


def _context(headers: list[tuple[str, bytes]] | None) -> tuple[str, str]:
    """(trace id, parent span id) of an emit's traceparent."""
    [value] = [v for k, v in headers or [] if k == "traceparent"]
    _, trace_id, span_id, _ = value.decode().split("-")
    return trace_id, span_id


def _span(exporter: InMemorySpanExporter, name: str, trace_id: str) -> ReadableSpan:
    [span] = [
        s
        for s in exporter.get_finished_spans()
        if s.name == name and s.context is not None and f"{s.context.trace_id:032x}" == trace_id
    ]
    return span


def test_an_aggregate_continues_its_first_cause_and_links_the_others(
    traced: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = traced
    tally = Tally()
    process = RecordTracer(tally.process, tracer, "tally")
    _feed(process, b"k1", _traceparent(TRACES[0]))
    _feed(process, b"k1", _traceparent(TRACES[1]))
    _feed(process, b"k1", _traceparent(TRACES[2]))  # over per_key=2: not linked
    _feed(process, b"k2", _traceparent(TRACES[2], sampled=False))  # no span: nothing to link
    ctx = CycleContext({})
    tally.punctuate(0, ctx)
    process.trace_caused(ctx.emits, ctx.causes)

    k1, k2, heartbeat = ctx.emits
    first = _span(exporter, "process orders", TRACES[0])
    send = _span(exporter, "send tally", TRACES[0])
    assert _context(k1[3]) == (TRACES[0], f"{send.context.span_id:016x}")  # type: ignore[union-attr]
    assert send.parent is not None and send.parent.span_id == first.context.span_id  # type: ignore[union-attr]
    assert send.kind is trace.SpanKind.PRODUCER
    assert send.attributes is not None and send.attributes["messaging.destination.name"] == "tally"
    second = _span(exporter, "process orders", TRACES[1])
    assert [link.context for link in send.links] == [second.context]
    assert k2[3] is None and heartbeat[3] is None


def test_tracing_off_links_nothing_and_punctuation_outputs_stay_untraced() -> None:
    previous = use_tracer(None)
    try:
        assert current_link() is None
        _untraced_tally()
    finally:
        use_tracer(previous)


def _untraced_tally() -> None:
    tally = Tally()
    ctx = RecordContext({})
    tally.process(
        Record("orders", 0, 1, b"k1", b"v", (("traceparent", _traceparent(TRACES[0])),)), ctx
    )
    cycle = CycleContext({})
    tally.punctuate(0, cycle)
    assert cycle.causes == {}
    assert [e[3] for e in cycle.emits] == [None, None]


class TracedRuntime:
    """What the runtime does for a processor when tracing is on, over ``ProcessorDriver``: each
    record through ``RecordTracer``, punctuation's outputs through ``trace_caused``."""

    def __init__(self, processor: AnalyticsProcessor, tracer: trace.Tracer) -> None:
        self.inner = processor
        self.input_topics = processor.input_topics
        self.stores = processor.stores
        self.tracer = RecordTracer(processor.process, tracer, "analytics")

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        self.tracer(record, ctx)

    def punctuate(self, now_ms: int, ctx: CycleContext) -> None:
        self.inner.punctuate(now_ms, ctx)
        self.tracer.trace_caused(ctx.emits, ctx.causes)
        ctx.causes.clear()


def _order(serde: EventSerde, i: int, amount: int, quantity: int) -> bytes:
    order = EnrichedOrder(
        order_id=f"O-{i}",
        customer_id="C-1",
        product_id="P-1",
        quantity=quantity,
        amount_cents=amount,
        currency="EUR",
        timestamp=i,
        product_name="thing",
        category="books",
        status="RESERVED",
        reject_reason=None,
        stock_after=3,
        enriched_at=i + 7,
    )
    return serde.encode("enriched-orders", order)


def test_analytics_stats_and_alerts_carry_the_trace_of_their_orders(
    traced: tuple[InMemorySpanExporter, trace.Tracer],
) -> None:
    exporter, tracer = traced
    serde = EventSerde("http://unused", client=MemoryRegistry())  # type: ignore[arg-type]
    options = AnalyticsOptions(
        window=WindowSpec(size_ms=1_000, grace_ms=0),
        model=ModelConfig(window_size=50),
        idle_close_ms=None,
    )
    driver = ProcessorDriver(TracedRuntime(AnalyticsProcessor(serde, options), tracer))  # type: ignore[arg-type]
    sampled = {0: TRACES[0], 120: TRACES[1], 301: TRACES[2]}  # 301: the planted outlier
    for i in [*range(300), 301]:
        amount, quantity = (90_000_000, 500) if i == 301 else (1_000 + (i % 7) * 100, 1 + i % 3)
        trace_id = sampled.get(i, f"{i + 0xF000:032x}")
        headers = (("traceparent", _traceparent(trace_id, sampled=i in sampled)),)
        driver.pipe(
            "enriched-orders", key=b"k", value=_order(serde, i, amount, quantity), headers=headers
        )
    driver.pipe(
        "enriched-orders", key=b"k", value=_order(serde, 1_500, 1_000, 1)
    )  # closes [0, 1000)
    outputs = driver.punctuate(2_000)

    [stats] = [o for o in outputs if o.topic == ORDER_STATS]
    send = _span(exporter, "send order-stats", TRACES[0])
    assert _context(list(stats.headers)) == (TRACES[0], f"{send.context.span_id:016x}")  # type: ignore[union-attr]
    counted = [_span(exporter, "process enriched-orders", t).context for t in TRACES[1:]]
    assert [link.context for link in send.links] == counted
    [alert] = driver.outputs(ORDER_ALERTS)
    assert _trace_of(alert) == TRACES[2]  # the outlier's own trace, from its process span


def _trace_of(output: Output) -> str:
    return _context(list(output.headers))[0]
