"""Registry test helpers: private registries on their own topics, unique subject names, and a
secured cluster for the tests that need one (``secured``, module scope: one cluster per module)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from orderstream.testing.cluster import LocalCluster
from orderstream.testing.registry import RegistryProcess, start_registry

StartRegistry = Callable[..., RegistryProcess]


@pytest.fixture
def subject() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api(schema_registry_url: str) -> Iterator[httpx.Client]:
    """An HTTP client of the session registry."""
    with httpx.Client(base_url=schema_registry_url, timeout=30) as client:
        yield client


@pytest.fixture
def schemas_topic(kafka_cluster: LocalCluster) -> str:
    """A fresh compacted topic, so a test's registries share nothing with the session's."""
    return kafka_cluster.create_topic(
        f"_schemas-{uuid.uuid4().hex[:8]}", config={"cleanup.policy": "compact"}
    )


@pytest.fixture
def start_private(kafka_cluster: LocalCluster, schemas_topic: str) -> Iterator[StartRegistry]:
    """Start registries on ``schemas_topic``; every one is stopped after the test."""
    started: list[RegistryProcess] = []

    def start(*, auth_file: Path | None = None, wait: bool = True) -> RegistryProcess:
        registry = start_registry(kafka_cluster.bootstrap, auth_file=auth_file, topic=schemas_topic)
        started.append(registry)
        if wait:
            registry.wait_ready()
        return registry

    yield start
    for registry in started:
        registry.stop(hard=True)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A secured 1-node cluster (SASL_SSL, SCRAM, ACLs from the topology): (bootstrap, home)."""
    from dataclasses import replace

    from confluent_kafka.admin import AdminClient, NewTopic

    from orderstream.config import load_settings
    from orderstream.platform import secure
    from orderstream.platform.cluster import cluster_down, cluster_up
    from orderstream.platform.install import install_kafka
    from orderstream.platform.nodes import make_spec
    from orderstream.testing.cluster import free_port_pairs

    home = tmp_path_factory.mktemp("secure-home")
    dist, _ = install_kafka(load_settings().cache_dir)
    pairs = free_port_pairs(1)
    spec = make_spec(
        home / "kafka", 1, ports=(pairs[0][0],), controller_ports=(pairs[0][1],), heap="512m"
    )
    spec = replace(spec, secure_home=str(home))
    try:
        spec = cluster_up(dist, spec, timeout=180).spec
        secure.provision(spec)
        admin = AdminClient({"bootstrap.servers": spec.bootstrap, **secure.client_config(home)})
        created = admin.create_topics(
            [NewTopic("_schemas", 1, 1, config={"cleanup.policy": "compact"})]
        )
        created["_schemas"].result(60)
        yield spec.bootstrap, home
    finally:
        with contextlib.suppress(Exception):
            cluster_down(spec, timeout=20)


def record_schema(name: str, fields: list[dict[str, object]], **extra: object) -> str:
    import json

    return json.dumps({"type": "record", "name": name, "namespace": "t", "fields": fields, **extra})
