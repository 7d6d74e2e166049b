"""Jaeger, Prometheus, Alertmanager and the lag exporter for one ``$ORDERSTREAM_HOME``.

``start_tracing(report)`` starts Jaeger (built once into the cache, ``jaeger_install``) before
the services, so that they export their spans to it from their first order.

``MonitoringStack(settings).start(report)`` writes ``prometheus.yml`` and ``alertmanager.yml``
under ``$ORDERSTREAM_HOME/monitoring/`` (a scrape configuration generated from what runs: the
services' /metrics, the brokers' JMX exporter ports when they have one, the lag exporter), starts
the three as background processes and waits until each answers; ``stop(report)`` stops them.
The binaries are Debian's (``make install``). The configuration files are YAML written as JSON
(JSON is YAML), so no YAML writer is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from orderstream.config import Settings
from orderstream.errors import PlatformError
from orderstream.monitoring.jaeger import JAEGER_ENV, jaeger_config
from orderstream.monitoring.jaeger_install import install_jaeger, jaeger_binary
from orderstream.monitoring.ports import DEFAULT_PORTS, MonitoringPorts, record_ports
from orderstream.monitoring.rules import RULES_FILE
from orderstream.ops.processes import ManagedProcess
from orderstream.platform.cluster import load_spec, port_is_free
from orderstream.platform.nodes import ClusterSpec

Report = Callable[[str], None]
PROMETHEUS_BIN = "prometheus"
ALERTMANAGER_BIN = "prometheus-alertmanager"  # Debian's name for alertmanager


@dataclass(frozen=True)
class ScrapeTarget:
    """One Prometheus job: a name (the ``job`` label the rules group by) and its ports."""

    job: str
    ports: tuple[int, ...]
    path: str = "/metrics"
    # Its own scrape interval (and timeout, which Prometheus bounds by it); None: the global
    # one. The brokers' JMX exporter walks every MBean per scrape: on a loaded machine that
    # takes over a second, so a 1 s scrape of it times out and its series come and go.
    interval_s: float | None = None


@dataclass(frozen=True)
class Component:
    name: str  # as ``orderstream ps`` lists it
    port: int
    ready_path: str


def service_targets(settings: Settings) -> list[ScrapeTarget]:
    """The /metrics of every service ``orderstream up`` started and that runs now."""
    from orderstream.ops.stack import SERVICES, Stack

    services = {s.name for s in SERVICES}
    return [
        ScrapeTarget(p.name, (p.port,))
        for p in Stack(settings).ps()
        if p.alive and p.port is not None and p.name in services
    ]


def broker_targets(spec: ClusterSpec | None) -> list[ScrapeTarget]:
    """The brokers' JMX exporter ports, once nodes carry the agent (a ``jmx_port`` attribute)."""
    if spec is None:
        return []
    ports = tuple(p for n in spec.nodes if (p := getattr(n, "jmx_port", None)) is not None)
    return [ScrapeTarget("kafka", ports)] if ports else []


def prometheus_config(
    targets: Iterable[ScrapeTarget], rules: Path, alertmanager_port: int, interval_s: float
) -> dict[str, Any]:
    every = f"{interval_s:g}s"
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every},
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": [_scrape_config(t) for t in targets],
    }


def _scrape_config(target: ScrapeTarget) -> dict[str, Any]:
    config: dict[str, Any] = {
        "job_name": target.job,
        "metrics_path": target.path,
        "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in target.ports]}],
    }
    if target.interval_s is not None:
        every = f"{target.interval_s:g}s"
        config.update(scrape_interval=every, scrape_timeout=every)
    return config


@dataclass(frozen=True)
class Routing:
    """Alertmanager's notification delays: the first one of a group waits ``group_wait_s`` (to
    batch its alerts), changes to it (new alerts, resolutions) at most every ``group_interval_s``.
    A test shortens them; the rules' ``for:`` durations stay what they are."""

    group_wait_s: float = 5.0
    group_interval_s: float = 10.0


DEFAULT_ROUTING = Routing()


def alertmanager_config(
    webhook_url: str | None, routing: Routing = DEFAULT_ROUTING
) -> dict[str, Any]:
    """One route; alerts go to ``webhook_url`` when given, else are only shown in the UI."""
    receiver: dict[str, Any] = {"name": "orderstream"}
    if webhook_url:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    return {
        "route": {
            "receiver": "orderstream",
            "group_by": ["alertname", "group", "topic", "job"],
            "group_wait": f"{routing.group_wait_s:g}s",
            "group_interval": f"{routing.group_interval_s:g}s",
            "repeat_interval": "1h",
        },
        "receivers": [receiver],
    }


class MonitoringStack:
    """Start, check and stop the monitoring processes of one home."""

    def __init__(
        self,
        settings: Settings,
        ports: MonitoringPorts = DEFAULT_PORTS,
        *,
        targets: Sequence[ScrapeTarget] | None = None,
        webhook_url: str | None = None,
        interval_s: float = 5.0,
        routing: Routing = DEFAULT_ROUTING,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.dir = settings.home / "monitoring"
        self._targets = targets
        self._webhook_url = webhook_url
        self._interval = interval_s
        self._routing = routing
        self.components = (
            Component("lag-exporter", ports.lag_exporter, "/metrics"),
            Component("alertmanager", ports.alertmanager, "/-/ready"),
            Component("prometheus", ports.prometheus, "/-/ready"),
        )
        self.jaeger = Component("jaeger", ports.jaeger, "/api/services")

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.alertmanager}"

    @property
    def jaeger_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.jaeger}"

    def targets(self) -> list[ScrapeTarget]:
        if self._targets is not None:
            found = list(self._targets)
        else:
            found = service_targets(self.settings)
            found += broker_targets(load_spec(self.settings.home / "kafka"))
        return [*found, ScrapeTarget("lag-exporter", (self.ports.lag_exporter,))]

    def write_configs(self) -> Path:
        """Write both configurations (and a copy of the rules); returns prometheus.yml."""
        record_ports(self.dir, self.ports)
        rules = self.dir / RULES_FILE.name
        shutil.copyfile(RULES_FILE, rules)
        prom = prometheus_config(self.targets(), rules, self.ports.alertmanager, self._interval)
        _write_yaml(self.dir / "prometheus.yml", prom)
        _write_yaml(
            self.dir / "alertmanager.yml", alertmanager_config(self._webhook_url, self._routing)
        )
        return self.dir / "prometheus.yml"

    def process(self, component: Component) -> ManagedProcess:
        return ManagedProcess(component.name, self.dir, self._marker(component))

    def argv(self, component: Component) -> list[str]:
        home = self.dir
        listen = f"--web.listen-address=127.0.0.1:{component.port}"
        if component.name == "prometheus":
            return [
                _binary(PROMETHEUS_BIN),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'prometheus-data'}",
                listen,
            ]
        if component.name == "alertmanager":
            return [
                _binary(ALERTMANAGER_BIN),
                f"--config.file={home / 'alertmanager.yml'}",
                f"--storage.path={home / 'alertmanager-data'}",
                listen,
                "--cluster.listen-address=",  # one instance: no gossip port (9094) taken
            ]
        if component.name == "jaeger":
            return [
                str(jaeger_binary(self.settings.cache_dir)),
                f"--config={self._jaeger_config_file()}",
            ]
        port, every = str(component.port), f"{max(self._interval, 0.5):g}"  # its minimum
        return [
            *(sys.executable, "-m", "orderstream.cli", "lag-exporter", "--port", port),
            *("--interval", every),  # as fresh as Prometheus scrapes it
        ]

    def start_tracing(self, report: Report, timeout_s: float = 60.0) -> None:
        """Start Jaeger unless it runs (building it first when the cache has none)."""
        if not jaeger_binary(self.settings.cache_dir).is_file():
            report("jaeger: building v1.76.0 from the Go module proxy (once; several minutes)")
            _, seconds = install_jaeger(self.settings.cache_dir)
            report(f"jaeger: built in {seconds or 0:.0f}s, cached")
        record_ports(self.dir, self.ports)
        _write_yaml(self._jaeger_config_file(), jaeger_config(self.ports))
        self._start(self.jaeger, {**_child_env(self.settings), **JAEGER_ENV}, report, timeout_s)
        report(f"jaeger: UI at {self.jaeger_url}/")

    def start(self, report: Report, timeout_s: float = 60.0) -> None:
        """Write the configurations and start what is not running; waits until all answer."""
        self.write_configs()
        env = _child_env(self.settings)
        for component in self.components:
            self._start(component, env, report, timeout_s)
        report(f"prometheus: alerts at {self.prometheus_url}/alerts")

    def _start(
        self, component: Component, env: dict[str, str], report: Report, timeout_s: float
    ) -> None:
        proc = self.process(component)
        if proc.alive():
            report(f"{component.name}: already running (pid {proc.pid()})")
            return
        if not port_is_free(component.port):
            raise PlatformError(
                f"{component.name}: port {component.port} is in use by another program; "
                "choose another port (MonitoringPorts) or stop that program"
            )
        pid = proc.start(self.argv(component), env)
        self._wait_ready(component, proc, timeout_s)
        report(f"{component.name}: started (pid {pid}, port {component.port})")

    def stop(self, report: Report, timeout_s: float = 20.0) -> None:
        for component in (*reversed(self.components), self.jaeger):
            report(f"{component.name}: {self.process(component).stop(timeout_s)}")

    def running(self) -> dict[str, int]:
        """name -> port of the components that run now (for ``orderstream ps``)."""
        every = (self.jaeger, *self.components)
        return {c.name: c.port for c in every if self.process(c).alive()}

    def _jaeger_config_file(self) -> Path:
        return self.dir / "jaeger.yml"

    def _marker(self, component: Component) -> str:
        if component.name == "jaeger":
            return f"--config={self._jaeger_config_file()}"
        if component.name == "lag-exporter":
            return f"lag-exporter --port {component.port}"
        return f"--config.file={self.dir / (component.name + '.yml')}"

    def _wait_ready(self, component: Component, proc: ManagedProcess, timeout_s: float) -> None:
        url = f"http://127.0.0.1:{component.port}{component.ready_path}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            exited = _exit_status(proc)
            if exited is not None:
                raise PlatformError(
                    f"{component.name} exited at start ({exited}); "
                    f"its log {proc.log_file} ends:\n{proc.log_tail()}"
                )
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        proc.stop()
        raise PlatformError(f"{component.name} not ready at {url} after {timeout_s:.0f}s")


def _exit_status(proc: ManagedProcess) -> str | None:
    """How our child exited, or None while it runs. Asks the kernel, not /proc/<pid>/cmdline,
    which can still show the parent's argv for a moment after the fork."""
    pid = proc.pid()
    if pid is None:
        return "no pid"
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None if proc.alive() else "gone"
    if done == 0:
        return None
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PlatformError(f"{name} is not installed: run `make install` (Debian's package)")
    return path


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["ORDERSTREAM_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    env["ORDERSTREAM_HOME"] = str(settings.home)
    return env


def _write_yaml(path: Path, config: dict[str, Any]) -> None:
    header = "# generated by orderstream (MonitoringStack); JSON is YAML\n"
    path.write_text(header + json.dumps(config, indent=2) + "\n")
