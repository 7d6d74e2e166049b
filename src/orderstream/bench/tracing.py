"""``orderstream bench tracing``: what traces cost the runtime, off / default sampler / 100 %.

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

import random
import secrets
import tempfile
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from orderstream.bench.runtime import PARTITIONS, Progress, RuntimeBench
from orderstream.monitoring.ports import MonitoringPorts
from orderstream.monitoring.stack import MonitoringStack
from orderstream.platform.ports import free_port
from orderstream.testing.aggregate import encode_value
from orderstream.testing.cluster import LocalCluster
from orderstream.tracing import DEFAULT_RATIO, use_tracer

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
        home = Path(tempfile.mkdtemp(prefix="orderstream-bench-jaeger-"))
        ports = MonitoringPorts(
            free_port(), free_port(), free_port(), jaeger=free_port(), jaeger_grpc=free_port(),
            jaeger_otlp=free_port(),
        )  # fmt: skip
        jaeger = MonitoringStack(self.settings.model_copy(update={"home": home}), ports)
        jaeger.start_tracing(lambda _line: None)
        try:
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
        finally:
            jaeger.stop(lambda _line: None)
        return best


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
