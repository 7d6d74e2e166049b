"""`topics apply` against the real broker: idempotent, and refusing what Kafka must not do."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from orderstream.errors import TopologyError
from orderstream.platform.topology import apply_plan, plan_topology
from orderstream.testing.cluster import LocalCluster


def _topology(tmp_path: Path, prefix: str, partitions: int, retention: str) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(
        f"""
[defaults]
partitions = {partitions}
[topics."{prefix}-a"]
config = {{ "retention.ms" = "{retention}" }}
[topics."{prefix}-b"]
partitions = 1
config = {{ "cleanup.policy" = "compact" }}
"""
    )
    return path


def test_apply_twice_then_grow_alter_and_refuse(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    prefix = f"topo-{uuid.uuid4().hex[:6]}"
    settings = kafka_cluster.settings()
    admin, plan = plan_topology(settings, _topology(tmp_path, prefix, 2, "1000000"))
    assert {t.name for t in plan.create} == {f"{prefix}-a", f"{prefix}-b"}
    apply_plan(admin, plan)

    _, again = plan_topology(settings, _topology(tmp_path, prefix, 2, "1000000"))
    assert again.empty and not again.refusals

    _, grow = plan_topology(settings, _topology(tmp_path, prefix, 4, "2000000"))
    assert grow.add_partitions == [(f"{prefix}-a", 2, 4)]
    assert dict(grow.alter_configs)[f"{prefix}-a"] == {"retention.ms": ("1000000", "2000000")}
    apply_plan(admin, grow)
    meta = admin.list_topics(f"{prefix}-a", timeout=10)
    assert len(meta.topics[f"{prefix}-a"].partitions) == 4

    _, shrink = plan_topology(settings, _topology(tmp_path, prefix, 3, "2000000"))
    assert shrink.refusals and "cannot decrease partitions from 4 to 3" in shrink.refusals[0]
    with pytest.raises(TopologyError, match="cannot decrease"):
        apply_plan(admin, shrink)
    assert len(admin.list_topics(f"{prefix}-a", timeout=10).topics[f"{prefix}-a"].partitions) == 4
