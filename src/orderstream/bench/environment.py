"""Where a benchmark runs: a broker it is given or a fresh local one, with a registry and the
topology when it needs them. Everything a benchmark starts, it stops, on every path."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.errors import PlatformError
from orderstream.ops.harness import pipeline_environment
from orderstream.testing.cluster import LocalCluster

Say = Callable[[str], None]


def bench_cluster_or(bootstrap: str | None, home: Path | None, cache: Path) -> Any:
    """The broker to measure: the given one, or a fresh local 1-node cluster."""
    from orderstream.testing.cluster import local_cluster

    if bootstrap:
        cluster = LocalCluster(bootstrap=bootstrap)
        try:
            cluster.admin.list_topics(timeout=10)
        except KafkaException as exc:
            raise PlatformError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        return contextlib.nullcontext(cluster)
    return local_cluster(home or Path(tempfile.mkdtemp(prefix="orderstream-bench-kafka-")), cache)


@contextlib.contextmanager
def bench_services(
    settings: Settings, bootstrap: str | None, registry: str | None, say: Say
) -> Iterator[Settings]:
    """Settings for the broker and registry to measure.

    Given ``bootstrap`` (and the configured or given registry): those, checked first. Otherwise,
    as ``bench runtime`` does, a fresh local 1-node cluster and a registry on it, always stopped.
    """
    if bootstrap:
        chosen = settings.model_copy(
            update={
                "bootstrap_servers": bootstrap,
                "registry_url": registry or settings.registry_url,
            }
        )
        _check_reachable(chosen)
        yield chosen
        return
    from orderstream.testing.cluster import local_cluster
    from orderstream.testing.registry import running_registry

    say("starting a local 1-node Kafka cluster and a schema registry for the bench ...")
    home = Path(tempfile.mkdtemp(prefix="orderstream-bench-analytics-kafka-"))
    try:
        with (
            local_cluster(home, settings.cache_dir) as cluster,
            running_registry(cluster.bootstrap) as url,
        ):
            yield settings.model_copy(
                update={"bootstrap_servers": cluster.bootstrap, "registry_url": url}
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _check_reachable(settings: Settings) -> None:
    admin = AdminClient(kafka_config(Role.ADMIN, "analytics-bench", settings=settings))
    try:
        admin.list_topics(timeout=10)
    except KafkaException as exc:
        raise PlatformError(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}; start it, or leave out "
            "--bootstrap and the bench starts its own"
        ) from exc
    try:
        httpx.get(settings.registry_url + "/subjects", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise PlatformError(
            f"cannot reach the schema registry at {settings.registry_url}: {exc}; "
            "give --registry, or leave out --bootstrap and the bench starts its own"
        ) from exc


@contextlib.contextmanager
def bench_environment(cache_dir: Path) -> Iterator[tuple[LocalCluster, Settings, Path]]:
    """A fresh cluster with registry, topology and schemas, in a temporary directory."""
    home = Path(tempfile.mkdtemp(prefix="orderstream-bench-pipeline-"))
    try:
        with pipeline_environment(home, cache_dir) as (cluster, settings):
            yield cluster, settings, home
    finally:
        shutil.rmtree(home, ignore_errors=True)
