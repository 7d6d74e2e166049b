from __future__ import annotations

import json
from pathlib import Path

import pytest

from orderstream.errors import ConfigError
from orderstream.platform.plan import plan_partitions, rates_from_bench
from orderstream.platform.topology import TopicSpec, default_topology_path, load_topology

RATES = {"eos_stateless_rps": 10_000.0, "eos_stateful_rps": 5_000.0}


def spec(name: str, partitions: int) -> TopicSpec:
    return TopicSpec(name, partitions, 1, {})


def topology(n: int = 2) -> list[TopicSpec]:
    names = (
        "orders",
        "orders-by-product",
        "inventory-adjustments",
        "enrichment-stock-changelog",
        "enriched-orders",
        "analytics-state-changelog",
        "orders.dlq",
    )
    return [spec(name, 1 if name.endswith(".dlq") else n) for name in names]


def by_topic(peak: float, topics: list[TopicSpec], **kw: object) -> dict[str, tuple[int, str]]:
    plan = plan_partitions(peak, topics, rates=RATES, **kw)  # type: ignore[arg-type]
    return {t.topic: (t.partitions, t.action) for t in plan.topics}


def test_twice_the_consumers_each_stage_needs() -> None:
    plan = plan_partitions(25_000, topology(), rates=RATES)
    got = {t.topic: t for t in plan.topics}
    assert got["orders"].consumers == 3  # ceil(25k / 10k), stateless stage
    assert got["orders"].partitions == 6
    assert got["orders-by-product"].consumers == 5  # ceil(25k / 5k), stateful stage
    assert got["orders-by-product"].partitions == 10
    assert "orders.dlq" not in got  # not throughput-driven: topology.toml keeps it
    assert [line for line in plan.diff_lines() if line.startswith("~ orders:")] == [
        "~ orders: partitions 2 -> 6"
    ]


def test_co_partitioned_topics_get_one_count() -> None:
    got = by_topic(25_000, topology())
    group = ("orders-by-product", "inventory-adjustments", "enrichment-stock-changelog")
    assert {got[t][0] for t in group} == {10}
    assert got["enriched-orders"][0] == got["analytics-state-changelog"][0] == 10


def test_never_lower_than_topology_and_no_over_partitioning() -> None:
    got = by_topic(1_000, topology(n=6))
    assert got["orders"] == (6, "keep")  # 2 would do, but partitions cannot be lowered
    assert got["orders-by-product"] == (6, "ok")
    plan = plan_partitions(1_000, topology(n=1), rates=RATES)
    assert {t.partitions for t in plan.topics} == {2}  # 1 consumer x 2, nothing more
    capped = by_topic(10_000_000, topology(), max_partitions=24)
    assert capped["orders"][0] == 24


def test_min_consumers_and_json() -> None:
    plan = plan_partitions(100, topology(), rates=RATES, min_consumers=3)
    assert {t.partitions for t in plan.topics} == {6}
    data = json.loads(json.dumps(plan.as_json()))
    assert data["peak_orders_per_s"] == 100
    assert {c["topic"] for c in data["changes"]} == {t.topic for t in plan.topics}
    assert all(c["from"] == 2 and c["to"] == 6 for c in data["changes"])


def test_the_packaged_topology_plans() -> None:
    plan = plan_partitions(500_000, load_topology(default_topology_path(), brokers=1))
    assert all(t.partitions >= (t.current or 0) for t in plan.topics)
    assert any(t.action == "add" for t in plan.topics)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be positive"):
        plan_partitions(0, topology())
    bench = tmp_path / "bench.json"
    bench.write_text("not json")
    with pytest.raises(ConfigError, match="not JSON"):
        rates_from_bench(bench)
    bench.write_text('{"records": 1}')
    with pytest.raises(ConfigError, match="has none of"):
        rates_from_bench(bench)
    bench.write_text('{"eos_stateful_rps": 1234.5}')
    assert rates_from_bench(bench)["eos_stateful_rps"] == 1234.5
