"""A pipeline environment of its own for the enrichment tests.

The services use the fixed topic names of topology.toml; every test here uses products and
orderIds of its own, so they can share one cluster (and the audit over all of it must pass).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.config import Settings, load_settings
from orderstream.ops.harness import PipelineHarness, pipeline_environment
from orderstream.testing.cluster import LocalCluster


@pytest.fixture(scope="session")
def enrichment_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, Settings]]:
    home = tmp_path_factory.mktemp("enrichment")
    with pipeline_environment(home, load_settings().cache_dir) as env:
        yield env


@pytest.fixture
def settings(enrichment_env: tuple[LocalCluster, Settings]) -> Settings:
    return enrichment_env[1]


@pytest.fixture
def harness(settings: Settings, tmp_path: Path) -> Iterator[PipelineHarness]:
    """Starts service processes for one test and always stops them."""
    h = PipelineHarness(settings, tmp_path / "run")
    try:
        yield h
    finally:
        h.stop_all()
