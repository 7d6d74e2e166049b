"""The pipeline's processes on free ports, for tests and benchmarks against any cluster.

``orderstream up`` runs the stack on fixed ports under ``$ORDERSTREAM_HOME``; this harness runs
the same commands (``orderstream run orders|enrichment``) on free ports under a directory of its
own, so tests can start, kill -9 and restart instances one by one, and always stop them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orderstream.config import Settings
from orderstream.ops.processes import ManagedProcess
from orderstream.ops.stack import ServiceSpec, register_schemas, wait_ready
from orderstream.platform import ports
from orderstream.platform.topology import apply_plan, plan_topology
from orderstream.testing.cluster import LocalCluster, local_cluster
from orderstream.testing.registry import running_registry


def free_port() -> int:
    """A free port outside the ephemeral range (see ``orderstream.platform.ports``)."""
    return ports.free_port()


@dataclass
class ServiceHandle:
    """One started service process."""

    process: ManagedProcess
    spec: ServiceSpec
    argv: list[str]
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid()

    def alive(self) -> bool:
        return self.process.alive()

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        wait_ready(self.process, self.spec, timeout_s)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """A crash: SIGKILL (or another fatal signal), no clean shutdown."""
        self.process.kill(sig)

    def restart(self, timeout_s: float = 120.0) -> None:
        self.process.start(self.argv, self.env)
        self.ready_or_stop(timeout_s)

    def ready_or_stop(self, timeout_s: float) -> None:
        """Wait until ready; on any failure stop the process first, whatever state it is in."""
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 20.0) -> str:
        return self.process.stop(timeout_s)


@dataclass
class PipelineHarness:
    """Starts orders and enrichment processes against ``settings``' cluster and registry."""

    settings: Settings
    run_dir: Path
    handles: list[ServiceHandle] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ORDERSTREAM_BOOTSTRAP_SERVERS"] = self.settings.bootstrap_servers
        env["ORDERSTREAM_REGISTRY_URL"] = self.settings.registry_url
        env["ORDERSTREAM_HOME"] = str(self.run_dir)
        env["ORDERSTREAM_PREFIX"] = self.settings.prefix  # the pipeline copy (topics, groups)
        return env

    def prepare(self) -> None:
        """Apply the topology and register the schemas (both idempotent)."""
        admin, plan = plan_topology(self.settings)
        if not plan.empty:
            apply_plan(admin, plan)
        register_schemas(self.env(), lambda _line: None)

    def start_orders(self, *options: str, wait: bool = True) -> ServiceHandle:
        """``orderstream run orders`` on a free port with ``options`` (``--workers N``)."""
        port = free_port()
        spec = ServiceSpec("orders", ("run", "orders", "--port", str(port)), port)
        return self._start(spec, f"orders-{port}", ["--log-level", "WARNING", *options], wait)

    def start_enrichment(
        self,
        instance_id: str = "0",
        *,
        commit_interval_ms: int = 100,
        wait: bool = True,
        options: tuple[str, ...] = (),
    ) -> ServiceHandle:
        port = free_port()
        args = ("run", "enrichment", "--instance-id", instance_id, "--http-port", str(port))
        spec = ServiceSpec(f"enrichment-{instance_id}", args, port)
        extra = ["--commit-interval-ms", str(commit_interval_ms), "--log-level", "WARNING"]
        extra += options
        return self._start(spec, spec.name, extra, wait)

    def start_payments(
        self, *options: str, instance_id: str = "0", wait: bool = True
    ) -> ServiceHandle:
        """``orderstream run payments`` with ``options`` (provider rules, deadlines)."""
        port = free_port()
        args = ("run", "payments", "--instance-id", instance_id, "--http-port", str(port))
        spec = ServiceSpec(f"payments-{instance_id}", args, port)
        return self._start(spec, spec.name, ["--log-level", "WARNING", *options], wait)

    def start_analytics(
        self, *options: str, instance_id: str | None = None, wait: bool = True
    ) -> ServiceHandle:
        """``orderstream run analytics`` (dashboard on a free port) with ``options``; one of
        several in a group takes an ``instance_id`` (its transactional.id, pid file and log)."""
        port = free_port()
        args: tuple[str, ...] = ("run", "analytics", "--port", str(port))
        if instance_id is not None:
            args += ("--instance-id", instance_id)
        spec = ServiceSpec("analytics" + (f"-{instance_id}" if instance_id else ""), args, port)
        return self._start(spec, spec.name, ["--log-level", "WARNING", *options], wait)

    def _start(self, spec: ServiceSpec, name: str, extra: list[str], wait: bool) -> ServiceHandle:
        marker = " ".join(spec.args)
        process = ManagedProcess(name, self.run_dir / "services", marker)
        argv = [sys.executable, "-m", "orderstream.cli", *spec.args, *extra]
        handle = ServiceHandle(process, spec, argv, self.env())
        self.handles.append(handle)  # before start: stop_all covers it whatever happens next
        process.start(argv, handle.env)
        if wait:
            handle.ready_or_stop(120.0)
        return handle

    def stop_all(self) -> None:
        """Stop every handle, even when stopping one of them fails."""
        errors: list[BaseException] = []
        for handle in reversed(self.handles):
            try:
                handle.stop()
            except Exception as exc:  # the others must be stopped too
                errors.append(exc)
        if errors:
            raise errors[0]


@contextlib.contextmanager
def pipeline_environment(
    home: Path, cache_dir: Path, nodes: int = 1
) -> Iterator[tuple[LocalCluster, Settings]]:
    """A fresh local cluster with the topology applied and a registry with the schemas.

    Yields the cluster and the settings that point at it; stops both afterwards.
    """
    with local_cluster(home / "kafka", cache_dir, nodes=nodes) as cluster:
        cluster.create_topic("_schemas", partitions=1, config={"cleanup.policy": "compact"})
        with running_registry(cluster.bootstrap) as url:
            settings = Settings(bootstrap_servers=cluster.bootstrap, registry_url=url, home=home)
            PipelineHarness(settings, home / "prepare").prepare()
            yield cluster, settings
