"""One service of the stack under its own detached supervisor (see ``ops.supervisor``).

Two processes per service: the supervisor (``<name>-supervisor.pid``) and the service it keeps
running (``<name>.pid``, rewritten by the supervisor on every start). Any command can find both
from the pid files; the one that started the supervisor also holds its ``Popen`` handle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orderstream.errors import PlatformError
from orderstream.ops.processes import ManagedProcess
from orderstream.ops.readiness import wait_until_ready
from orderstream.ops.supervisor import SupervisorState, supervisor_argv, supervisor_marker

if TYPE_CHECKING:
    from orderstream.ops.stack_parts import Probe


@dataclass
class SupervisedService:
    name: str
    run_dir: Path
    marker: str  # of the service's own argv
    service: ManagedProcess = field(init=False)
    supervisor: ManagedProcess = field(init=False)

    def __post_init__(self) -> None:
        self.service = ManagedProcess(self.name, self.run_dir, self.marker)
        marker = supervisor_marker(self.name, self.run_dir)
        self.supervisor = ManagedProcess(f"{self.name}-supervisor", self.run_dir, marker)

    @property
    def log_file(self) -> Path:
        return self.service.log_file

    def state(self) -> SupervisorState | None:
        return SupervisorState.read(self.run_dir, self.name)

    def restarts(self) -> int:
        state = self.state()
        return state.restarts if state is not None else 0

    def start(
        self, argv: Sequence[str], env: Mapping[str, str], stop_timeout_s: float = 20.0
    ) -> int:
        """Start the supervisor, which starts the service; returns the supervisor's pid."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        SupervisorState.path(self.run_dir, self.name).unlink(missing_ok=True)
        self.service.pid_file.unlink(missing_ok=True)
        return self.supervisor.start(
            supervisor_argv(self.name, self.run_dir, list(argv), stop_timeout_s), env
        )

    def wait_service_pid(self, timeout_s: float = 30.0) -> int:
        """The service's pid, once its supervisor has started it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.state()
            if state is not None and state.pid is not None:
                return state.pid
            self._check_supervisor()
            time.sleep(0.05)
        raise PlatformError(f"{self.name}'s supervisor did not start it within {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 20.0) -> str:
        """Supervisor first (it stops the service and restarts nothing), then any leftover."""
        how = self.supervisor.stop(timeout_s + 15.0)
        leftover = self.service.stop(timeout_s)
        if how == "not running":
            return leftover
        return how if leftover == "not running" else f"{how}; service {leftover}"

    def wait_ready(self, url: str, timeout_s: float, probe: Probe | None = None) -> None:
        """Poll ``url`` (over HTTPS as ``probe`` says); PlatformError with the log tail if the
        service exits or stalls."""

        def exited() -> str | None:
            self._check_supervisor()
            state = self.state()
            return state.last_exit if state is not None else None

        log = (self.log_file, self.service.log_tail)
        wait_until_ready(self.name, url, timeout_s, probe, exited, log)

    def _check_supervisor(self) -> None:
        if not self.supervisor.alive():
            how = self.supervisor.exit_description() or "gone"
            raise PlatformError(
                f"{self.name}'s supervisor exited ({how}); last lines of "
                f"{self.supervisor.log_file}:\n{self.supervisor.log_tail()}"
            )
