"""A pipeline environment of its own for the payments saga tests.

Its own cluster: once payments has run against a cluster, the audit expects every reservation
there to end PAID or released, which the other suites (enrichment alone) never do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.config import Settings, load_settings
from orderstream.ops.harness import PipelineHarness, pipeline_environment
from orderstream.testing.cluster import LocalCluster


@pytest.fixture(scope="session")
def payments_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, Settings]]:
    home = tmp_path_factory.mktemp("payments")
    with pipeline_environment(home, load_settings().cache_dir) as env:
        yield env


@pytest.fixture
def settings(payments_env: tuple[LocalCluster, Settings]) -> Settings:
    return payments_env[1]


@pytest.fixture
def harness(settings: Settings, tmp_path: Path) -> Iterator[PipelineHarness]:
    """Starts service processes for one test and always stops them."""
    h = PipelineHarness(settings, tmp_path / "run")
    try:
        yield h
    finally:
        h.stop_all()
