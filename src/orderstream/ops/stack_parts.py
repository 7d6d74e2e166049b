"""What the stack is made of: the services ``up`` runs, the processes ``ps`` lists, and the
optional parts a flag of ``up`` adds (``--monitoring``)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orderstream.config import Settings

if TYPE_CHECKING:
    from orderstream.platform.nodes import ClusterSpec

CLI_MODULE = "orderstream.cli"
Report = Callable[[str], None]


@dataclass(frozen=True)
class ServiceSpec:
    """A service ``up`` runs: its ``orderstream`` arguments, port and readiness probe."""

    name: str
    args: tuple[str, ...]  # "{port}" is replaced by the port
    port: int
    ready_path: str = "/readyz"
    # Added by a part (``--secure``'s TLS files): on the command line, not in the marker that
    # identifies the process, so that ``down`` and ``ps`` find it without that part.
    extra_args: tuple[str, ...] = ()
    probe: Probe | None = None  # how readiness is checked over HTTPS; None: plain HTTP

    @property
    def ready_url(self) -> str:
        scheme = "https" if self.probe is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.ready_path}"


@dataclass(frozen=True)
class Probe:
    """Readiness over HTTPS: the CA that signed the service, and whose Basic credentials to
    send (the password is read from its file when the probe runs, never held here)."""

    ca_file: Path
    user: str | None = None
    password_file: Path | None = None

    def verify(self) -> ssl.SSLContext:
        from orderstream.tls import client_context

        return client_context(self.ca_file)

    def auth(self) -> tuple[str, str] | None:
        if self.user is None or self.password_file is None:
            return None
        return self.user, self.password_file.read_text(encoding="utf-8").strip()


# Started in this order, stopped in reverse. One line per service.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("registry", ("registry", "--port", "{port}"), 8081, ready_path="/subjects"),
    ServiceSpec("orders", ("run", "orders", "--port", "{port}"), 8080),
    ServiceSpec("enrichment", ("run", "enrichment", "--http-port", "{port}"), 8090),
    ServiceSpec("analytics", ("run", "analytics", "--port", "{port}"), 8088),
    # payments (issue 13): /metrics carries the provider circuit's state
    ServiceSpec("payments", ("run", "payments", "--http-port", "{port}"), 8092),
)


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    pid: int | None
    port: int | None
    alive: bool
    restarts: int = 0  # by its supervisor since up started it
    supervised: bool = False
    last_exit: str | None = None

    def as_json(self) -> dict[str, object]:
        return asdict(self)  # the JSON keys are the fields' names


# -- optional parts (``up --monitoring``, ``up --secure``) -----------------------------------


class StackPart(Protocol):
    """An optional part of the stack that a flag of ``up`` starts.

    In the order ``up`` calls them: ``cluster`` adapts the local cluster before it starts (and
    ``kafka_ready`` runs once it is up), ``client_settings`` the settings ``up``'s own clients
    use; ``prepare`` runs before the services start (it may start processes and change the
    environment every child gets), ``service`` and ``service_env`` adapt each service, and
    ``start`` runs after them. ``stop`` and ``processes`` (the ones that run now) work whether
    or not this ``up`` started it, so that ``down`` and ``ps`` see it. ``PartDefaults`` has a
    no-op of each, so that a part writes only the hooks it needs.
    """

    name: str

    def cluster(self, spec: ClusterSpec) -> ClusterSpec: ...

    def kafka_ready(self, spec: ClusterSpec, report: Report) -> None: ...

    def client_settings(self, settings: Settings) -> Settings: ...

    def prepare(self, settings: Settings, env: dict[str, str], report: Report) -> None: ...

    def service(self, spec: ServiceSpec) -> ServiceSpec: ...

    def service_env(self, spec: ServiceSpec, env: dict[str, str]) -> dict[str, str]: ...

    def start(self, settings: Settings, report: Report) -> None: ...

    def stop(self, report: Report) -> None: ...

    def processes(self) -> list[ProcessInfo]: ...


class PartDefaults:
    """Every hook of ``StackPart`` as a no-op."""

    def cluster(self, spec: ClusterSpec) -> ClusterSpec:
        return spec

    def kafka_ready(self, spec: ClusterSpec, report: Report) -> None:
        return None

    def client_settings(self, settings: Settings) -> Settings:
        return settings

    def prepare(self, settings: Settings, env: dict[str, str], report: Report) -> None:
        return None

    def service(self, spec: ServiceSpec) -> ServiceSpec:
        return spec

    def service_env(self, spec: ServiceSpec, env: dict[str, str]) -> dict[str, str]:
        return env

    def start(self, settings: Settings, report: Report) -> None:
        return None

    def stop(self, report: Report) -> None:
        return None

    def processes(self) -> list[ProcessInfo]:
        return []


def optional_parts(settings: Settings) -> dict[str, StackPart]:
    """Every optional part by name (the flag of ``up`` that starts it), in the order their
    hooks run: ``secure`` first, since it decides who every other process authenticates as."""
    from orderstream.monitoring.part import MonitoringPart
    from orderstream.ops.secure_part import SecurePart

    return {"secure": SecurePart(settings), "monitoring": MonitoringPart(settings)}
