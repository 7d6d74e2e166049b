"""The whole local stack behind ``orderstream up | down | ps``.

``up`` is idempotent: it starts Kafka when it is not running, applies the topology, starts the
registry, registers the schemas, then starts every service of ``SERVICES`` that is not alive.
Pids and logs live under ``$ORDERSTREAM_HOME/services``. ``down`` stops the services in reverse
order, and Kafka only when ``up`` started it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from orderstream.config import Settings
from orderstream.errors import PlatformError
from orderstream.ops.processes import ManagedProcess
from orderstream.platform.cluster import (
    cluster_down,
    cluster_up,
    is_node_alive,
    load_spec,
    read_pid,
)
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import make_spec
from orderstream.platform.topology import apply_plan, plan_topology

logger = logging.getLogger(__name__)

CLI_MODULE = "orderstream.cli"


@dataclass(frozen=True)
class ServiceSpec:
    """A service ``up`` runs: its ``orderstream`` arguments, port and readiness probe."""

    name: str
    args: tuple[str, ...]  # "{port}" is replaced by the port
    port: int
    ready_path: str = "/readyz"


# Started in this order, stopped in reverse. One line per service.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("registry", ("registry", "--port", "{port}"), 8081, ready_path="/subjects"),
    ServiceSpec("orders", ("run", "orders", "--port", "{port}"), 8080),
    ServiceSpec("enrichment", ("run", "enrichment", "--http-port", "{port}"), 8090),
    ServiceSpec("analytics", ("run", "analytics", "--port", "{port}"), 8088),
)


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    pid: int | None
    port: int | None
    alive: bool

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "port": self.port, "alive": self.alive}


class Stack:
    """The services of one ``$ORDERSTREAM_HOME``."""

    def __init__(self, settings: Settings, services: tuple[ServiceSpec, ...] = SERVICES) -> None:
        self.settings = settings
        self.services = tuple(self._with_configured_port(s) for s in services)
        self.run_dir = settings.home / "services"

    def _with_configured_port(self, spec: ServiceSpec) -> ServiceSpec:
        if spec.name == "registry":
            port = urlparse(self.settings.registry_url).port or spec.port
            return ServiceSpec(spec.name, spec.args, port, spec.ready_path)
        return spec

    @property
    def kafka_home(self) -> Path:
        return self.settings.home / "kafka"

    def process(self, spec: ServiceSpec) -> ManagedProcess:
        marker = " ".join(a.replace("{port}", str(spec.port)) for a in spec.args)
        return ManagedProcess(spec.name, self.run_dir, marker)

    def _port_file(self, spec: ServiceSpec) -> Path:
        return self.run_dir / f"{spec.name}.port"

    def recorded(self, spec: ServiceSpec) -> ServiceSpec:
        """The spec with the port the service was last started on (ports are configurable)."""
        try:
            port = int(self._port_file(spec).read_text())
        except (OSError, ValueError):
            return spec
        return ServiceSpec(spec.name, spec.args, port, spec.ready_path)

    def argv(self, spec: ServiceSpec) -> list[str]:
        args = [a.replace("{port}", str(spec.port)) for a in spec.args]
        return [sys.executable, "-m", CLI_MODULE, *args]

    # -- up ------------------------------------------------------------------------------------

    def up(self, report: Callable[[str], None], timeout_s: float = 120.0) -> Settings:
        """Start whatever is missing; returns the settings the services were started with."""
        settings = self.ensure_kafka(report)
        admin, plan = plan_topology(settings)
        if plan.empty:
            report("topology: up to date")
        else:
            apply_plan(admin, plan)
            report(f"topology: {len(plan.lines())} change(s) applied")
        env = self.child_env(settings)
        for spec in self.services:
            self.ensure_service(spec, env, report, timeout_s)
            if spec.name == "registry":
                register_schemas(env, report)
        return settings

    def ensure_kafka(self, report: Callable[[str], None]) -> Settings:
        """The settings to use, starting the local 1-node cluster when needed."""
        if "bootstrap_servers" in self.settings.model_fields_set:
            report(f"kafka: using {self.settings.bootstrap_servers} (configured)")
            return self.settings
        previous = load_spec(self.kafka_home)
        dist, _ = install_kafka(self.settings.cache_dir)
        spec = previous or make_spec(self.kafka_home, 1)
        result = cluster_up(dist, spec)
        if result.already_running:
            report(f"kafka: already running at {result.spec.bootstrap}")
        else:
            self._write_state({"started_kafka": True})
            report(f"kafka: started at {result.spec.bootstrap} in {result.seconds:.1f}s")
        return self.settings.model_copy(update={"bootstrap_servers": result.spec.bootstrap})

    def child_env(self, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env["ORDERSTREAM_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
        env["ORDERSTREAM_HOME"] = str(settings.home)
        env["ORDERSTREAM_REGISTRY_URL"] = settings.registry_url
        return env

    def ensure_service(
        self,
        spec: ServiceSpec,
        env: dict[str, str],
        report: Callable[[str], None],
        timeout_s: float,
    ) -> None:
        running = self.recorded(spec)
        if self.process(running).alive():
            pid = self.process(running).pid()
            report(f"{spec.name}: already running (pid {pid}, port {running.port})")
            return
        if probe_ready(spec):
            report(f"{spec.name}: port {spec.port} already serves it (not started by up)")
            return
        proc = self.process(spec)
        pid = proc.start(self.argv(spec), env)
        self._port_file(spec).write_text(str(spec.port))
        wait_ready(proc, spec, timeout_s)
        report(f"{spec.name}: started (pid {pid}, port {spec.port}); log {proc.log_file}")

    # -- down / ps -----------------------------------------------------------------------------

    def down(self, report: Callable[[str], None], timeout_s: float = 20.0) -> None:
        for spec in reversed(self.services):
            report(f"{spec.name}: {self.process(self.recorded(spec)).stop(timeout_s)}")
        if self._read_state().get("started_kafka"):
            cluster = load_spec(self.kafka_home)
            if cluster is not None:
                outcomes = cluster_down(cluster)
                report("kafka: " + ", ".join(f"node {n} {how}" for n, how in outcomes.items()))
            self._write_state({"started_kafka": False})
        else:
            report("kafka: left running (not started by up)")

    def ps(self) -> list[ProcessInfo]:
        return [*self._kafka_processes(), *self._service_processes()]

    def _service_processes(self) -> Iterator[ProcessInfo]:
        for configured in self.services:
            spec = self.recorded(configured)
            proc = self.process(spec)
            alive = proc.alive()
            yield ProcessInfo(spec.name, proc.pid() if alive else None, spec.port, alive)

    def _kafka_processes(self) -> Iterator[ProcessInfo]:
        spec = load_spec(self.kafka_home)
        if spec is None:
            return
        for node in spec.nodes:
            alive = is_node_alive(spec, node)
            pid = read_pid(spec, node) if alive else None
            yield ProcessInfo(f"kafka-{node.node_id}", pid, node.broker_port, alive)

    # -- state ---------------------------------------------------------------------------------

    def _state_file(self) -> Path:
        return self.run_dir / "stack.json"

    def _read_state(self) -> dict[str, bool]:
        try:
            data = json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, state: dict[str, bool]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._state_file().write_text(json.dumps(state))


def probe_ready(spec: ServiceSpec) -> bool:
    """True when something on the service's port answers its readiness URL with 200."""
    try:
        url = f"http://127.0.0.1:{spec.port}{spec.ready_path}"
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(proc: ManagedProcess, spec: ServiceSpec, timeout_s: float) -> None:
    """Poll the service's readiness URL; PlatformError with its log tail if it dies or stalls."""
    url = f"http://127.0.0.1:{spec.port}{spec.ready_path}"
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise PlatformError(
                    f"{spec.name} exited during start-up; last lines of {proc.log_file}:\n"
                    + proc.log_tail()
                )
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise PlatformError(
        f"{spec.name} was not ready at {url} within {timeout_s:.0f}s; last lines of "
        f"{proc.log_file}:\n{proc.log_tail()}"
    )


def register_schemas(env: dict[str, str], report: Callable[[str], None]) -> None:
    """Run ``orderstream schemas register`` against the registry just started."""
    argv = [sys.executable, "-m", CLI_MODULE, "schemas", "register"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PlatformError(f"schemas register failed:\n{(done.stdout + done.stderr)[-2000:]}")
    report("schemas: registered")
