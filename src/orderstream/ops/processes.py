"""Background processes with pid files: start detached, check liveness, stop gracefully.

A pid file alone is not proof: a pid can be reused. A process started by another command counts
as alive only while its ``/proc/<pid>/cmdline`` still carries the marker it was started with, and
it is not a zombie (``platform.procs``). A process this object started itself is judged by its
``Popen`` handle, which cannot be wrong: ``poll()`` is None exactly while the child runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orderstream.ops.supervisor import describe_exit
from orderstream.platform.procs import is_alive


@dataclass
class ManagedProcess:
    """One background process: where its pid and log live and how to recognise it."""

    name: str
    run_dir: Path
    marker: str  # a string of its argv that no other process of ours has
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        if self._popen is not None and self._popen.pid == pid:
            return self._popen.poll() is None
        return is_alive(pid, self.marker)

    def exit_description(self) -> str | None:
        """How our own child ended ('exit code 1', 'killed by signal SIGSEGV (11)'), if it did."""
        if self._popen is None or self._popen.poll() is None:
            return None
        return describe_exit(self._popen.returncode)

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
        """Start detached (own session), stdout and stderr appended to the log file."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(env) if env is not None else None,
            )
        self._popen = proc
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout_s: float = 20.0) -> str:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns how it stopped."""
        if self._popen is not None:
            return self._stop_own(self._popen, timeout_s)
        pid = self.pid()
        if pid is None or not is_alive(pid, self.marker):
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        how = "stopped"
        send(pid, signal.SIGTERM)
        if not wait_dead(pid, self.marker, timeout_s):
            send(pid, signal.SIGKILL)
            wait_dead(pid, self.marker, 10.0)
            how = "killed"
        self.pid_file.unlink(missing_ok=True)
        return how

    def kill(self, sig: signal.Signals = signal.SIGKILL, timeout_s: float = 10.0) -> None:
        """A crash (SIGKILL, SIGSEGV...): no clean shutdown; returns once it is gone."""
        pid = self.pid()
        if pid is None:
            return
        send(pid, sig)
        if self._popen is not None and self._popen.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout_s)
            return
        wait_dead(pid, self.marker, timeout_s)

    def _stop_own(self, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
        """Stop our own child and whatever it left in its session, judged dead or not."""
        how = "not running"
        if proc.poll() is None:
            how = "stopped"
            send(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                how = "killed"
        # The child leads its own session (start_new_session): SIGKILL the group so that
        # nothing it started survives it, then reap it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        self.pid_file.unlink(missing_ok=True)
        return how

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def send(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def wait_dead(pid: int, marker: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reap(pid)
        if not is_alive(pid, marker):
            return True
        time.sleep(0.05)
    return not is_alive(pid, marker)


def reap(pid: int) -> None:
    """Collect a child of ours that exited, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
