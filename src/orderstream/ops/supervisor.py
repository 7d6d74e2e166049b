"""A small detached supervisor per service: restart on crash with backoff, log every exit.

``orderstream up`` starts one ``python -m orderstream.ops.supervisor`` per service, in a session
of its own, so it outlives ``up``. The supervisor is the service's parent: it learns each exit
from ``waitpid`` (an exit code or a signal, not a guess from ``/proc``), writes a line saying how
the service ended into the service's log, and starts it again after a backoff that doubles from
1 s up to 30 s and resets once a run has lasted a minute. ``down`` stops the supervisor first
(SIGTERM): it stops its service, SIGTERM then SIGKILL, and exits, so nothing is restarted behind
``down``'s back.

Files in the run directory, per service ``<name>``: ``<name>.pid`` (the service, rewritten on
every start), ``<name>.log`` (the service's output and the supervisor's exit lines),
``<name>-supervisor.pid`` / ``.log``, and ``<name>.state.json`` (restarts, last exit).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_RUN_S = 60.0  # a run this long resets the backoff


def describe_exit(returncode: int) -> str:
    """'exit code 1' or 'killed by signal SIGSEGV (11)', from a Popen return code."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "unknown signal"
    return f"killed by signal {name} ({-returncode})"


@dataclass
class SupervisorState:
    """What ``ps`` shows: restarts so far and how the last run ended."""

    supervisor_pid: int
    pid: int | None = None
    restarts: int = 0
    last_exit: str | None = None
    last_exit_at: str | None = None
    next_start_in_s: float | None = None

    @staticmethod
    def path(run_dir: Path, name: str) -> Path:
        return run_dir / f"{name}.state.json"

    @classmethod
    def read(cls, run_dir: Path, name: str) -> SupervisorState | None:
        try:
            data = json.loads(cls.path(run_dir, name).read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    def write(self, run_dir: Path, name: str) -> None:
        tmp = self.path(run_dir, name).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(self.path(run_dir, name))  # atomic: ps never reads half a file


class Supervisor:
    """Keeps one service process running until SIGTERM or SIGINT."""

    def __init__(self, name: str, run_dir: Path, argv: list[str], stop_timeout_s: float) -> None:
        self.name = name
        self.run_dir = run_dir
        self.argv = argv
        self.stop_timeout_s = stop_timeout_s
        self.state = SupervisorState(supervisor_pid=os.getpid())
        self._stopping = False
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        backoff = BACKOFF_FIRST_S
        while not self._stopping:
            started = time.monotonic()
            returncode = self._run_once()
            if self._stopping:
                break
            backoff = BACKOFF_FIRST_S if time.monotonic() - started >= STABLE_RUN_S else backoff
            self._record_exit(returncode, backoff)
            self._sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.state.restarts += 1
        self._finish()
        return 0

    def _on_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _run_once(self) -> int:
        with self.log_file.open("ab") as log:
            self._child = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        (self.run_dir / f"{self.name}.pid").write_text(str(self._child.pid))
        self.state.pid, self.state.next_start_in_s = self._child.pid, None
        self.state.write(self.run_dir, self.name)
        while True:
            try:
                return self._child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if self._stopping:
                    return self._stop_child()

    def _stop_child(self) -> int:
        assert self._child is not None
        self._child.send_signal(signal.SIGTERM)
        try:
            return self._child.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self._child.kill()
            return self._child.wait()

    def _record_exit(self, returncode: int, backoff: float) -> None:
        how = describe_exit(returncode)
        self.state.pid, self.state.last_exit = None, how
        self.state.last_exit_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.state.next_start_in_s = backoff
        self.state.write(self.run_dir, self.name)
        self._log(
            "warning",
            f"{self.name} exited ({how}); restarting in {backoff:.0f}s "
            f"(restart {self.state.restarts + 1})",
            exit=how,
            restarts=self.state.restarts + 1,
        )

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _finish(self) -> None:
        how = describe_exit(self._child.returncode) if self._child is not None else "not started"
        if self._child is not None and self._child.returncode is None:
            how = describe_exit(self._stop_child())
        (self.run_dir / f"{self.name}.pid").unlink(missing_ok=True)
        self.state.pid, self.state.next_start_in_s = None, None
        self.state.write(self.run_dir, self.name)
        self._log("info", f"{self.name} stopped by its supervisor ({how})", exit=how)

    def _log(self, level: str, event: str, **fields: object) -> None:
        """One JSON line, like the services' own, into the service's log (and ours)."""
        line = {
            "event": event,
            "level": level,
            "logger": "orderstream.supervisor",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "service": self.name,
            **fields,
        }
        text = json.dumps(line) + "\n"
        with self.log_file.open("a") as log:
            log.write(text)
        sys.stderr.write(text)
        sys.stderr.flush()


def supervisor_argv(name: str, run_dir: Path, argv: list[str], stop_timeout_s: float) -> list[str]:
    """The command line that supervises ``argv`` as service ``name``."""
    return [
        sys.executable, "-m", "orderstream.ops.supervisor", "--name", name,
        "--run-dir", str(run_dir), "--stop-timeout", str(stop_timeout_s), "--", *argv,
    ]  # fmt: skip


def supervisor_marker(name: str, run_dir: Path) -> str:
    """The part of the supervisor's argv that identifies it (see ``platform.procs``)."""
    return f"orderstream.ops.supervisor --name {name} --run-dir {run_dir}"


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderstream.ops.supervisor")
    parser.add_argument("--name", required=True)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--stop-timeout", type=float, default=20.0)
    parser.add_argument("argv", nargs="+")
    ns = parser.parse_args(args)
    return Supervisor(ns.name, ns.run_dir, ns.argv, ns.stop_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
