"""The `orderstream kafka` and `topics` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.config import load_settings
from orderstream.testing.cluster import LocalCluster, free_port_pairs

CLI = [sys.executable, "-m", "orderstream.cli"]


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
    env["ORDERSTREAM_HOME"] = str(tmp_path / "home")
    env["ORDERSTREAM_KAFKA_CACHE"] = str(load_settings().cache_dir)
    env["COLUMNS"] = "200"
    yield env
    run_cli("kafka", "down", "--purge", "--timeout", "10", env=env)


def test_up_status_up_again_down(cli_env: dict[str, str]) -> None:
    ((broker, controller),) = free_port_pairs(1)
    up = run_cli("kafka", "up", "--ports", str(broker), "--controller-ports", str(controller),
                 env=cli_env)  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert f"bootstrap.servers=127.0.0.1:{broker}" in up.stdout

    status = run_cli("kafka", "status", "--json", env=cli_env)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["bootstrap"] == f"127.0.0.1:{broker}"
    (node,) = data["nodes"]
    assert node["alive"] is True and node["port"] == broker and node["pid"] > 0
    assert data["controller_id"] == 1

    again = run_cli("kafka", "up", "--ports", str(broker), env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout

    logs = run_cli("kafka", "logs", "-n", "200", env=cli_env)
    assert "Kafka Server started" in logs.stdout

    down = run_cli("kafka", "down", env=cli_env)
    assert down.returncode == 0 and "node 1: stopped" in down.stdout
    after = run_cli("kafka", "status", "--json", env=cli_env)
    assert json.loads(after.stdout)["nodes"][0]["alive"] is False


def test_up_on_a_taken_port_names_it(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ((_, controller),) = free_port_pairs(1)
        result = run_cli("kafka", "up", "--ports", str(port), "--controller-ports",
                         str(controller), env=cli_env)  # fmt: skip
    assert result.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_java_is_a_clear_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {**cli_env, "PATH": str(empty_bin)}
    result = run_cli("kafka", "up", env=env)
    assert result.returncode == 1
    assert "Java was not found" in result.stderr and "Traceback" not in result.stderr


def test_topics_apply_is_idempotent_and_lists(
    kafka_cluster: LocalCluster, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "ORDERSTREAM_BOOTSTRAP_SERVERS": kafka_cluster.bootstrap}
    first = run_cli("topics", "apply", env=env)
    assert first.returncode == 0, first.stderr
    second = run_cli("topics", "apply", env=env)
    assert second.returncode == 0 and "no changes" in second.stdout
    listed = json.loads(run_cli("topics", "list", "--json", env=env).stdout)
    by_name = {t["topic"]: t for t in listed}
    assert by_name["_schemas"]["partitions"] == 1
    assert by_name["enrichment-stock-changelog"]["cleanup.policy"] == "compact"


def test_bad_argument_is_not_a_traceback(cli_env: dict[str, str]) -> None:
    result = run_cli("kafka", "up", "--nodes", "2", env=cli_env)
    assert result.returncode == 2
    assert "--nodes must be 1 or 3" in result.stderr and "Traceback" not in result.stderr
