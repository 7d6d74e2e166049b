"""The polyglot examples against a pipeline of their own: broker, registry, enrichment.

The builds (``npm ci``, ``mvn package``) belong to ``make install``; ``make examples`` here is
a no-op when its stamps are fresh, and builds the examples once when run from a bare checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orderstream.config import Settings, load_settings
from orderstream.ops.harness import PipelineHarness, pipeline_environment
from orderstream.ops.seed import seed_catalog

ROOT = Path(__file__).resolve().parents[3]
NODE_CONSUMER = ROOT / "examples" / "node-consumer"
JAVA_JAR = ROOT / "examples" / "java-producer" / "target" / "orderstream-java-producer.jar"
PRODUCTS = 20
JAVA_ORDERS = 300


@dataclass(frozen=True)
class JavaRun:
    """What the Java producer printed, and the settings of the pipeline it wrote to."""

    settings: Settings
    summary: dict[str, object]
    order_ids: frozenset[str]


@pytest.fixture(scope="session")
def built_examples() -> None:
    make = shutil.which("make")
    assert make, "make is needed to build the examples (make install)"
    done = subprocess.run(
        [make, "-s", "-C", str(ROOT), "examples"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"make examples failed:\n{done.stdout}\n{done.stderr}"
    assert JAVA_JAR.is_file() and (NODE_CONSUMER / "node_modules").is_dir()


@pytest.fixture(scope="session")
def examples_pipeline(
    tmp_path_factory: pytest.TempPathFactory, built_examples: None
) -> Iterator[JavaRun]:
    """Enrichment running, then the Java producer's orders written once for every test."""
    home = tmp_path_factory.mktemp("examples")
    with pipeline_environment(home, load_settings().cache_dir) as (_cluster, settings):
        seed_catalog(settings, PRODUCTS, 10_000)
        harness = PipelineHarness(settings, home / "run")
        try:
            harness.start_enrichment()
            yield run_java_producer(settings)
        finally:
            harness.stop_all()


def run_java_producer(settings: Settings) -> JavaRun:
    env = {
        **os.environ,
        "BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": settings.registry_url,
        "ORDERS": str(JAVA_ORDERS),
        "ORDERS_PER_TRANSACTION": "25",
        "PRODUCTS": str(PRODUCTS),
        "ORDER_ID_PREFIX": "java-test",
    }
    done = subprocess.run(
        ["java", "-jar", str(JAVA_JAR)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    ids = frozenset(f"java-test-{i}" for i in range(JAVA_ORDERS))
    return JavaRun(settings, summary, ids)
