"""The whole local stack behind ``orderstream up | down | ps``.

``up`` is idempotent: it starts Kafka (1 or 3 nodes) when it is not running, applies the
topology, starts the registry, registers the schemas, then starts every service of ``SERVICES``
that is not alive, each under a detached supervisor of its own (``ops.supervisor``) that restarts
it on a crash. Pids, logs and restart counts live under ``$ORDERSTREAM_HOME/services``. ``down``
stops the supervisors and their services in reverse order, and Kafka only when ``up`` started it.
When ``up`` fails, it stops everything it started in that call before it reports the error.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import httpx

from orderstream.config import Settings
from orderstream.errors import PlatformError
from orderstream.ops.processes import ManagedProcess
from orderstream.ops.readiness import probe_client, wait_until_ready
from orderstream.ops.stack_parts import (
    CLI_MODULE,
    SERVICES,
    ProcessInfo,
    Report,
    ServiceSpec,
    StackPart,
    optional_parts,
)
from orderstream.ops.supervised import SupervisedService
from orderstream.platform.cluster import (
    cluster_down,
    cluster_up,
    is_node_alive,
    load_spec,
    read_pid,
)
from orderstream.platform.install import install_kafka
from orderstream.platform.nodes import ClusterSpec, make_spec
from orderstream.platform.topology import apply_plan, plan_topology

logger = logging.getLogger(__name__)

__all__ = [
    "CLI_MODULE",
    "SERVICES",
    "ProcessInfo",
    "Report",
    "ServiceSpec",
    "Stack",
    "StackPart",
    "optional_parts",
]


class Stack:
    """The services of one ``$ORDERSTREAM_HOME``.

    ``nodes`` is the size of the local cluster ``up`` starts (1 or 3); None keeps whatever
    cluster the home already has, or starts 1 node. ``optional`` names the parts (flags of
    ``up``: ``secure``, ``monitoring``) this ``up`` adds; their hooks run in ``parts`` order.
    """

    def __init__(
        self,
        settings: Settings,
        services: tuple[ServiceSpec, ...] = SERVICES,
        *,
        nodes: int | None = None,
        optional: tuple[str, ...] = (),
        parts: dict[str, StackPart] | None = None,
    ) -> None:
        self.settings = settings
        self.services = tuple(self._with_configured_port(s) for s in services)
        # a copy of the pipeline (ORDERSTREAM_PREFIX) keeps its pids and ports apart
        self.run_dir = settings.home / "-".join(filter(None, ("services", settings.prefix)))
        self.nodes = nodes
        self.parts = parts if parts is not None else optional_parts(settings)
        unknown = set(optional) - set(self.parts)
        if unknown:
            raise PlatformError(f"unknown stack part(s): {', '.join(sorted(unknown))}")
        # by this up, in the order of self.parts
        self.starting = tuple(part for name, part in self.parts.items() if name in optional)

    def _with_configured_port(self, spec: ServiceSpec) -> ServiceSpec:
        if spec.name == "registry":
            port = urlparse(self.settings.registry_url).port or spec.port
            return replace(spec, port=port)
        return spec

    @property
    def kafka_home(self) -> Path:
        return self.settings.home / "kafka"

    def process(self, spec: ServiceSpec) -> ManagedProcess:
        """The service process itself (started by its supervisor)."""
        return self.supervised(spec).service

    def supervised(self, spec: ServiceSpec) -> SupervisedService:
        marker = " ".join(a.replace("{port}", str(spec.port)) for a in spec.args)
        return SupervisedService(spec.name, self.run_dir, marker)

    def _port_file(self, spec: ServiceSpec) -> Path:
        return self.run_dir / f"{spec.name}.port"

    def recorded(self, spec: ServiceSpec) -> ServiceSpec:
        """The spec with the port the service was last started on (ports are configurable)."""
        try:
            port = int(self._port_file(spec).read_text())
        except (OSError, ValueError):
            return spec
        return replace(spec, port=port)

    def argv(self, spec: ServiceSpec) -> list[str]:
        args = [a.replace("{port}", str(spec.port)) for a in spec.args]
        return [sys.executable, "-m", CLI_MODULE, *args, *spec.extra_args]

    # -- up ------------------------------------------------------------------------------------

    def up(self, report: Callable[[str], None], timeout_s: float = 120.0) -> Settings:
        """Start whatever is missing; returns the settings the services were started with.

        On any failure, whatever this call started is stopped again before the error is raised.
        """
        started: list[ServiceSpec] = []
        kafka_was_running = self._kafka_running()
        try:
            settings = self.ensure_kafka(report)
            admin, plan = plan_topology(settings)
            if plan.empty:
                report("topology: up to date")
            else:
                apply_plan(admin, plan)
                report(f"topology: {len(plan.lines())} change(s) applied")
            env = self.child_env(settings)
            for part in self.starting:
                part.prepare(settings, env, report)
            for configured in self.services:
                spec = self.service(configured)
                if self.ensure_service(spec, self.service_env(spec, env), report, timeout_s):
                    started.append(spec)
                if spec.name == "registry":
                    register_schemas(env, report)
            for part in self.starting:
                part.start(settings, report)
        except BaseException:
            for part in self.starting:
                part.stop(report)
            self._undo(started, kafka_was_running, report)
            raise
        return settings

    def _undo(
        self, started: list[ServiceSpec], kafka_was_running: bool, report: Callable[[str], None]
    ) -> None:
        for spec in reversed(started):
            report(f"{spec.name}: {self.supervised(spec).stop()} (up failed)")
        cluster = load_spec(self.kafka_home)
        if not kafka_was_running and cluster is not None and self._kafka_running():
            cluster_down(cluster)
            self._write_state({"started_kafka": False})
            report("kafka: stopped (up failed)")

    def _kafka_running(self) -> bool:
        spec = load_spec(self.kafka_home)
        return spec is not None and any(is_node_alive(spec, n) for n in spec.nodes)

    def ensure_kafka(self, report: Callable[[str], None]) -> Settings:
        """The settings to use, starting the local cluster (``self.nodes`` nodes) when needed."""
        if "bootstrap_servers" in self.settings.model_fields_set:
            report(f"kafka: using {self.settings.bootstrap_servers} (configured)")
            return self._as_admin(self.settings)
        dist, _ = install_kafka(self.settings.cache_dir)
        result = cluster_up(dist, self._cluster_spec())
        if result.restarted:
            nodes = ", ".join(str(n) for n in result.restarted)
            report(f"kafka: running at {result.spec.bootstrap}; restarted node(s) {nodes}")
        elif result.already_running:
            report(f"kafka: already running at {result.spec.bootstrap}")
        else:
            self._write_state({"started_kafka": True})
            report(f"kafka: started at {result.spec.bootstrap} in {result.seconds:.1f}s")
        for part in self.starting:
            part.kafka_ready(result.spec, report)
        settings = self.settings.model_copy(update={"bootstrap_servers": result.spec.bootstrap})
        return self._as_admin(settings)

    def _as_admin(self, settings: Settings) -> Settings:
        """The settings of ``up``'s own clients, as the parts make them."""
        for part in self.starting:
            settings = part.client_settings(settings)
        return settings

    def service(self, spec: ServiceSpec) -> ServiceSpec:
        """The service as the parts adapt it (``--secure``: TLS files, an HTTPS probe)."""
        for part in self.starting:
            spec = part.service(spec)
        return spec

    def service_env(self, spec: ServiceSpec, env: dict[str, str]) -> dict[str, str]:
        """The service's environment (``--secure``: the principal of its name)."""
        for part in self.starting:
            env = part.service_env(spec, env)
        return env

    def _fresh_cluster(self, size: int) -> ClusterSpec:
        spec = make_spec(self.kafka_home, size)
        for part in self.starting:
            spec = part.cluster(spec)
        return spec

    def _cluster_spec(self) -> ClusterSpec:
        """The home's cluster when it fits ``self.nodes``, else a new one at the default ports."""
        previous = load_spec(self.kafka_home)
        wanted_home = self._fresh_cluster(1).secure_home
        if previous is not None and previous.secure_home != wanted_home:
            if self._kafka_running():
                raise PlatformError(
                    f"a {'PLAINTEXT' if wanted_home else 'secured'} cluster is running under "
                    f"{self.kafka_home}; stop it with 'orderstream down' before 'up"
                    f"{' --secure' if wanted_home else ''}'"
                )
            previous = None  # the other mode's storage: cluster_up purges it
        if previous is None or (self.nodes is not None and previous.size != self.nodes):
            if previous is not None and self._kafka_running():
                raise PlatformError(
                    f"a {previous.size}-node cluster is running under {self.kafka_home}; "
                    f"stop it with 'orderstream down' (or 'orderstream kafka down') before "
                    f"'up --nodes {self.nodes}'"
                )
            return self._fresh_cluster(self.nodes or 1)
        return previous

    def child_env(self, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env["ORDERSTREAM_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
        env["ORDERSTREAM_HOME"] = str(settings.home)
        env["ORDERSTREAM_REGISTRY_URL"] = settings.registry_url
        env["PYTHONFAULTHANDLER"] = "1"  # native crashes of any child leave Python stacks
        return env

    def ensure_service(
        self,
        spec: ServiceSpec,
        env: dict[str, str],
        report: Callable[[str], None],
        timeout_s: float,
    ) -> bool:
        """Start the service under a supervisor unless it runs; True when this call started it."""
        running = self.recorded(spec)
        current = self.supervised(running)
        if current.supervisor.alive() or current.service.alive():
            report(f"{spec.name}: {_running_line(current, running.port)}")
            return False
        if probe_ready(spec):
            report(f"{spec.name}: port {spec.port} already serves it (not started by up)")
            return False
        service = self.supervised(spec)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._port_file(spec).write_text(str(spec.port))
        service.start(self.argv(spec), env)
        try:
            pid = service.wait_service_pid()
            service.wait_ready(spec.ready_url, timeout_s, probe=spec.probe)
        except BaseException:
            service.stop()
            raise
        report(f"{spec.name}: started (pid {pid}, port {spec.port}); log {service.log_file}")
        return True

    # -- down / ps -----------------------------------------------------------------------------

    def down(self, report: Callable[[str], None], timeout_s: float = 20.0) -> None:
        for part in self.parts.values():
            part.stop(report)
        for spec in reversed(self.services):
            report(f"{spec.name}: {self.supervised(self.recorded(spec)).stop(timeout_s)}")
        if self._read_state().get("started_kafka"):
            cluster = load_spec(self.kafka_home)
            if cluster is not None:
                outcomes = cluster_down(cluster)
                report("kafka: " + ", ".join(f"node {n} {how}" for n, how in outcomes.items()))
            self._write_state({"started_kafka": False})
        else:
            report("kafka: left running (not started by up)")

    def ps(self) -> list[ProcessInfo]:
        parts = [info for part in self.parts.values() for info in part.processes()]
        return [*self._kafka_processes(), *self._service_processes(), *parts]

    def _service_processes(self) -> Iterator[ProcessInfo]:
        for configured in self.services:
            spec = self.recorded(configured)
            service = self.supervised(spec)
            alive = service.service.alive()
            state = service.state()
            yield ProcessInfo(
                spec.name,
                service.service.pid() if alive else None,
                spec.port,
                alive,
                restarts=state.restarts if state is not None else 0,
                supervised=service.supervisor.alive(),
                last_exit=state.last_exit if state is not None else None,
            )

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
        answer = httpx.get(spec.ready_url, timeout=1.0, **probe_client(spec.probe))
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def wait_ready(proc: ManagedProcess, spec: ServiceSpec, timeout_s: float) -> None:
    """Poll the service's readiness URL; PlatformError with its log tail if it dies or stalls."""

    def exited() -> str | None:
        return None if proc.alive() else (proc.exit_description() or "gone")

    log = (proc.log_file, proc.log_tail)
    wait_until_ready(spec.name, spec.ready_url, timeout_s, spec.probe, exited, log)


def _running_line(service: SupervisedService, port: int) -> str:
    """What ``up`` says about a service that is already there."""
    state = service.state()
    if not service.supervisor.alive():
        return (
            f"already running (pid {service.service.pid()}, port {port}; not supervised: "
            "'orderstream down' then 'up' puts it under a supervisor)"
        )
    restarts = state.restarts if state is not None else 0
    if not service.service.alive():
        last = state.last_exit if state is not None else "unknown"
        return f"restarting under its supervisor (last exit: {last}; {restarts} restart(s))"
    return f"already running (pid {service.service.pid()}, port {port}; {restarts} restart(s))"


def register_schemas(env: dict[str, str], report: Callable[[str], None]) -> None:
    """Run ``orderstream schemas register`` against the registry just started."""
    argv = [sys.executable, "-m", CLI_MODULE, "schemas", "register"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PlatformError(f"schemas register failed:\n{(done.stdout + done.stderr)[-2000:]}")
    report("schemas: registered")
