from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderstream.config import Settings
from orderstream.serde import EventSerde
from orderstream.testing.cluster import LocalCluster


@pytest.fixture
def analytics_settings(kafka_cluster: LocalCluster, schema_registry_url: str) -> Settings:
    return kafka_cluster.settings(registry_url=schema_registry_url)


@pytest.fixture
def serde(schema_registry_url: str) -> Iterator[EventSerde]:
    serde = EventSerde(schema_registry_url)
    yield serde
    serde.close()
