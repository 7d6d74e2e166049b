"""A pipeline environment of its own (cluster, registry, topology, schemas) for service tests.

The services use the fixed topic names of topology.toml, so they get a cluster of their own:
other suites writing to ``orders`` or ``enriched-orders`` on the shared broker would otherwise
show up in the audit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.config import Settings, load_settings
from orderstream.ops.harness import PipelineHarness, pipeline_environment
from orderstream.testing.cluster import LocalCluster


@pytest.fixture(scope="session")
def pipeline_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, Settings]]:
    home = tmp_path_factory.mktemp("pipeline")
    with pipeline_environment(home, load_settings().cache_dir) as env:
        yield env


@pytest.fixture
def pipeline_settings(pipeline_env: tuple[LocalCluster, Settings]) -> Settings:
    return pipeline_env[1]


@pytest.fixture
def harness(pipeline_settings: Settings, tmp_path: Path) -> Iterator[PipelineHarness]:
    """Starts service processes for one test and always stops them."""
    h = PipelineHarness(pipeline_settings, tmp_path / "run")
    try:
        yield h
    finally:
        h.stop_all()
