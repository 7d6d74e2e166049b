"""Registry test helpers: private registries on their own topics, unique subject names."""

from __future__ import annotations

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


def record_schema(name: str, fields: list[dict[str, object]], **extra: object) -> str:
    import json

    return json.dumps({"type": "record", "name": name, "namespace": "t", "fields": fields, **extra})
