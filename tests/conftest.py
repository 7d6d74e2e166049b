"""Session fixtures: a real Kafka broker, started once, torn down even when tests fail.

Set ORDERSTREAM_TEST_BOOTSTRAP to run against an existing cluster instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.config import load_settings
from orderstream.testing.cluster import LocalCluster, local_cluster


def _cache_dir() -> Path:
    return load_settings().cache_dir


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 1-node KRaft cluster on free ports (or the external ORDERSTREAM_TEST_BOOTSTRAP)."""
    external = os.environ.get("ORDERSTREAM_TEST_BOOTSTRAP")
    if external:
        yield LocalCluster(bootstrap=external)
        return
    with local_cluster(tmp_path_factory.mktemp("kafka1"), _cache_dir(), nodes=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kafka_cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-node KRaft cluster (RF 3, min ISR 2) on free ports, for fault tests."""
    with local_cluster(tmp_path_factory.mktemp("kafka3"), _cache_dir(), nodes=3) as cluster:
        yield cluster


@pytest.fixture
def healthy_cluster3(kafka_cluster3: LocalCluster) -> Iterator[LocalCluster]:
    """The session's 3-node cluster with every node up before and after the test: fault tests
    share it and kill nodes, and a later test must not find one dead or still dying."""
    from orderstream.platform.cluster import restart_dead_nodes, wait_ready

    spec, dist = kafka_cluster3.spec, kafka_cluster3.dist
    assert spec is not None and dist is not None
    restart_dead_nodes(dist, spec)
    wait_ready(spec, 120)
    yield kafka_cluster3
    restart_dead_nodes(dist, spec)
    wait_ready(spec, 120)


@pytest.fixture
def bootstrap(kafka_cluster: LocalCluster) -> str:
    return kafka_cluster.bootstrap


@pytest.fixture(scope="session")
def schema_registry_url(kafka_cluster: LocalCluster) -> Iterator[str]:
    """A real registry subprocess on a free port, backed by ``_schemas`` of ``kafka_cluster``."""
    from orderstream.testing.registry import running_registry

    if "_schemas" not in kafka_cluster.admin.list_topics(timeout=10).topics:
        kafka_cluster.create_topic("_schemas", partitions=1, config={"cleanup.policy": "compact"})
    with running_registry(kafka_cluster.bootstrap) as url:
        yield url
