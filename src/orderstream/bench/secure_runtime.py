"""``bench runtime`` on the secured cluster as a service principal (the issue's Measure).

``bench secure``'s client scenarios run as the admin, a super user that skips the authorizer.
These run the exactly-once runtime itself (``ProcessingLoop``, stateless and stateful) as
principal ``bench``, which holds only prefixed grants on ``sbench-*`` like a service does, so
every produce, fetch, offset commit and transactional call goes through ACL evaluation.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from orderstream.config import Role, Settings, kafka_config
from orderstream.platform import secure
from orderstream.platform.acls import Grant
from orderstream.runtime import ProcessingLoop, Processor, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor, PassThroughProcessor
from orderstream.testing.cluster import wait_for_topic_leaders
from orderstream.testing.eos import write_integers

BENCH_PRINCIPAL = "bench"
PREFIX = "sbench-"  # topics, groups and transactional ids of the bench (bench/secure.py too)
PARTITIONS = 6


def bench_principal(admin: Settings, home: Path) -> Settings:
    """Settings of principal ``bench``: its SCRAM user and prefixed grants, created by the
    admin (idempotent)."""
    secure.create_users(admin.bootstrap_servers, home, [BENCH_PRINCIPAL])
    grants = [
        Grant(BENCH_PRINCIPAL, "TOPIC", PREFIX, True, "READ"),
        Grant(BENCH_PRINCIPAL, "TOPIC", PREFIX, True, "WRITE"),
        Grant(BENCH_PRINCIPAL, "GROUP", PREFIX, True, "READ"),
        Grant(BENCH_PRINCIPAL, "TRANSACTIONAL_ID", PREFIX, True, "WRITE"),
    ]
    client = AdminClient(kafka_config(Role.ADMIN, "sbench", settings=admin))
    for future in client.create_acls([g.binding() for g in grants]).values():
        future.result(30)
    security = secure.principal_security(home, BENCH_PRINCIPAL)
    return admin.model_copy(update={"security": security})


def produce_integers(settings: Settings, topic: str, records: int) -> None:
    """The runtime bench's input (integers over 10k keys), written by ``settings``."""
    producer = Producer(kafka_config(Role.PRODUCER, "sbench-in", settings=settings))
    write_integers(producer, topic, records, keys=10_000, flush_s=120.0)


def create_topic(
    settings: Settings, name: str | None = None, config: dict[str, str] | None = None
) -> str:
    """A new ``sbench-*`` topic of ``PARTITIONS``, its leaders elected."""
    name = name or f"{PREFIX}{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka_config(Role.ADMIN, "sbench", settings=settings))
    admin.create_topics([NewTopic(name, PARTITIONS, 1, config=config or {})])[name].result(60)
    wait_for_topic_leaders(admin, name, 60)  # the first produce must not pay for elections
    return name


def runtime_rate(runner: Settings, admin: Settings, stateful: bool, records: int) -> float:
    """Records/s of the exactly-once runtime over ``records`` inputs, run as ``runner``; the
    topics and the input are the admin's."""
    source = create_topic(admin)
    create_topic(admin, source + ".dlq")
    produce_integers(admin, source, records)
    out = create_topic(admin)
    processor: Processor
    if stateful:
        changelog = create_topic(admin, None, {"cleanup.policy": "compact"})
        processor = AggregateProcessor(source, out, changelog)
    else:
        processor = PassThroughProcessor(source, out)
    config = RuntimeConfig(
        app_id=f"{PREFIX}{uuid.uuid4().hex[:6]}",
        instance_id="bench",
        mode="exactly_once",
        commit_interval_ms=100,
        max_records_per_txn=1_000_000,
    )
    loop = ProcessingLoop(processor, config, runner)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        return records / _time(loop, records)
    finally:
        loop.stop()
        thread.join(60)


def _time(loop: ProcessingLoop, records: int) -> float:
    started = 0.0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if loop.error is not None:
            raise loop.error
        done = loop.session.processed if loop.session is not None else 0
        if done and not started:
            started = time.perf_counter()
        if done >= records:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise TimeoutError(f"the runtime did not process {records} records within 600 s")
