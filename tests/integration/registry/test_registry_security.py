"""The registry in secure mode, on the real broker: HTTPS signed by the local CA, Basic auth
(401, 403), failed logins throttled (429 + Retry-After), writes forwarded to the primary over
verified HTTPS, confluent-kafka's own client, and a wrong credential that never dead-letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orderstream.config import Settings
from orderstream.errors import (
    ConfigError,
    RegistryAccessDenied,
    RegistryError,
    TransientError,
)
from orderstream.platform.certs import server_cert
from orderstream.registry.auth import RoleName, user_line
from orderstream.runtime import ProcessingLoop, ProcessorContext, Record, RuntimeConfig
from orderstream.serde import EventSerde, OrderCreated
from orderstream.serde.client import RegistryClient
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import dlq_rows, make_eos_topics, read_all, wait_for
from orderstream.testing.registry import RegistryProcess, RegistryTls, start_registry

from .conftest import record_schema

pytestmark = pytest.mark.integration

USERS = {"writer": ("read-write", "w-secret"), "reader": ("read-only", "r-secret")}
USERS["guessed"] = ("read-write", "g-secret")  # the throttling test's victim, kept apart
WRITER = ("writer", "w-secret")
READER = ("reader", "r-secret")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> RegistryTls:
    """A server certificate for 127.0.0.1/localhost from a fresh local CA."""
    files = server_cert(tmp_path_factory.mktemp("home"), "registry")
    return RegistryTls(files.cert, files.key, files.ca)


@pytest.fixture(scope="module")
def verify(tls: RegistryTls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca))


@pytest.fixture(scope="module")
def auth_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "users"
    lines = [user_line(name, RoleName(role), pw) for name, (role, pw) in USERS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def topic(kafka_cluster: LocalCluster) -> str:
    return kafka_cluster.create_topic(
        f"_schemas-sec-{uuid.uuid4().hex[:8]}", config={"cleanup.policy": "compact"}
    )


@pytest.fixture(scope="module")
def start(
    kafka_cluster: LocalCluster, auth_file: Path, tls: RegistryTls, topic: str
) -> Iterator[Callable[[], RegistryProcess]]:
    """Start HTTPS registries with auth on the module's topic; all stopped at the end."""
    started: list[RegistryProcess] = []

    def start_one() -> RegistryProcess:
        registry = start_registry(
            kafka_cluster.bootstrap, auth_file=auth_file, topic=topic, tls=tls
        )
        started.append(registry)
        registry.wait_ready()
        return registry

    yield start_one
    for registry in started:
        registry.stop(hard=True)


@pytest.fixture(scope="module")
def primary(start: Callable[[], RegistryProcess], verify: ssl.SSLContext) -> RegistryProcess:
    registry = start()
    status = "/_orderstream/status"
    wait_for(
        lambda: httpx.get(registry.url + status, verify=verify).json()["primary"],
        60,
        "the first registry to win the election",
    )
    return registry


def _schema(name: str) -> dict[str, str]:
    return {"schema": record_schema(name, [{"name": "a", "type": "string"}])}


def test_https_with_the_ca_and_refusal_without_it(
    primary: RegistryProcess, verify: ssl.SSLContext
) -> None:
    assert primary.url.startswith("https://127.0.0.1:")
    answer = httpx.get(f"{primary.url}/subjects", auth=WRITER, verify=verify)
    assert answer.status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{primary.url}/subjects", auth=WRITER)  # the system CAs only
    plain = primary.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):  # the port speaks TLS only
        httpx.get(f"{plain}/subjects", auth=WRITER, timeout=5)


def test_401_without_credentials_and_403_for_a_read_only_writer(
    primary: RegistryProcess, verify: ssl.SSLContext
) -> None:
    url = primary.url
    anonymous = httpx.get(f"{url}/subjects", verify=verify)
    assert anonymous.status_code == 401
    assert "basic" in anonymous.headers["www-authenticate"].lower()
    assert httpx.get(f"{url}/subjects", auth=("writer", "no"), verify=verify).status_code == 401
    subject = f"sec-{uuid.uuid4().hex[:8]}"
    denied = httpx.post(
        f"{url}/subjects/{subject}/versions", json=_schema("D"), auth=READER, verify=verify
    )
    assert (denied.status_code, denied.json()["error_code"]) == (403, 40301)
    assert subject not in httpx.get(f"{url}/subjects", auth=READER, verify=verify).json()
    written = httpx.post(
        f"{url}/subjects/{subject}/versions", json=_schema("D"), auth=WRITER, verify=verify
    )
    assert written.status_code == 200
    listed = httpx.get(f"{url}/subjects", auth=READER, verify=verify)
    assert subject in listed.json()


def test_new_wrong_passwords_get_429_with_retry_after_and_good_logins_still_pass(
    primary: RegistryProcess, verify: ssl.SSLContext
) -> None:
    url = f"{primary.url}/subjects"
    assert httpx.get(url, auth=("guessed", "g-secret"), verify=verify).status_code == 200

    async def guess_all() -> list[httpx.Response]:
        # all at once: each scrypt run must take its token before it starts, so a burst of
        # concurrent guesses cannot slip through (the (user, address) burst is 5)
        async with httpx.AsyncClient(verify=verify, timeout=60) as client:
            guesses = [client.get(url, auth=("guessed", f"guess-{i}")) for i in range(20)]
            return list(await asyncio.gather(*guesses))

    began = time.monotonic()
    answers = asyncio.run(guess_all())
    refill = math.ceil(time.monotonic() - began)  # one token a second refills meanwhile
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {401, 429}, statuses
    assert statuses.count(401) <= 5 + refill, (statuses, refill)  # the burst + the refill
    for throttled in (a for a in answers if a.status_code == 429):
        assert throttled.json()["error_code"] == 42901
        assert int(throttled.headers["retry-after"]) >= 1
    # the verified password is remembered: no scrypt, not throttled
    assert httpx.get(url, auth=("guessed", "g-secret"), verify=verify).status_code == 200
    refused = next(a for a in answers if a.status_code == 401)
    again = httpx.get(url, headers={"authorization": refused.request.headers["authorization"]},
                      verify=verify)  # fmt: skip
    assert again.status_code == 401  # a password refused before is remembered: not 429


def test_a_write_to_a_non_primary_is_forwarded_over_verified_https(
    primary: RegistryProcess, start: Callable[[], RegistryProcess], verify: ssl.SSLContext
) -> None:
    secondary = start()
    status = httpx.get(f"{secondary.url}/_orderstream/status", verify=verify).json()
    assert status["primary"] is False
    subject = f"fwd-{uuid.uuid4().hex[:8]}"
    forwarded = httpx.post(
        f"{secondary.url}/subjects/{subject}/versions",
        json=_schema("F"),
        auth=WRITER,
        verify=verify,
        timeout=30,
    )
    assert forwarded.status_code == 200, forwarded.text
    schema_id = forwarded.json()["id"]
    on_primary = httpx.get(f"{primary.url}/schemas/ids/{schema_id}", auth=READER, verify=verify)
    assert on_primary.status_code == 200
    # the secondary answers its own read of the write at once (it caught up after forwarding)
    latest = httpx.get(
        f"{secondary.url}/subjects/{subject}/versions/latest", auth=READER, verify=verify
    )
    assert latest.json()["id"] == schema_id
    refused = httpx.post(
        f"{secondary.url}/subjects/{subject}-ro/versions",
        json=_schema("F"),
        auth=READER,
        verify=verify,
    )
    assert refused.status_code == 403  # checked where it arrived, never forwarded


def test_confluent_kafkas_client_registers_and_fetches_over_https_with_auth(
    primary: RegistryProcess, tls: RegistryTls
) -> None:
    conf = {"url": primary.url, "ssl.ca.location": str(tls.ca)}
    client = SchemaRegistryClient({**conf, "basic.auth.user.info": "writer:w-secret"})
    subject = f"ck-{uuid.uuid4().hex[:8]}-value"
    text = record_schema("ConfluentClient", [{"name": "a", "type": "long"}])
    schema_id = client.register_schema(subject, Schema(text, "AVRO"))
    fetched = SchemaRegistryClient({**conf, "basic.auth.user.info": "reader:r-secret"})
    assert json.loads(fetched.get_schema(schema_id).schema_str) == json.loads(text)
    assert fetched.get_latest_version(subject).schema_id == schema_id
    anonymous = SchemaRegistryClient(conf)
    with pytest.raises(SchemaRegistryError) as refused:
        anonymous.get_subjects()
    assert refused.value.http_status_code == 401


def test_our_client_turns_401_and_403_into_access_denied(
    primary: RegistryProcess, tls: RegistryTls
) -> None:
    for auth, status in [(("writer", "stale"), 401), (READER, 403), (None, 401)]:
        client = RegistryClient(primary.url, auth=auth, ca_file=tls.ca)
        try:
            with pytest.raises(RegistryAccessDenied) as denied:
                client.register(f"ad-{uuid.uuid4().hex[:8]}", _schema("A")["schema"])
        finally:
            client.close()
        error = denied.value
        assert error.status == status
        assert isinstance(error, ConfigError) and isinstance(error, TransientError)
        assert not isinstance(error, RegistryError)
        assert "ORDERSTREAM_REGISTRY" in str(error) or "read-write" in str(error)
        assert "stale" not in str(error)  # never the password


class _DecodingProcessor:
    """Decodes each order through ``serde`` (the registry call under test) and forwards it."""

    def __init__(self, serde: EventSerde, input_topic: str, output_topic: str) -> None:
        self.serde = serde
        self.input_topics = (input_topic,)
        self.stores = ()
        self.output_topic = output_topic

    def process(self, record: Record, ctx: ProcessorContext) -> None:
        order = self.serde.decode(record.value)
        assert isinstance(order, OrderCreated)
        ctx.emit(self.output_topic, record.key, order.order_id.encode())


def test_a_wrong_registry_credential_never_dead_letters_a_good_record(
    kafka_cluster: LocalCluster, primary: RegistryProcess, tls: RegistryTls
) -> None:
    topics = make_eos_topics(kafka_cluster, partitions=1)
    good = EventSerde(primary.url, client=RegistryClient(primary.url, auth=WRITER, ca_file=tls.ca))
    stale = RegistryClient(primary.url, auth=("writer", "stale"), ca_file=tls.ca)
    orders = [
        OrderCreated(f"o-{i}", "c", "p", 1, 100, "EUR", int(time.time() * 1000)) for i in range(20)
    ]
    producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap})
    for order in orders:
        producer.produce(
            topics.input, key=order.order_id.encode(), value=good.encode(topics.input, order)
        )
    assert producer.flush(30) == 0
    processor = _DecodingProcessor(
        EventSerde(primary.url, client=stale), topics.input, topics.output
    )
    loop = ProcessingLoop(
        processor, RuntimeConfig(app_id=topics.group, instance_id="a"), kafka_cluster.settings()
    )
    runner = _run_in_thread(loop)
    try:
        wait_for(
            lambda: loop.metrics.sample("orderstream_txn_aborts_total") >= 2,
            90,
            "the loop to retry the refused decode",
        )
        assert dlq_rows(kafka_cluster.bootstrap, topics.input) == []
        assert read_all(kafka_cluster.bootstrap, topics.output) == []
        processor.serde = good  # the credential is fixed: every record goes through once
        wait_for(
            lambda: len(read_all(kafka_cluster.bootstrap, topics.output)) == len(orders),
            90,
            "every order in the output",
        )
    finally:
        loop.stop()
        runner.join(60)
        stale.close()
        good.close()
    assert not runner.is_alive()
    assert dlq_rows(kafka_cluster.bootstrap, topics.input) == []
    values = sorted(row[3] for row in read_all(kafka_cluster.bootstrap, topics.output))
    assert values == sorted(o.order_id.encode() for o in orders)


def _run_in_thread(loop: ProcessingLoop) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(Exception):  # kept in loop.error
            loop.run()

    thread = threading.Thread(target=run, name="loop-regsec", daemon=True)
    thread.start()
    return thread


def test_the_orders_api_start_up_stops_on_a_refused_registry_login(
    kafka_cluster: LocalCluster, primary: RegistryProcess, tls: RegistryTls
) -> None:
    from pydantic import SecretStr

    from orderstream.config import SecuritySettings
    from orderstream.services.orders.server import check_registry_access

    def settings(user: str, password: str, url: str = primary.url) -> Settings:
        return kafka_cluster.settings(
            registry_url=url,
            registry_user=user,
            registry_password=SecretStr(password),
            security=SecuritySettings(ca_file=tls.ca),
        )

    with pytest.raises(RegistryAccessDenied, match="refused user 'writer'"):
        check_registry_access(settings("writer", "stale"))
    with pytest.raises(RegistryAccessDenied, match="read-write role"):
        check_registry_access(settings(*READER))
    check_registry_access(settings(*WRITER))  # registers OrderCreated: no error
    answer = httpx.get(
        f"{primary.url}/subjects/orders-value/versions/latest",
        auth=READER,
        verify=ssl.create_default_context(cafile=str(tls.ca)),
    )
    assert answer.status_code == 200
    # a registry that is merely down does not stop the start-up (orders get 503 until it is up)
    check_registry_access(settings(*WRITER, url="https://127.0.0.1:9"))


def test_the_registry_logs_in_to_a_secured_cluster_as_its_own_principal(
    secured: tuple[str, Path], auth_file: Path
) -> None:
    from orderstream.platform import secure

    bootstrap, home = secured
    files = server_cert(home, "registry")
    https = RegistryTls(files.cert, files.key, files.ca)
    env = secure.security_env(home, "registry")  # the password by file path only
    registry = start_registry(bootstrap, auth_file=auth_file, tls=https, env=env)
    try:
        registry.wait_ready()
        assert str(home) in " ".join(registry.proc.args)  # type: ignore[arg-type]
        verify = ssl.create_default_context(cafile=str(files.ca))
        subject = f"sasl-{uuid.uuid4().hex[:8]}"
        written = httpx.post(
            f"{registry.url}/subjects/{subject}/versions",
            json=_schema("Sasl"),
            auth=WRITER,
            verify=verify,
            timeout=30,
        )
        assert written.status_code == 200, written.text  # produced to _schemas as `registry`
        password = secure.read_password(secure.password_file(home, "registry"))
        assert password not in " ".join(str(a) for a in registry.proc.args)  # type: ignore[union-attr]
    finally:
        registry.stop()
    # the same registry with a wrong password file: it stops with one clear line, not time-outs
    wrong = home / "wrong-registry-password"
    wrong.write_text("not-the-password")
    env["ORDERSTREAM_SECURITY__PASSWORD_FILE"] = str(wrong)
    refused = start_registry(bootstrap, auth_file=auth_file, tls=https, env=env)
    try:
        code = refused.proc.wait(timeout=90)
        log = refused.log_tail(20_000)
        assert code == 1, log
        assert "refused the registry's login as 'registry'" in log, log
        assert "Traceback" not in log and "not-the-password" not in log
    finally:
        refused.stop()
