"""``orderstream bench tracing``: what traces cost the runtime, off / default sampler / 100 %;
with ``--pipeline``, what they cost a real enrichment process (``PipelineTracingBench``).

One broker, one run, the rounds interleaved and the best of each counting (as ``bench
runtime``): the exactly-once stateless pass-through over inputs that carry a ``traceparent``
like the orders service writes them, with

- tracing off (no tracer: the hot path is the untraced one);
- the default sampler (parent-based, ratio ``DEFAULT_RATIO``): that fraction of the inputs
  has a sampled parent;
- a ratio of 0.01, for comparison;
- 100 %: every input has a sampled parent, so every record gets a process and a send span.

Spans are exported over OTLP/HTTP to a real Jaeger on free ports, as in production.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from orderstream.bench.probes import Arrivals
from orderstream.bench.runtime import PARTITIONS, Progress, RuntimeBench
from orderstream.bench.stage1 import BenchOutcomeError
from orderstream.bench.sustained import PRODUCTS
from orderstream.config import Role, Settings, kafka_config
from orderstream.monitoring.jaeger import otlp_endpoint
from orderstream.monitoring.ports import MonitoringPorts
from orderstream.monitoring.stack import MonitoringStack
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.load import LoadSpec, build_orders
from orderstream.ops.seed import seed_catalog
from orderstream.platform.ports import free_port
from orderstream.serde import EventSerde, OrderCreated
from orderstream.services.topics import ORDERS, PRODUCT_HEADER
from orderstream.testing.aggregate import encode_value
from orderstream.testing.cluster import LocalCluster
from orderstream.tracing import DEFAULT_RATIO, use_tracer

Say = Callable[[str], None]
# scenario -> the fraction of inputs with a sampled parent (as the orders service at that ratio)
SCENARIOS = {"off": DEFAULT_RATIO, "default": DEFAULT_RATIO, "0.01": 0.01, "all": 1.0}


def _traceparent(sampled: bool) -> bytes:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{'01' if sampled else '00'}".encode()


def produce_traced_inputs(bootstrap: str, topic: str, count: int, sampled_ratio: float) -> None:
    rng = random.Random(3)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(count):
        headers: list[tuple[str, str | bytes | None]] = [
            ("traceparent", _traceparent(rng.random() < sampled_ratio))
        ]
        while True:
            try:
                producer.produce(topic, encode_value(i % 1000), f"k{i % 10_000}".encode(),
                                 headers=headers)  # fmt: skip
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) != 0:
        raise RuntimeError(f"inputs to {topic} not delivered")


class TracingBench(RuntimeBench):
    def __init__(self, cluster: LocalCluster, records: int, progress: Progress, rounds: int):
        super().__init__(cluster, records, 1_000, progress, rounds)
        self.inputs = {"off": self.input, "default": self.input}
        for name in ("0.01", "all"):
            self.inputs[name] = cluster.create_topic(partitions=PARTITIONS)
            cluster.create_topic(self.inputs[name] + ".dlq", 1)

    def measure(self) -> dict[str, float]:
        """records/s of each scenario (best round)."""
        for name in ("default", "0.01", "all"):
            produce_traced_inputs(
                self.cluster.bootstrap, self.inputs[name], self.records, SCENARIOS[name]
            )
        with private_jaeger(self.settings, lambda _line: None) as ports:
            tracers = {
                name: _tracer(name, ports.jaeger_otlp, ratio) for name, ratio in SCENARIOS.items()
            }
            best: dict[str, float] = {}
            for _ in range(self.rounds):
                for name in SCENARIOS:
                    self.input = self.inputs[name]
                    scenario = tracers[name]
                    previous = use_tracer(None if scenario is None else scenario[0])
                    try:
                        rate = self.runtime("exactly_once", False, 100)
                    finally:
                        use_tracer(previous)
                    best[name] = max(best.get(name, 0.0), rate)
            for scenario in tracers.values():
                if scenario is not None:
                    scenario[1].shutdown()
        return best


@contextmanager
def private_jaeger(settings: Settings, say: Say) -> Iterator[MonitoringPorts]:
    """A Jaeger of the bench's own on free ports (its files in a temporary home), always stopped."""
    home = Path(tempfile.mkdtemp(prefix="orderstream-bench-jaeger-"))
    ports = MonitoringPorts(
        free_port(), free_port(), free_port(), jaeger=free_port(), jaeger_grpc=free_port(),
        jaeger_otlp=free_port(),
    )  # fmt: skip
    jaeger = MonitoringStack(settings.model_copy(update={"home": home}), ports)
    jaeger.start_tracing(say)
    try:
        yield ports
    finally:
        jaeger.stop(lambda _line: None)
        shutil.rmtree(home, ignore_errors=True)  # its traces are not kept


def _tracer(name: str, otlp_port: int, ratio: float) -> tuple[Any, Any] | None:
    """(tracer, provider) of a scenario, or None for "off"."""
    if name == "off":
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"bench-{name}"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    endpoint = f"http://127.0.0.1:{otlp_port}/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider.get_tracer("orderstream-bench"), provider


# -- the pipeline side: a real enrichment process --------------------------------------------

PIPELINE_SCENARIOS = {"off": DEFAULT_RATIO, "default": DEFAULT_RATIO, "all": 1.0}


def produce_traced_orders(
    settings: Settings, orders: list[OrderCreated], sampled_ratio: float
) -> None:
    """``orders`` written as the orders service writes them with tracing on: a traceparent,
    sampled for ``sampled_ratio`` of them, and the orderId as baggage."""
    rng = random.Random(len(orders))
    serde = EventSerde.from_settings(settings)
    producer = Producer(kafka_config(Role.PRODUCER, "bench-tracing", settings=settings))
    try:
        for order in orders:
            headers: list[tuple[str, str | bytes | None]] = [
                (PRODUCT_HEADER, order.product_id.encode()),
                ("traceparent", _traceparent(rng.random() < sampled_ratio)),
                ("baggage", f"orderId={order.order_id}".encode()),
            ]
            value = serde.encode(ORDERS, order)
            while True:
                try:
                    producer.produce(ORDERS, value, order.order_id.encode(), headers=headers)
                    break
                except BufferError:
                    producer.poll(0.05)
    finally:
        serde.close()
    if producer.flush(60) != 0:
        raise RuntimeError("the benchmark's orders were not all delivered")


class PipelineTracingBench:
    """Enrichment (``orderstream run enrichment``, exactly-once, 100 ms commits, one instance)
    drains ``orders`` pre-loaded orders per scenario: tracing off, the default sampler, 100 %.
    Rounds interleave the scenarios; the best of each counts. Spans go to a real Jaeger."""

    def __init__(
        self, settings: Settings, run_dir: Path, orders: int, rounds: int, progress: Say
    ) -> None:
        self.settings = settings
        self.harness = PipelineHarness(settings, run_dir)
        self.orders = orders
        self.rounds = rounds
        self.say = progress

    def measure(self) -> dict[str, float]:
        """orders/s of each scenario (best round)."""
        seed_catalog(self.settings, PRODUCTS, 10_000_000)
        best: dict[str, float] = {}
        with private_jaeger(self.settings, self.say) as ports:
            for round_ in range(self.rounds):
                for name, ratio in PIPELINE_SCENARIOS.items():
                    rate = self.drain(f"{name}-{round_}", ratio, _tracing_env(name, ports))
                    best[name] = max(best.get(name, 0.0), rate)
        return best

    def drain(self, run_id: str, sampled_ratio: float, env: dict[str, str | None]) -> float:
        """Pre-load the orders, then time one enrichment instance draining them."""
        self.say(f"{run_id}: pre-loading {self.orders:,} orders")
        spec = LoadSpec(count=self.orders, rate=0, products=PRODUCTS, direct=True)
        produce_traced_orders(self.settings, build_orders(spec, run_id), sampled_ratio)
        arrivals = Arrivals(self.settings)
        try:
            self.say(f"{run_id}: enrichment draining them")
            with _environment(env):
                instance = self.harness.start_enrichment("bench")
            # From ready (assigned, restored): a read_committed consumer sees each transaction
            # at once, so from its first arrival a short drain would be a few bursts.
            ready = time.time()
            arrivals.wait_for(self.orders, timeout_s=600)
        finally:
            arrivals.close()
            self.harness.stop_all()
            self.harness.handles.clear()
        if len(arrivals.seen) < self.orders:
            raise BenchOutcomeError(
                f"{run_id}: {len(arrivals.seen):,} of {self.orders:,} orders came out of "
                f"enrichment; its log: {instance.process.log_file}"
            )
        span = max(arrivals.seen.values()) - ready
        return len(arrivals.seen) / span if span > 0 else 0.0


def _tracing_env(name: str, ports: MonitoringPorts) -> dict[str, str | None]:
    """The OTEL_* variables of a scenario (None: unset)."""
    if name == "off":
        return dict.fromkeys(TRACING_VARIABLES)
    ratio = "1.0" if name == "all" else str(DEFAULT_RATIO)
    return {
        **dict.fromkeys(TRACING_VARIABLES),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint(ports),
        "OTEL_SERVICE_NAME": f"bench-enrichment-{name}",
        "OTEL_TRACES_SAMPLER_ARG": ratio,
    }


TRACING_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SERVICE_NAME",
)


@contextmanager
def _environment(overrides: dict[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``overrides`` (None unsets) while a child is started: the harness
    gives its children this process's environment."""
    saved = {name: os.environ.get(name) for name in overrides}
    try:
        _apply(overrides)
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
