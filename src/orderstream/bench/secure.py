"""What SASL_SSL costs: the same client work on a plaintext and a secured 1-node cluster, in one
run (``orderstream security bench``). Each round runs every scenario on both clusters,
alternating, and the best round of each counts, so a load spike on a shared machine costs a
round, not the ratio.

Scenarios: an idempotent producer (the orders API's path), a read_committed consumer, and an
exactly-once copy loop (consume, produce, ``send_offsets_to_transaction``, commit), the shape
of the enrichment and analytics loops. The secured client is the admin principal: a super user
skips ACL evaluation, so the figure is the cost of TLS and SCRAM, not of the authorizer.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka import Consumer, Producer

from orderstream.bench.secure_runtime import bench_principal, create_topic, runtime_rate
from orderstream.config import Role, Settings, kafka_config
from orderstream.platform import secure
from orderstream.platform.cluster import cluster_down, cluster_up, purge
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import make_spec
from orderstream.testing.cluster import free_port_pairs

# The runtime itself (bench runtime's EOS scenarios), secured as a service principal.
RUNTIME_SCENARIOS = (
    ("runtime stateless EOS (as bench)", False),
    ("runtime stateful EOS (as bench)", True),
)
VALUE = b"x" * 100
TXN_EVERY = 5_000


@dataclass(frozen=True)
class Figure:
    scenario: str
    plaintext: float  # records/s
    secured: float

    @property
    def ratio(self) -> float:
        return self.secured / self.plaintext if self.plaintext else 0.0


@contextlib.contextmanager
def bench_clusters(cache: Path) -> Iterator[tuple[Settings, Settings]]:
    """A plaintext and a secured 1-node cluster on free ports; both stopped afterwards."""
    dist, _ = install_kafka(cache)
    root = Path(tempfile.mkdtemp(prefix="orderstream-secure-bench-"))
    pairs = free_port_pairs(2)
    plain = make_spec(root / "plain" / "kafka", 1, (pairs[0][0],), (pairs[0][1],))
    secured = make_spec(root / "secure" / "kafka", 1, (pairs[1][0],), (pairs[1][1],))
    secured = replace(secured, secure_home=str(root / "secure"))
    started = []
    try:
        for spec in (plain, secured):
            started.append(cluster_up(dist, spec, timeout=180).spec)
        admin_security = secure.principal_security(root / "secure", secure.ADMIN)
        yield (
            Settings(bootstrap_servers=plain.bootstrap),
            Settings(bootstrap_servers=secured.bootstrap, security=admin_security),
        )
    finally:
        for spec in started:
            cluster_down(spec, timeout=20)
            purge(spec.home)
        shutil.rmtree(root, ignore_errors=True)  # its secrets/ too


def _topic(settings: Settings) -> str:
    return create_topic(settings)


def _produce(settings: Settings, topic: str, records: int) -> float:
    producer = Producer(kafka_config(Role.PRODUCER, "sbench", settings=settings))
    began = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, VALUE, str(i % 10_000).encode())
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120) != 0:
        raise RuntimeError(f"bench records to {topic} not delivered")
    return records / (time.perf_counter() - began)


def _consumer(settings: Settings, topic: str) -> Consumer:
    group = f"sbench-{uuid.uuid4().hex[:6]}"
    consumer = Consumer(kafka_config(Role.CONSUMER, "sbench", settings=settings, group_id=group))
    consumer.subscribe([topic])
    return consumer


def _consume(settings: Settings, topic: str, records: int) -> float:
    consumer = _consumer(settings, topic)
    seen, began = 0, None
    try:
        while seen < records:
            batch = [m for m in consumer.consume(1000, 1.0) if m.error() is None]
            if batch and began is None:
                began = time.perf_counter()  # from the first record: not the group join
            seen += len(batch)
    finally:
        consumer.close()
    return records / (time.perf_counter() - (began or time.perf_counter()))


def _eos_copy(settings: Settings, topic: str, records: int) -> float:
    out = _topic(settings)
    producer = Producer(
        kafka_config(
            Role.TRANSACTIONAL_PRODUCER,
            "sbench",
            settings=settings,
            transactional_id=f"sbench-{uuid.uuid4().hex[:6]}",
        )
    )
    producer.init_transactions(60)
    consumer = _consumer(settings, topic)
    seen, in_txn, began = 0, 0, None
    try:
        producer.begin_transaction()
        while seen < records:
            batch = [m for m in consumer.consume(1000, 1.0) if m.error() is None]
            if batch and began is None:
                began = time.perf_counter()
            for msg in batch:
                producer.produce(out, msg.value(), msg.key())
            seen, in_txn = seen + len(batch), in_txn + len(batch)
            if in_txn >= TXN_EVERY or (seen >= records and in_txn):
                meta = consumer.consumer_group_metadata()
                producer.send_offsets_to_transaction(consumer.position(consumer.assignment()), meta)
                producer.commit_transaction(60)
                producer.begin_transaction()
                in_txn = 0
        producer.abort_transaction(60)  # the empty one begun last
    finally:
        consumer.close()
    return records / (time.perf_counter() - (began or time.perf_counter()))


def run(
    plain: Settings,
    secured: Settings,
    records: int,
    rounds: int,
    progress: Callable[[str], None] = lambda _s: None,
    runtime_records: int = 0,
) -> list[Figure]:
    """Every scenario on both clusters, ``rounds`` times; with ``runtime_records`` also the
    runtime, on the secured cluster as service principal ``bench``."""
    runners = {"plaintext": plain, "secured": secured}
    if runtime_records:
        runners["secured"] = bench_principal(secured, _home_of(secured))
    best: dict[tuple[str, str], float] = {}
    for rnd in range(rounds):
        for label, settings in (("plaintext", plain), ("secured", secured)):
            topic = _topic(settings)
            progress(f"round {rnd + 1}/{rounds}: {label}")
            figures = {
                "produce (idempotent)": _produce(settings, topic, records),
                "consume (read_committed)": _consume(settings, topic, records),
                "exactly-once copy": _eos_copy(settings, topic, records),
            }
            if runtime_records:
                runner = runners[label]
                for scenario, stateful in RUNTIME_SCENARIOS:
                    progress(f"round {rnd + 1}/{rounds}: {label}, {scenario}")
                    figures[scenario] = runtime_rate(runner, settings, stateful, runtime_records)
            for scenario, rate in figures.items():
                key = (scenario, label)
                best[key] = max(best.get(key, 0.0), rate)
    scenarios = dict.fromkeys(s for s, _ in best)
    return [Figure(s, best[(s, "plaintext")], best[(s, "secured")]) for s in scenarios]


def _home_of(secured: Settings) -> Path:
    """The secured cluster's ``$ORDERSTREAM_HOME``: its admin's password lies in ``secrets/``."""
    password_file = secured.security.password_file
    if password_file is None:
        raise ValueError("the secured bench cluster's admin has no password file")
    return password_file.parent.parent
