"""A pipeline environment of the orders API's fault tests alone: they pause and kill its broker.

Pausing or killing the session's shared broker would break every other test running on it, so
these tests get a small cluster of their own (one node, the topology and a registry), started
once for the package and shared by its tests; each test leaves the broker running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderstream.config import Settings, load_settings
from orderstream.ops.harness import pipeline_environment
from orderstream.testing.cluster import LocalCluster


@pytest.fixture(scope="package")
def orders_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Settings]]:
    home = tmp_path_factory.mktemp("orders-env")
    with pipeline_environment(home, load_settings().cache_dir) as env:
        yield env
