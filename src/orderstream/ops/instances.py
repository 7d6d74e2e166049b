"""Run N instances of a service as child processes, restart any that crash, stop all on signal.

``orderstream run enrichment --instances N`` uses it: each child is the same command with its
own ``--instance-id`` and HTTP port. A child that exits by itself (a crash, kill -9) is started
again after a short back-off; SIGTERM or SIGINT to the parent is forwarded to every child.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

from orderstream.ops.supervisor import describe_exit

logger = logging.getLogger(__name__)

RESTART_BACKOFF_S = 1.0


class InstanceSupervisor:
    """Keeps one child process per argv alive until asked to stop."""

    def __init__(self, argvs: Sequence[Sequence[str]], env: Mapping[str, str] | None = None):
        self._argvs = [list(a) for a in argvs]
        self._env = dict(env) if env is not None else None
        self._children: list[subprocess.Popen[bytes] | None] = [None] * len(self._argvs)
        self._stopping = False

    def run(self, stop_timeout_s: float = 20.0) -> None:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        try:
            for i in range(len(self._argvs)):
                self._start(i)
            while not self._stopping:
                self._restart_exited()
                time.sleep(0.2)
        finally:
            self._stop_all(stop_timeout_s)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self, i: int) -> None:
        child = subprocess.Popen(self._argvs[i], env=self._env)
        self._children[i] = child
        logger.info("instance started", extra={"instance": i, "pid": child.pid})

    def _restart_exited(self) -> None:
        for i, child in enumerate(self._children):
            if child is None or child.poll() is None:
                continue
            logger.warning(
                "instance exited; restarting",
                extra={
                    "instance": i,
                    "pid": child.pid,
                    "returncode": child.returncode,
                    "exit": describe_exit(child.returncode),
                },
            )
            time.sleep(RESTART_BACKOFF_S)
            if not self._stopping:
                self._start(i)

    def _stop_all(self, timeout_s: float) -> None:
        alive = [c for c in self._children if c is not None and c.poll() is None]
        for child in alive:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in alive:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)
