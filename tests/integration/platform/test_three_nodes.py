"""3 nodes as a user runs them: ``kafka up --nodes 3``, ``status --json``, ``kafka up --nodes 3``
again with a node down (restarts only that node), and ``up --nodes 3`` adopting the cluster with
RF 3, min ISR 2 and unclean election off on every topic."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from orderstream.config import Settings, load_settings
from orderstream.ops.harness import free_port
from orderstream.ops.processes import wait_dead
from orderstream.ops.stack import SERVICES, Stack
from orderstream.platform.nodes import DEFAULT_PORTS
from orderstream.testing.cluster import free_port_pairs

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "orderstream.cli"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def home_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
    env["ORDERSTREAM_HOME"] = str(tmp_path / "home")
    env["ORDERSTREAM_KAFKA_CACHE"] = str(load_settings().cache_dir)
    env["COLUMNS"] = "200"
    yield env
    run_cli("kafka", "down", "--purge", "--timeout", "10", env=env)


def _status(env: dict[str, str]) -> dict[int, dict[str, object]]:
    done = run_cli("kafka", "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {int(str(n["node_id"])): n for n in json.loads(done.stdout)["nodes"]}


def test_three_nodes_restart_only_the_missing_one_and_up_adopts(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    brokers = [b for b, _ in free_port_pairs(3)]
    up = run_cli(
        "kafka", "up", "--nodes", "3", "--ports", ",".join(map(str, brokers)), env=home_env
    )
    assert up.returncode == 0, up.stderr
    before = _status(home_env)
    assert sorted(before) == [1, 2, 3]
    assert [before[i]["port"] for i in (1, 2, 3)] == brokers
    assert all(n["alive"] and isinstance(n["pid"], int) for n in before.values())

    victim = int(str(before[2]["pid"]))
    os.kill(victim, signal.SIGKILL)
    wait_dead(victim, "kafka.Kafka", 20)
    again = run_cli("kafka", "up", "--nodes", "3", env=home_env)
    assert again.returncode == 0, again.stderr
    assert "node(s) 2 down: restarted them" in again.stdout
    after = _status(home_env)
    assert after[1]["pid"] == before[1]["pid"] and after[3]["pid"] == before[3]["pid"]
    assert after[2]["alive"] and after[2]["pid"] != before[2]["pid"]

    settings = Settings(home=tmp_path / "home", registry_url=f"http://127.0.0.1:{free_port()}")
    services = tuple(dataclasses.replace(s, port=free_port()) for s in SERVICES)
    stack = Stack(settings, services, nodes=3)
    lines: list[str] = []
    try:
        stack.up(lines.append, timeout_s=180)
        assert f"kafka: already running at {','.join(f'127.0.0.1:{b}' for b in brokers)}" in lines
        _assert_replicated(",".join(f"127.0.0.1:{b}" for b in brokers))
    finally:
        stack.down(lines.append, timeout_s=20)
    assert "kafka: left running (not started by up)" in lines
    assert not any(p.alive for p in stack.ps() if not p.name.startswith("kafka-"))


def _assert_replicated(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(timeout=10)
    orders = meta.topics["orders"]
    assert all(len(p.replicas) == 3 for p in orders.partitions.values())
    resource = ConfigResource(ConfigResource.Type.TOPIC, "orders")
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["min.insync.replicas"].value == "2"
    assert configs["unclean.leader.election.enable"].value == "false"


def test_up_nodes_3_defaults_to_the_design_ports(tmp_path: Path) -> None:
    stack = Stack(Settings(home=tmp_path), nodes=3)
    spec = stack._cluster_spec()  # an empty home: a new cluster at the defaults, nothing bound
    assert tuple(n.broker_port for n in spec.nodes) == DEFAULT_PORTS[3] == (19092, 29092, 31092)
    assert tuple(n.controller_port for n in spec.nodes) == (19093, 29093, 31093)
