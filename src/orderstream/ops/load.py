"""``orderstream load``: offer orders at a fixed rate, over HTTP or straight to Kafka.

Payloads are built before the clock starts, so the generator spends its time sending. Each
order's ack latency (HTTP 202, or Kafka's delivery report with ``--direct``) is recorded, and
the wall-clock time of its ack, so that benchmarks can measure end-to-end latency.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from confluent_kafka import KafkaError, Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import OrderstreamError
from orderstream.ops.http_client import HttpProtocolError, RawHttpConnection
from orderstream.ops.seed import product_id, unit_price_cents
from orderstream.serde import EventSerde, OrderCreated
from orderstream.serde.events import to_record
from orderstream.services.orders.idempotency import order_id_for_key
from orderstream.services.topics import ORDERS, PRODUCT_HEADER
from orderstream.stats import percentile
from orderstream.tls import client_context

Progress = Callable[[int], None]


@dataclass(frozen=True)
class LoadSpec:
    count: int
    rate: float  # orders per second; 0 means as fast as possible
    customers: int = 1_000
    products: int = 100
    direct: bool = False
    url: str = "http://127.0.0.1:8080"
    concurrency: int = 64
    batch: int = 1  # orders per HTTP request; > 1 uses POST /orders/batch
    seed: int = 7
    idempotency_keys: bool = False  # send Idempotency-Key (the built orderId) instead of orderId
    ca_file: Path | None = None  # an https:// url is verified against it (and the system CAs)

    def check(self) -> None:
        for name, value, low in (
            ("count", self.count, 1),
            ("customers", self.customers, 1),
            ("products", self.products, 1),
            ("concurrency", self.concurrency, 1),
            ("batch", self.batch, 1),
        ):
            if value < low:
                raise OrderstreamError(f"--{name} must be at least {low}, got {value}")
        if self.rate < 0:
            raise OrderstreamError(f"--rate must be >= 0 (0 = unlimited), got {self.rate}")
        if self.batch > 1_000:
            raise OrderstreamError(f"--batch must be at most 1000, got {self.batch}")


@dataclass
class LoadReport:
    sent: int = 0
    accepted: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acked_at: dict[str, float] = field(default_factory=dict)  # orderId -> time.time() of ack
    started_at: float = 0.0  # time.time() of the first send; a paced load sends i at + i / rate
    refusals: Counter[str] = field(default_factory=Counter)

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)


def build_orders(spec: LoadSpec, run_id: str | None = None) -> list[OrderCreated]:
    """``spec.count`` orders over the seeded catalog, reproducible for a given seed."""
    rng = random.Random(spec.seed)
    run_id = run_id or f"{int(time.time() * 1000):x}"
    now = int(time.time() * 1000)
    orders = []
    for i in range(spec.count):
        index = rng.randrange(spec.products)
        quantity = rng.randint(1, 5)
        orders.append(
            OrderCreated(
                order_id=f"o-{run_id}-{i}",
                customer_id=f"c-{rng.randrange(spec.customers)}",
                product_id=product_id(index),
                quantity=quantity,
                amount_cents=quantity * unit_price_cents(index),
                currency="EUR",
                timestamp=now,
            )
        )
    return orders


def order_json(order: OrderCreated) -> dict[str, object]:
    """The POST /orders body of ``order``: its Avro record without the timestamp, which the
    API sets."""
    return {k: v for k, v in to_record(order).items() if k != "timestamp"}


# -- over HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpBody:
    """One pre-built request: the orderIds the API will answer with, its JSON, its key."""

    order_ids: list[str]
    payload: bytes
    key: str | None = None


def http_bodies(orders: list[OrderCreated], batch: int) -> list[HttpBody]:
    """Pre-built request bodies, each order under its own orderId."""
    if batch <= 1:
        return [HttpBody([o.order_id], json.dumps(order_json(o)).encode()) for o in orders]
    return [
        HttpBody([o.order_id for o in c], json.dumps([order_json(o) for o in c]).encode())
        for c in _chunks(orders, batch)
    ]


def keyed_http_bodies(orders: list[OrderCreated], batch: int) -> list[HttpBody]:
    """Pre-built bodies without orderIds, sent with an Idempotency-Key instead.

    The key is the built orderId (of a batch's first order), so the same orders sent again
    carry the same keys; the orderIds are the ones the API derives from them.
    """
    if batch <= 1:
        return [HttpBody([order_id_for_key(o.order_id)], _keyless(o), o.order_id) for o in orders]
    bodies = []
    for chunk in _chunks(orders, batch):
        key = chunk[0].order_id
        ids = [order_id_for_key(key, i) for i in range(len(chunk))]
        payload = json.dumps([_keyless_json(o) for o in chunk]).encode()
        bodies.append(HttpBody(ids, payload, key))
    return bodies


def _chunks(orders: list[OrderCreated], size: int) -> list[list[OrderCreated]]:
    return [orders[i : i + size] for i in range(0, len(orders), size)]


def _keyless_json(order: OrderCreated) -> dict[str, object]:
    body = order_json(order)
    del body["orderId"]
    return body


def _keyless(order: OrderCreated) -> bytes:
    return json.dumps(_keyless_json(order)).encode()


async def load_over_http(
    spec: LoadSpec, orders: list[OrderCreated], progress: Progress
) -> LoadReport:
    parsed = urlparse(spec.url)
    https = parsed.scheme == "https"
    host, port = parsed.hostname or "127.0.0.1", parsed.port or (443 if https else 80)
    tls = client_context(spec.ca_file) if https else None
    path = "/orders/batch" if spec.batch > 1 else "/orders"
    bodies = (keyed_http_bodies if spec.idempotency_keys else http_bodies)(orders, spec.batch)
    report = LoadReport()
    next_index = 0
    began = time.perf_counter()
    report.started_at = time.time()

    async def worker() -> None:
        nonlocal next_index
        conn = RawHttpConnection(host, port, tls)
        try:
            while next_index < len(bodies):
                i = next_index
                next_index += 1
                if spec.rate > 0:
                    delay = began + i * spec.batch / spec.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await _send(conn, path, bodies[i], report)
                progress(len(bodies[i].order_ids))
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(min(spec.concurrency, len(bodies)))))
    report.seconds = time.perf_counter() - began
    return report


async def _send(conn: RawHttpConnection, path: str, body: HttpBody, report: LoadReport) -> None:
    ids = body.order_ids
    report.sent += len(ids)
    headers = {"Idempotency-Key": body.key} if body.key is not None else None
    started = time.perf_counter()
    try:
        response = await conn.request("POST", path, body.payload, headers)
    except (OSError, HttpProtocolError, asyncio.IncompleteReadError) as exc:
        report.refusals[f"connection: {type(exc).__name__}"] += len(ids)
        return
    latency = time.perf_counter() - started
    acked = time.time()
    if len(ids) == 1 and response.status == 202:
        _accept(report, ids[0], latency, acked)
        return
    if len(ids) == 1 or response.status not in (200, 503):
        report.refusals[f"HTTP {response.status}"] += len(ids)
        return
    for result in json.loads(response.body)["results"]:
        if result["status"] == 202:
            _accept(report, result["orderId"], latency, acked)
        else:
            report.refusals[f"HTTP {result['status']}"] += 1


def _accept(report: LoadReport, order_id: str, latency: float, acked: float) -> None:
    report.accepted += 1
    report.latencies.append(latency)
    report.acked_at[order_id] = acked


# -- straight to Kafka -----------------------------------------------------------------------


def load_direct(
    spec: LoadSpec, settings: Settings, orders: list[OrderCreated], progress: Progress
) -> LoadReport:
    """Produce pre-encoded OrderCreated records with an idempotent producer (acks=all)."""
    serde = EventSerde.from_settings(settings)
    topic = settings.named(ORDERS)
    try:
        records = [(o.order_id, serde.encode(topic, o), o.product_id.encode()) for o in orders]
    finally:
        serde.close()
    producer = Producer(kafka_config(Role.PRODUCER, "load", settings=settings))
    report = LoadReport()

    def delivered(order_id: str, started: float, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            report.refusals[f"kafka: {err.name()}"] += 1
        else:
            _accept(report, order_id, time.perf_counter() - started, time.time())
        progress(1)

    began = time.perf_counter()
    report.started_at = time.time()
    for i, (order_id, value, product) in enumerate(records):
        if spec.rate > 0:
            delay = began + i / spec.rate - time.perf_counter()
            if delay > 0.001:
                producer.poll(delay)
        _produce(producer, topic, order_id, value, [(PRODUCT_HEADER, product)], delivered)
        report.sent += 1
    producer.flush(60)
    report.seconds = time.perf_counter() - began
    return report


def _produce(
    producer: Producer,
    topic: str,
    order_id: str,
    value: bytes,
    headers: list[tuple[str, str | bytes | None]],
    delivered: Callable[..., None],
) -> None:
    started = time.perf_counter()
    while True:
        try:
            producer.produce(
                topic,
                value,
                order_id.encode(),
                headers=headers,
                on_delivery=lambda err, msg: delivered(order_id, started, err, msg),
            )
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.05)  # the local queue is full: let deliveries drain it
