"""``orderstream run enrichment --instances 2``: two supervised children, restarted after a
crash, all stopped by SIGTERM to the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orderstream.config import Settings
from orderstream.ops.harness import free_port
from orderstream.ops.processes import is_alive

pytestmark = pytest.mark.integration


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not true after {timeout}s")


def _child_pid(instance: int, port: int) -> int:
    """The pid of instance ``instance`` (0 when there is none)."""
    pattern = f"--instance-id {instance} .*--http-port {port}"
    out = subprocess.run(
        ["pgrep", "-f", "--", pattern], capture_output=True, text=True, check=False
    )
    pids = out.stdout.split()
    return int(pids[0]) if pids else 0


def test_instances_are_supervised(pipeline_settings: Settings, tmp_path: Path) -> None:
    base = free_port()
    while not all(_free(p) for p in (base, base + 1)):
        base = free_port()
    env = {
        **os.environ,
        "ORDERSTREAM_BOOTSTRAP_SERVERS": pipeline_settings.bootstrap_servers,
        "ORDERSTREAM_REGISTRY_URL": pipeline_settings.registry_url,
        "ORDERSTREAM_HOME": str(tmp_path),
    }
    argv = [sys.executable, "-m", "orderstream.cli", "run", "enrichment"]
    argv += ["--instances", "2", "--http-port", str(base), "--log-level", "WARNING"]
    parent = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        _wait(lambda: _ready(base) and _ready(base + 1))
        crashed = _child_pid(1, base + 1)
        assert crashed > 0  # os.kill(0, ...) would signal our own process group
        os.kill(crashed, signal.SIGKILL)
        _wait(lambda: _child_pid(1, base + 1) not in (0, crashed) and _ready(base + 1))
        children = [_child_pid(0, base), _child_pid(1, base + 1)]
        assert all(children)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0
        assert not any(is_alive(pid, "run enrichment") for pid in children)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait(10)


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
