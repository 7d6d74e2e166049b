"""The generated configurations pass Prometheus's and Alertmanager's own checkers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from orderstream.config import Settings
from orderstream.monitoring.ports import DEFAULT_PORTS, MonitoringPorts
from orderstream.monitoring.stack import MonitoringStack, Routing, ScrapeTarget


def _check(*argv: str) -> str:
    tool = shutil.which(argv[0])
    assert tool, f"{argv[0]} is missing: `make install` installs Debian's prometheus packages"
    done = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_generated_configs_are_valid(tmp_path: Path) -> None:
    stack = MonitoringStack(
        Settings(home=tmp_path),
        MonitoringPorts(19990, 19991, 19992),
        targets=[
            ScrapeTarget("orders", (18080,)),
            ScrapeTarget("kafka", (17071, 17072), interval_s=5),
        ],
        webhook_url="http://127.0.0.1:19999/hook",
        interval_s=1,
        routing=Routing(group_wait_s=1, group_interval_s=2),
    )
    prometheus_yml = stack.write_configs()
    assert "SUCCESS" in _check("promtool", "check", "config", str(prometheus_yml))
    _check("amtool", "check-config", str(tmp_path / "monitoring" / "alertmanager.yml"))
    config = json.loads(prometheus_yml.read_text().split("\n", 1)[1])
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert jobs == {
        "orders": ["127.0.0.1:18080"],
        "kafka": ["127.0.0.1:17071", "127.0.0.1:17072"],
        "lag-exporter": ["127.0.0.1:19992"],
    }
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["127.0.0.1:19991"]
    kafka = next(j for j in config["scrape_configs"] if j["job_name"] == "kafka")
    assert (kafka["scrape_interval"], kafka["scrape_timeout"]) == ("5s", "5s")
    assert config["global"]["scrape_interval"] == "1s"
    route = json.loads((tmp_path / "monitoring" / "alertmanager.yml").read_text().split("\n", 1)[1])
    assert (route["route"]["group_wait"], route["route"]["group_interval"]) == ("1s", "2s")
    assert stack.argv(stack.components[0])[-2:] == ["--interval", "1"]  # the lag exporter


def test_default_ports_avoid_the_controller_and_the_ephemeral_range() -> None:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [DEFAULT_PORTS.prometheus, DEFAULT_PORTS.alertmanager, DEFAULT_PORTS.lag_exporter]
    assert 9093 not in ports
    assert all(not low <= p <= high for p in ports)
    assert len(set(ports)) == 3
