from __future__ import annotations

from pathlib import Path

import pytest

from orderstream.errors import ConfigError
from orderstream.platform.topology import (
    TopicState,
    default_topology_path,
    load_topology,
    make_plan,
)

DESIGN_TOPICS = {
    "orders", "orders.dlq", "products", "inventory-adjustments", "orders-by-product",
    "enrichment-stock-changelog", "enriched-orders", "order-stats", "order-alerts", "_schemas",
}  # fmt: skip


def test_packaged_topology_has_every_design_topic() -> None:
    topics = {t.name: t for t in load_topology(default_topology_path(), brokers=3)}
    assert set(topics) >= DESIGN_TOPICS
    assert topics["_schemas"].partitions == 1
    assert topics["_schemas"].config["cleanup.policy"] == "compact"
    assert topics["products"].config["cleanup.policy"] == "compact"
    # co-partitioning of the stock changelog with its source
    assert topics["enrichment-stock-changelog"].partitions == topics["orders-by-product"].partitions
    assert all(t.replication_factor == 3 for t in topics.values())
    assert all(t.config["min.insync.replicas"] == "2" for t in topics.values())
    assert all(n.endswith(".dlq") for n in topics if "dlq" in n)


def test_rf_defaults_to_cluster_size() -> None:
    topics = load_topology(default_topology_path(), brokers=1)
    assert {t.replication_factor for t in topics} == {1}
    assert {t.config["min.insync.replicas"] for t in topics} == {"1"}


def test_plan_creates_grows_alters_and_refuses() -> None:
    desired = load_topology(default_topology_path(), brokers=1)
    orders = next(t for t in desired if t.name == "orders")
    current = {
        "orders": TopicState("orders", orders.partitions - 2, 1, dict(orders.config)),
        "products": TopicState("products", 99, 1, {"cleanup.policy": "delete"}),
        "_schemas": TopicState("_schemas", 1, 3, {}),
    }
    plan = make_plan(desired, current)
    created = {t.name for t in plan.create}
    assert "orders" not in created and "enriched-orders" in created
    assert ("orders", orders.partitions - 2, orders.partitions) in plan.add_partitions
    products_changes = dict(plan.alter_configs)["products"]
    assert products_changes["cleanup.policy"] == ("delete", "compact")
    assert any("products: cannot decrease partitions from 99" in r for r in plan.refusals)
    assert any("_schemas: cannot change replication factor" in r for r in plan.refusals)


def test_plan_against_identical_cluster_is_empty() -> None:
    desired = load_topology(default_topology_path(), brokers=1)
    current = {
        t.name: TopicState(t.name, t.partitions, t.replication_factor, dict(t.config))
        for t in desired
    }
    plan = make_plan(desired, current)
    assert plan.empty and not plan.refusals and plan.lines() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[topics.a]\npartitionz = 3\n", "unknown keys"),
        ("[topics.a]\nreplication_factor = 3\n", "replication_factor=3"),
        ("[topics.a]\npartitions = 0\n", "at least 1 partition"),
        ("[extra]\n[topics.a]\n", "unknown sections"),
        ("[topics\n", "not valid TOML"),
    ],
)
def test_bad_topology_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_topology(path, brokers=1)
