"""One disposable 3-node stack (proxied brokers, every service) shared by the chaos scenarios.

Teardown proves that nothing is left: no service, no broker, no tmpfs mount.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.chaos.env import ChaosEnv, chaos_environment
from orderstream.config import load_settings

logger = logging.getLogger(__name__)


def _mounted(path: Path) -> bool:
    return any(
        line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines()
    )


@pytest.fixture(scope="module")
def chaos_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosEnv]:
    home = tmp_path_factory.mktemp("chaos")
    with chaos_environment(home, load_settings().cache_dir, logger.info) as env:
        yield env
    assert not any(p.alive for p in env.stack.ps()), env.stack.ps()
    assert not any(env.cluster.alive(n) for n in env.cluster.node_ids)
    assert env.disk_mount is None or not _mounted(env.disk_mount)
