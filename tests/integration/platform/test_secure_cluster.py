"""The secured cluster (``kafka up --secure``), against one real SASL_SSL broker of this module.

Every denial also proves that nothing was written: the topic's end offsets (read by the admin)
are the same before and after. A positive control (the orders principal producing to
``orders``) shows the denials are the ACLs, not a broken connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from orderstream.config import Role, Settings, kafka_config, load_settings
from orderstream.ops.stack import SERVICES, Stack
from orderstream.platform import ports, secure
from orderstream.platform.acls import apply_acls, load_principals, plan_acls
from orderstream.platform.certs import LocalCA, wrong_san_cert
from orderstream.platform.cluster import cluster_down, cluster_up, purge
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import ClusterSpec, make_spec
from orderstream.platform.topology import apply_plan, default_topology_path, plan_topology
from orderstream.testing.cluster import free_port_pairs, wait_for_topic_leaders
from orderstream.testing.tls import tls_front
from orderstream.tls import client_context

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "orderstream.cli"]


@dataclass
class SecureCluster:
    home: Path
    spec: ClusterSpec

    @property
    def bootstrap(self) -> str:
        return self.spec.bootstrap

    def settings(self, principal: str, **extra: object) -> Settings:
        security = secure.principal_security(self.home, principal)
        return Settings(bootstrap_servers=self.bootstrap, security=security, **extra)  # type: ignore[arg-type]

    def conf(self, principal: str) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap, **secure.client_config(self.home, principal)}

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Log end offsets of every partition, read by the admin (read_uncommitted)."""
        consumer = Consumer({**self.conf(secure.ADMIN), "group.id": "offsets-probe"})
        deadline = time.monotonic() + 60
        try:
            parts = consumer.list_topics(topic, timeout=15).topics[topic].partitions
            while True:
                try:
                    return {
                        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
                        for p in parts
                    }
                except KafkaException as exc:
                    # A topic created moments ago: its leaders may not serve offsets yet.
                    settling = exc.args[0].code() in (
                        KafkaError.NOT_LEADER_FOR_PARTITION,
                        KafkaError.LEADER_NOT_AVAILABLE,
                    )
                    if not (settling or exc.args[0].retriable()) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
                    parts = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        finally:
            consumer.close()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    home = tmp_path_factory.mktemp("secure")
    dist, _ = install_kafka(load_settings().cache_dir)
    ((broker, controller),) = free_port_pairs(1)
    spec = make_spec(home / "kafka", 1, ports=(broker,), controller_ports=(controller,))
    spec = replace(spec, secure_home=str(home))
    try:
        spec = cluster_up(dist, spec, timeout=180).spec
        secure.provision(spec)
        cluster = SecureCluster(home, spec)
        admin, plan = plan_topology(cluster.settings(secure.ADMIN))
        apply_plan(admin, plan)
        for topic in ("orders", "enriched-orders", "inventory-adjustments"):
            wait_for_topic_leaders(admin, topic, timeout=60)
        yield cluster
    finally:
        cluster_down(spec, timeout=20)
        purge(spec.home)


def _produce(
    conf: dict[str, object],
    topic: str,
    timeout_ms: int = 30_000,
    until: Callable[[list[KafkaError]], bool] = lambda _seen: True,
) -> tuple[KafkaError | None, list[KafkaError]]:
    """One record; returns its delivery error and what error_cb saw, once ``until(seen)``
    holds (a doomed record gets a short ``timeout_ms``; the error it waits for may come later
    on a loaded machine)."""
    seen: list[KafkaError] = []
    results: list[KafkaError | None] = []
    producer = Producer({**conf, "message.timeout.ms": timeout_ms, "error_cb": seen.append})
    producer.produce(topic, b"denied?", key=b"k", on_delivery=lambda e, _m: results.append(e))
    producer.flush(timeout_ms / 1000 + 30)
    deadline = time.monotonic() + 60
    while not until(seen) and time.monotonic() < deadline:
        producer.poll(0.2)
    assert results, "no delivery report"
    return results[0], seen


def _saw(*codes: int) -> Callable[[list[KafkaError]], bool]:
    return lambda seen: bool(_codes(seen) & set(codes))


def _unchanged(cluster: SecureCluster, topic: str, attempt: Callable[[], None]) -> None:
    before = cluster.end_offsets(topic)
    attempt()
    assert cluster.end_offsets(topic) == before, f"something was written to {topic}"


def _codes(errors: list[KafkaError]) -> set[int]:
    return {e.code() for e in errors}


def test_the_right_principal_can_produce(secured: SecureCluster) -> None:
    before = sum(secured.end_offsets("orders").values())
    conf = kafka_config(Role.PRODUCER, "t", settings=secured.settings("orders"))
    error, _ = _produce(dict(conf), "orders")
    assert error is None
    assert sum(secured.end_offsets("orders").values()) == before + 1


def test_plaintext_client_on_the_sasl_ssl_port_is_refused(secured: SecureCluster) -> None:
    def attempt() -> None:
        conf = {"bootstrap.servers": secured.bootstrap, "security.protocol": "PLAINTEXT"}
        down = (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
        error, seen = _produce(conf, "orders", 3000, _saw(*down))
        assert error is not None and error.code() == KafkaError._MSG_TIMED_OUT
        assert _codes(seen) & set(down), seen

    _unchanged(secured, "orders", attempt)


def test_wrong_scram_password_is_an_authentication_error(secured: SecureCluster) -> None:
    def attempt() -> None:
        conf = {**secured.conf("orders"), "sasl.password": "not-the-password"}
        error, seen = _produce(dict(conf), "orders", 3000, _saw(KafkaError._AUTHENTICATION))
        assert error is not None and error.code() == KafkaError._MSG_TIMED_OUT
        assert KafkaError._AUTHENTICATION in _codes(seen), seen  # the only clear signal

    _unchanged(secured, "orders", attempt)


@pytest.mark.parametrize(
    ("service", "says", "output"),
    [
        # the runtime's own clients see the refusal (its LoginWatch)
        ("payments", "refused the login of principal 'payments'", "payments-completed"),
        # enrichment's catalog reads products first: its TopicTable sees it
        (
            "enrichment",
            "Kafka refused principal User:enrichment reading products",
            "orders-by-product",
        ),
    ],
)
def test_a_service_with_a_wrong_password_stops_with_a_clear_error(
    secured: SecureCluster, tmp_path: Path, service: str, says: str, output: str
) -> None:
    """A service whose SCRAM password is wrong exits non-zero with one line naming its principal
    and what to check, instead of retrying forever; nothing is written."""
    wrong = tmp_path / f"{service}.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")},
        "ORDERSTREAM_HOME": str(tmp_path),
        "ORDERSTREAM_BOOTSTRAP_SERVERS": secured.bootstrap,
        "ORDERSTREAM_REGISTRY_URL": "http://127.0.0.1:9",  # never reached: Kafka refuses first
        "ORDERSTREAM_SECURITY__PROTOCOL": "SASL_SSL",
        "ORDERSTREAM_SECURITY__USERNAME": service,
        "ORDERSTREAM_SECURITY__PASSWORD_FILE": str(wrong),
        "ORDERSTREAM_SECURITY__CA_FILE": str(LocalCA.load_or_create(secured.home).ca_file),
    }

    def attempt() -> None:
        done = subprocess.run(
            [*CLI, "run", service],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 1, done.stderr[-3000:]
        assert says in done.stderr, done.stderr[-3000:]
        assert "security.password_file" in done.stderr
        assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr

    _unchanged(secured, output, attempt)


def test_enrichment_may_not_produce_to_orders(secured: SecureCluster) -> None:
    def attempt() -> None:
        conf = kafka_config(Role.PRODUCER, "t", settings=secured.settings("enrichment"))
        error, _ = _produce(dict(conf), "orders")
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    _unchanged(secured, "orders", attempt)


def _first_consumer_error(conf: dict[str, object], topic: str) -> KafkaError:
    consumer = Consumer(conf)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is not None:
                return msg.error()
            assert msg is None, f"read a record of {topic}"
        raise AssertionError(f"no error reading {topic} within 60 s")
    finally:
        consumer.close()


def test_orders_may_not_read_enriched_orders(secured: SecureCluster) -> None:
    """The writer principal reads nothing downstream; the API's view reads as orders-view."""
    conf = kafka_config(
        Role.CONSUMER, "t", settings=secured.settings("orders"), group_id="orders-ledger-t"
    )
    error = _first_consumer_error(dict(conf), "enriched-orders")
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    view = kafka_config(
        Role.CONSUMER, "t", settings=secured.settings("orders-view"), group_id="orders-view-t"
    )
    with contextlib.closing(Consumer(dict(view))) as consumer:
        meta = consumer.list_topics("enriched-orders", timeout=15).topics["enriched-orders"]
        assert meta.error is None, meta.error


def test_a_principal_without_grants_reads_nothing(secured: SecureCluster) -> None:
    conf = {**secured.conf("nobody"), "group.id": "nobody", "auto.offset.reset": "earliest"}
    error = _first_consumer_error(conf, "orders")
    assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics("orders", timeout=15).topics["orders"]
        assert meta.error is not None
        assert meta.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        consumer.close()


def test_analytics_may_not_use_enrichments_transactional_id(secured: SecureCluster) -> None:
    def attempt() -> None:
        conf = kafka_config(
            Role.TRANSACTIONAL_PRODUCER,
            "t",
            settings=secured.settings("analytics"),
            transactional_id="enrichment-0",
        )
        producer = Producer(conf)
        with pytest.raises(KafkaException) as denied:
            producer.init_transactions(30)
        code = denied.value.args[0].code()
        assert code == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

    _unchanged(secured, "enriched-orders", attempt)


def test_tls_client_refuses_a_certificate_for_another_address(secured: SecureCluster) -> None:
    wrong = wrong_san_cert(secured.home)
    host, port = secured.bootstrap.split(":")
    with tls_front(wrong.cert, wrong.key, wrong.ca, (host, int(port))) as front:
        base = {**secured.conf("orders"), "bootstrap.servers": f"127.0.0.1:{front}"}

        def attempt() -> None:
            refused = lambda seen: any("certificate verify failed" in e.str() for e in seen)  # noqa: E731
            error, seen = _produce(dict(base), "orders", 3000, refused)
            assert error is not None and error.code() == KafkaError._MSG_TIMED_OUT
            assert any("certificate verify failed" in e.str() for e in seen), seen

        _unchanged(secured, "orders", attempt)
        # The same front with hostname checks off gets through: the SAN was the only problem.
        # (Metadata then points the client at the real broker, whose certificate matches.)
        relaxed = {**base, "ssl.endpoint.identification.algorithm": "none"}
        before = sum(secured.end_offsets("orders").values())
        error, _ = _produce(dict(relaxed), "orders")
        assert error is None
        assert sum(secured.end_offsets("orders").values()) == before + 1


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str


def _cli(home: Path, *args: str) -> CliResult:
    """The real CLI, in this process (a fresh interpreter costs seconds on a loaded machine)."""
    from typer.testing import CliRunner

    from orderstream.cli.main import app

    result = CliRunner().invoke(app, list(args), env={"ORDERSTREAM_HOME": str(home)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout)


def test_acls_apply_is_idempotent_and_revokes_removed_grants(
    secured: SecureCluster, tmp_path: Path
) -> None:
    first = _cli(secured.home, "acls", "apply")
    assert first.returncode == 0, first.stdout
    assert "no changes" in first.stdout
    # drop one grant: seed may no longer write inventory-adjustments
    text = default_topology_path().read_text()
    seed_line = 'writes = ["products", "inventory-adjustments"]'
    assert seed_line in text
    edited = tmp_path / "topology.toml"
    edited.write_text(text.replace(seed_line, 'writes = ["products"]'))
    revoke = _cli(secured.home, "acls", "apply", "--file", str(edited))
    assert revoke.returncode == 0, revoke.stdout
    assert "- revoke User:seed WRITE topic:inventory-adjustments" in revoke.stdout
    assert "1 revoked" in revoke.stdout

    def attempt() -> None:
        conf = kafka_config(Role.PRODUCER, "t", settings=secured.settings("seed"))
        error, _ = _produce(dict(conf), "inventory-adjustments")
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    _unchanged(secured, "inventory-adjustments", attempt)
    admin_conf = kafka_config(Role.ADMIN, "t", settings=secured.settings(secure.ADMIN))
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(admin_conf)
    restore = plan_acls(admin, load_principals(default_topology_path()))
    assert [g.line() for g in restore.create] == ["User:seed WRITE topic:inventory-adjustments"]
    apply_acls(admin, restore)
    again = _cli(secured.home, "acls", "plan")
    assert "no changes" in again.stdout, again.stdout


def test_security_show_names_every_principal_and_no_password(secured: SecureCluster) -> None:
    shown = _cli(secured.home, "security", "show", "--json")
    assert shown.returncode == 0, shown.stdout
    info = json.loads(shown.stdout)
    assert info["bootstrap_servers"] == secured.bootstrap
    assert info["security_protocol"] == "SASL_SSL" and info["sasl_mechanism"] == "SCRAM-SHA-512"
    assert Path(info["ca_file"]).is_file() and info["registry_url"].startswith("https://")
    for name in ("admin", "orders", "enrichment", "analytics", "registry"):
        entry = info["principals"][name]
        assert entry["username"] == name and Path(entry["password_file"]).is_file()
        assert Path(entry["password_file"]).stat().st_mode & 0o077 == 0
    for path in (secured.home / "secrets").glob("*.password"):
        assert path.read_text().strip() not in shown.stdout


# -- the pipeline on the secured cluster, then a search for every password ------------------

PIPELINE_ORDERS = 10_000  # the figure, through the HTTPS API in batches of 100


def _stack(secured: SecureCluster) -> Stack:
    taken: set[int] = set()
    specs = []
    for spec in SERVICES:
        port = ports.free_port(taken)
        taken.add(port)
        specs.append(replace(spec, port=port))
    registry = next(s for s in specs if s.name == "registry")
    settings = Settings(
        home=secured.home,
        bootstrap_servers=secured.bootstrap,
        registry_url=f"http://127.0.0.1:{registry.port}",  # the secure part makes it https
    )
    return Stack(settings, tuple(specs), optional=("secure",))


def _passwords(home: Path) -> dict[str, str]:
    return {p.stem: p.read_text().strip() for p in (home / "secrets").glob("*.password")}


def _cmdlines() -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                yield int(entry.name), (entry / "cmdline").read_bytes().decode(errors="replace")


def _assert_https_only(stack: Stack) -> None:
    """The registry, API and dashboard refuse plain HTTP; the registry wants credentials."""
    ca = LocalCA.load_or_create(stack.settings.home).ca_file
    ports_of = {s.name: s.port for s in stack.services}
    for name in ("registry", "orders", "analytics"):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{ports_of[name]}/", timeout=5)
    answer = httpx.get(
        f"https://127.0.0.1:{ports_of['registry']}/subjects", verify=client_context(ca), timeout=5
    )
    assert answer.status_code == 401, answer.text


def test_pipeline_runs_exactly_once_and_no_password_leaks(
    secured: SecureCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _stack(secured)
    registry_url = secure.https_url(stack.settings.registry_url)
    monkeypatch.setenv("ORDERSTREAM_REGISTRY_URL", registry_url)
    outputs: list[str] = []
    try:
        stack.up(outputs.append, timeout_s=180)
        # load finds the https API by itself on the default port; here the port is a free one
        orders_url = (
            f"https://127.0.0.1:{next(s.port for s in stack.services if s.name == 'orders')}"
        )
        steps = [
            ("seed", "--products", "20", "--stock", "1000"),
            ("load", "--count", str(PIPELINE_ORDERS), "--rate", "0", "--products", "20",
             "--batch", "100", "--concurrency", "4", "--url", orders_url),
            ("audit", "--json", "--timeout", "180"),
            ("security", "show", "--json"),
            ("ps", "--json"),
        ]  # fmt: skip
        for args in steps:
            result = _cli(secured.home, *args)
            outputs.append(result.stdout)
            assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}"
        audit = json.loads(outputs[-3])
        assert audit["ok"] is True and len(audit["checks"]) >= 5, audit
        assert json.loads(outputs[-2])["registry_url"] == registry_url
        _assert_https_only(stack)
        enriched = sum(secured.end_offsets("enriched-orders").values())
        assert enriched >= PIPELINE_ORDERS  # plus transaction markers
        # the services run as their own principals, by password file
        for spec in stack.services:
            pid = stack.process(spec).pid()
            assert pid is not None
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
            assert f"ORDERSTREAM_SECURITY__USERNAME={spec.name}" in environ
            assert f"ORDERSTREAM_REGISTRY_URL={registry_url}" in environ
            if spec.name != "registry":  # it relays its clients' credentials
                assert f"ORDERSTREAM_REGISTRY_USER={spec.name}" in environ
        passwords = _passwords(secured.home)
        assert {"admin", "orders", "enrichment", "analytics", "registry"} <= set(passwords)
        logs = [
            *(secured.home / "services").rglob("*.log"),
            *secured.home.glob("kafka/*/kafka.log"),
        ]
        assert logs
        hits = [
            f"{name} in {where}"
            for name, password in passwords.items()
            for where, text in [
                *((f"cmdline of {pid}", cmd) for pid, cmd in _cmdlines()),
                *((str(log), log.read_text(errors="replace")) for log in logs),
                *((f"output {i}", out) for i, out in enumerate(outputs)),
            ]
            if password in text
        ]
        assert hits == [], hits
    finally:
        stack.down(lambda _line: None)


def test_a_topic_table_names_the_refused_topic_and_the_principal(secured: SecureCluster) -> None:
    """With assign() a refused topic used to be an endless, silent wait (issue 11): the
    TopicTable raises, in the caller's thread and in its own (the orders view's)."""
    import asyncio

    from orderstream.kafka.errors import TopicAccessDenied
    from orderstream.kafka.table import TopicTable
    from orderstream.services.orders.view import EnrichedOrderView

    topic = "enrichment-stock-changelog"
    settings = secured.settings("orders")
    who = f"User:{settings.security.username}"
    conf = kafka_config(Role.CONSUMER, "t", settings=settings, group_id="orders-view-t")
    table = TopicTable(conf, kafka_config(Role.ADMIN, "t", settings=settings), topic)
    try:
        with pytest.raises(TopicAccessDenied, match=f"{who} reading {topic}.*grant it READ"):
            table.catch_up(timeout_s=60)
    finally:
        table.close()
    view = EnrichedOrderView(settings, topic, lambda _b: {}, lifecycle_topics=())
    loop = asyncio.new_event_loop()
    view.start(loop)
    try:
        deadline = time.monotonic() + 60
        while view.failure is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert isinstance(view.failure, TopicAccessDenied), view.failure
        assert who in str(view.failure)
        assert not view.assigned.is_set()
    finally:
        view.close()
        loop.close()
