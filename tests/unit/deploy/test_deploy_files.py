"""The compose file and the Dockerfile, checked as far as a machine without Docker can.

The compose file is validated against the compose-spec JSON schema (vendored by
check-jsonschema, no network), the Dockerfile is linted by hadolint, and the wiring the
schema cannot see (nodes, listeners, dependencies, scrape targets) is asserted here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "compose" / "prometheus.yml"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: make install (it is a dev dependency)"
    return found


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_file_matches_the_compose_spec() -> None:
    schema = [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    done = subprocess.run(schema, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_passes_hadolint() -> None:
    lint = [tool("hadolint"), "--no-color", str(DOCKERFILE)]
    done = subprocess.run(lint, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_three_kraft_nodes_of_the_official_image_form_one_quorum() -> None:
    services = compose()["services"]
    nodes = {name: s for name, s in services.items() if name.startswith("kafka-")}
    assert sorted(nodes) == ["kafka-1", "kafka-2", "kafka-3"]
    voters = set()
    for name, node in nodes.items():
        assert node["image"].startswith("apache/kafka:")
        env = node["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert f"INTERNAL://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        assert f"{env['KAFKA_NODE_ID']}@{name}:9093" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    assert len(voters) == 1  # every node names the same quorum
    host_ports = [p.split(":")[0] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))


def test_services_start_in_order_from_the_services_image() -> None:
    services = compose()["services"]
    for name in ("topics", "registry", "schemas", "orders", "enrichment", "analytics", "payments"):
        assert services[name]["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        assert (COMPOSE.parent / services[name]["build"]["context"] / "pyproject.toml").is_file()
    assert services["registry"]["depends_on"]["topics"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("orders", "enrichment", "analytics", "payments"):
        assert "schemas" in services[name]["depends_on"], name
    assert {"prometheus", "jaeger"} <= set(services)


def test_prometheus_scrapes_every_service_on_its_compose_port() -> None:
    services = compose()["services"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    for target in targets:
        host, port = target.split(":")
        assert port in " ".join(services[host]["command"]), target
    assert {t.split(":")[0] for t in targets} == {"orders", "enrichment", "analytics", "payments"}
