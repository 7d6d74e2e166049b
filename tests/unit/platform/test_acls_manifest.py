"""The security manifest (topology.toml [principals]) must not drift from the code.

Each service's topics are derived from its source: every topic-name constant of
``services/topics.py`` (and the analytics topic constants) it references, plus the DLQ of each
topic it reads. A topic a service uses that its principal is not granted fails here, before a
secured cluster denies it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import orderstream
from orderstream.config import Role, Settings, is_secret_key, kafka_config, redacted
from orderstream.platform.acls import Grant, load_principals, make_plan
from orderstream.platform.topology import default_topology_path, load_topology
from orderstream.services import topics as topic_names
from orderstream.services.analytics import events as analytics_events

SRC = Path(orderstream.__file__).parent
PRINCIPALS = load_principals(default_topology_path())
TOPICS = {t.name for t in load_topology(default_topology_path(), 1)}

# Constant name -> topic, from the modules that name topics once.
CONSTANTS = {
    name: value
    for module in (topic_names, analytics_events)
    for name, value in vars(module).items()
    if name.isupper() and isinstance(value, str) and value in TOPICS
}


# A literal such as "orders" is also a JSON field name: only names no field can have count.
LITERALS = {t for t in TOPICS if any(c in t for c in "-._")}


# The orders API's outcome view runs as principal orders-view: its module, and the topics the
# service hands it, are that principal's.
VIEW_MODULE = "services/orders/view.py"
VIEW_CLASS = "EnrichedOrderView"


def _names(tree: ast.AST) -> set[str]:
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in CONSTANTS:
            used.add(CONSTANTS[node.id])
        elif isinstance(node, ast.Constant) and node.value in LITERALS:
            used.add(str(node.value))
    return used


def _view_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == VIEW_CLASS
    ]


def _topics_used(package: Path) -> set[str]:
    """Topic constants and unambiguous topic-name literals referenced in ``package``; its
    benchmarks are left out (they run as the admin, on topics of their own), and so is the
    orders view (``_view_topics``)."""
    used: set[str] = set()
    for path in package.rglob("*.py"):
        if path.name == "bench.py" or path == SRC / VIEW_MODULE:
            continue
        tree = ast.parse(path.read_text())
        for call in _view_calls(tree):
            call.args, call.keywords = [], []  # what the view reads is orders-view's
        used |= _names(tree)
    return used


def _view_topics() -> set[str]:
    used = _names(ast.parse((SRC / VIEW_MODULE).read_text()))
    for path in (SRC / "services" / "orders").rglob("*.py"):
        for call in _view_calls(ast.parse(path.read_text())):
            used |= _names(ast.Module(body=[ast.Expr(call)], type_ignores=[]))
    return used


def test_the_orders_view_reads_only_what_orders_view_is_granted() -> None:
    used = _view_topics()
    assert "enriched-orders" in used, "the view's derivation is broken"
    assert used <= _topics("orders-view", "READ"), used - _topics("orders-view", "READ")
    assert not _topics("orders-view", "WRITE")


def _topics(principal: str, operation: str) -> set[str]:
    return {
        g.name
        for g in PRINCIPALS[principal].grants
        if g.resource_type == "TOPIC" and g.operation == operation
    }


@pytest.mark.parametrize(
    ("principal", "package"),
    [
        ("orders", "services/orders"),
        ("enrichment", "services/enrichment"),
        ("analytics", "services/analytics"),
        ("payments", "services/payments"),
        ("registry", "registry"),
    ],
)
def test_every_topic_a_service_uses_is_granted(principal: str, package: str) -> None:
    used = _topics_used(SRC / package)
    assert used, f"found no topic names in {package}: the derivation is broken"
    granted = _topics(principal, "READ") | _topics(principal, "WRITE")
    assert used <= granted, f"{principal} uses topics it is not granted: {used - granted}"


@pytest.mark.parametrize("principal", ["enrichment", "analytics", "payments"])
def test_exactly_once_apps_may_dead_letter_what_they_read(principal: str) -> None:
    """The runtime sends a record that fails ``process`` to ``<input>.dlq``."""
    inputs = _topics(principal, "READ") & _topics_used(SRC / "services" / principal)
    changelogs = {t for t in inputs if t.endswith("-changelog")}
    wanted = {topic_names.dlq(t) for t in inputs - changelogs if topic_names.dlq(t) in TOPICS}
    assert wanted <= _topics(principal, "WRITE")


def test_every_granted_topic_exists_and_grants_are_least_privilege() -> None:
    for principal in PRINCIPALS.values():
        for grant in principal.grants:
            if grant.resource_type == "TOPIC":
                assert grant.name in TOPICS and not grant.prefixed, grant
    assert not PRINCIPALS["nobody"].grants
    assert "orders" not in _topics("enrichment", "WRITE")
    assert "enriched-orders" not in _topics("orders", "WRITE")
    assert _topics("orders", "READ") == {"orders"}  # the writer reads nothing downstream


def test_plan_creates_missing_and_revokes_undeclared() -> None:
    keep = Grant("orders", "TOPIC", "orders", False, "WRITE")
    extra = Grant("orders", "TOPIC", "products", False, "READ")
    new = Grant("seed", "TOPIC", "products", False, "WRITE")
    plan = make_plan({keep, new}, {keep, extra}, [])
    assert plan.create == [new] and plan.revoke == [extra]
    assert plan.lines() == [
        "+ allow User:seed WRITE topic:products",
        "- revoke User:orders READ topic:products",
    ]
    assert make_plan({keep}, {keep}, []).empty


def test_librdkafka_pass_through_secret_never_in_repr() -> None:
    settings = Settings(
        bootstrap_servers="127.0.0.1:9",
        librdkafka={"sasl.password": "hunter2-pass", "ssl.key.password": "k3y", "linger.ms": 7},
    )
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2-pass" not in text and "k3y" not in text
    conf = kafka_config(Role.PRODUCER, "t", settings=settings)
    assert conf["sasl.password"] == "hunter2-pass" and conf["linger.ms"] == 7
    assert "hunter2-pass" not in repr(redacted(conf))
    assert is_secret_key("sasl.jaas.config") and not is_secret_key("sasl.username")
