"""What the stack is made of: the services ``up`` runs, the processes ``ps`` lists, and the
optional parts a flag of ``up`` adds (``--monitoring``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from orderstream.config import Settings

CLI_MODULE = "orderstream.cli"
Report = Callable[[str], None]


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
        return {
            "name": self.name,
            "pid": self.pid,
            "port": self.port,
            "alive": self.alive,
            "restarts": self.restarts,
            "supervised": self.supervised,
            "last_exit": self.last_exit,
        }


# -- optional parts (``up --monitoring``; ``--secure`` and others add theirs here) -------------


class StackPart(Protocol):
    """An optional part of the stack that a flag of ``up`` starts.

    ``prepare`` runs before the services start (it may start processes and add to the services'
    environment), ``start`` after them; ``stop`` and ``processes`` (the ones that run now) work
    whether or not this ``up`` started it, so that ``down`` and ``ps`` see it.
    """

    name: str

    def prepare(self, settings: Settings, env: dict[str, str], report: Report) -> None: ...

    def start(self, settings: Settings, report: Report) -> None: ...

    def stop(self, report: Report) -> None: ...

    def processes(self) -> list[ProcessInfo]: ...


def optional_parts(settings: Settings) -> dict[str, StackPart]:
    """Every optional part by name (the flag of ``up`` that starts it)."""
    from orderstream.monitoring.part import MonitoringPart

    return {"monitoring": MonitoringPart(settings)}
