"""A node carrying the JMX exporter agent serves the broker metrics the alert rules read."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from orderstream.config import load_settings
from orderstream.platform import ports
from orderstream.platform.cluster import cluster_down, cluster_up
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import make_spec
from orderstream.testing.cluster import free_port_pairs

pytestmark = pytest.mark.integration

EXPECTED = (
    "kafka_server_replicamanager_underreplicatedpartitions",
    "kafka_server_replicamanager_isrshrinks_total",
    "kafka_server_replicamanager_isrexpands_total",
    "kafka_controller_kafkacontroller_offlinepartitionscount",
    "kafka_controller_kafkacontroller_activecontrollercount",
    "kafka_server_brokertopicmetrics_bytesin_total",
    "kafka_server_brokertopicmetrics_messagesin_total",
    'kafka_network_requestmetrics_requests_total{request="Metadata"',
)


def _value(text: str, name: str) -> float:
    (line,) = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[-1])


def test_a_node_serves_broker_metrics_under_the_rules_names(tmp_path: Path) -> None:
    dist, _ = install_kafka(load_settings().cache_dir)
    ((broker, controller),) = free_port_pairs(1)
    jmx = ports.free_port({broker, controller})
    spec = make_spec(tmp_path, 1, (broker,), (controller,), jmx_ports=(jmx,))
    try:
        cluster_up(dist, spec, timeout=180)
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            text = httpx.get(f"http://127.0.0.1:{jmx}/metrics", timeout=10).text
            if all(name in text for name in EXPECTED):  # request metrics appear on first use
                break
            time.sleep(0.5)
        missing = [name for name in EXPECTED if name not in text]
        assert missing == [], text[-3000:]
        assert _value(text, "kafka_controller_kafkacontroller_activecontrollercount") == 1.0
        assert _value(text, "kafka_server_replicamanager_underreplicatedpartitions") == 0.0
    finally:
        cluster_down(spec)


def test_default_ports_carry_the_agent_and_given_ports_only_when_asked(tmp_path: Path) -> None:
    assert [n.jmx_port for n in make_spec(tmp_path, 3).nodes] == [19094, 29094, 31094]
    assert make_spec(tmp_path, 1, (40000,)).nodes[0].jmx_port is None
