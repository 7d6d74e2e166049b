"""Verification processors as real subprocesses, for fault tests (kill -9, SIGSTOP, SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from orderstream.platform import ports
from orderstream.testing.eos import EosTopics


def _free_port() -> int:
    return ports.free_port()


def metric_value(url: str, name: str) -> float:
    """The value of the unlabelled metric ``name`` in the /metrics page at ``url`` (0 when the
    process does not answer or has no such sample)."""
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


class AggregateProcess:
    """One ``python -m orderstream.testing.aggregate`` instance."""

    def __init__(
        self, bootstrap: str, topics: EosTopics, instance_id: str, state_dir: Path, log: Path
    ) -> None:
        self.instance_id = instance_id
        self.port = _free_port()
        self.log = log
        self.argv = [
            sys.executable, "-m", "orderstream.testing.aggregate",
            "--bootstrap", bootstrap, "--input", topics.input, "--output", topics.output,
            "--changelog", topics.changelog, "--app-id", topics.group,
            "--instance-id", instance_id, "--state-dir", str(state_dir),
            "--http-port", str(self.port), "--snapshot-interval-ms", "500",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM: finish the transaction, leave the group. Returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str) -> float:
        """A metric value from /metrics (0 when the process does not answer)."""
        return metric_value(f"http://127.0.0.1:{self.port}/metrics", name)

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
