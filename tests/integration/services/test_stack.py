"""``up`` starts what is missing under supervisors that outlive it, ``ps`` lists it with restart
counts, a service killed with SIGKILL or SIGSEGV comes back by itself and its log says how it
ended, and ``down`` stops the supervisors first, then everything else."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orderstream.config import Settings
from orderstream.ops.harness import free_port
from orderstream.ops.stack import SERVICES, ServiceSpec, Stack
from orderstream.platform.procs import is_alive

pytestmark = pytest.mark.integration

# Runs ``Stack.up`` in a process of its own that then exits: the supervisors must outlive it.
UP_SCRIPT = """
import json, sys
from orderstream.config import Settings
from orderstream.ops.stack import ServiceSpec, Stack
cfg = json.loads(sys.argv[1])
services = tuple(ServiceSpec(s["name"], tuple(s["args"]), s["port"], s["ready_path"])
                 for s in cfg["services"])
Stack(Settings(**cfg["settings"]), services).up(print, timeout_s=120)
"""


def _ps_json(home: Path) -> list[dict[str, object]]:
    env = {**os.environ, "ORDERSTREAM_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "ps", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def _row(home: Path, name: str) -> dict[str, object]:
    return next(r for r in _ps_json(home) if r["name"] == name)


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _up_in_a_process_that_exits(settings: Settings, services: tuple[ServiceSpec, ...]) -> str:
    cfg = {
        "settings": {
            "bootstrap_servers": settings.bootstrap_servers,
            "registry_url": settings.registry_url,
            "home": str(settings.home),
        },
        "services": [dataclasses.asdict(s) for s in services],
    }
    done = subprocess.run(
        [sys.executable, "-c", UP_SCRIPT, json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _crash_and_see_it_back(home: Path, stack: Stack, name: str, sig: signal.Signals) -> None:
    before = _row(home, name)
    os.kill(int(str(before["pid"])), sig)
    _wait_for(
        f"{name} restarted after {sig.name}",
        lambda: (r := _row(home, name))["alive"] is True
        and r["pid"] != before["pid"]
        and r["restarts"] == int(str(before["restarts"])) + 1,
    )
    log = (stack.run_dir / f"{name}.log").read_text(errors="replace")
    assert f"{name} exited (killed by signal {sig.name} ({sig.value}))" in log
    row = _row(home, name)
    assert row["last_exit"] == f"killed by signal {sig.name} ({sig.value})"
    if sig is signal.SIGSEGV:
        # faulthandler: the crash left the Python stacks of the process in its log.
        assert "Fatal Python error: Segmentation fault" in log
        assert "most recent call first" in log


def test_up_supervises_ps_counts_restarts_down_stops_all(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings.model_copy(
        update={"home": tmp_path, "registry_url": f"http://127.0.0.1:{free_port()}"}
    )
    services = tuple(dataclasses.replace(s, port=free_port()) for s in SERVICES)
    stack = Stack(settings, services)
    lines: list[str] = []
    try:
        out = _up_in_a_process_that_exits(settings, services)
        assert "schemas: registered" in out
        rows = _ps_json(tmp_path)
        assert [r["name"] for r in rows] == [s.name for s in SERVICES]
        assert all(r["alive"] and r["supervised"] and isinstance(r["pid"], int) for r in rows)
        assert all(r["restarts"] == 0 for r in rows)
        assert {r["port"] for r in rows} == {s.port for s in stack.services}

        _crash_and_see_it_back(tmp_path, stack, "orders", signal.SIGKILL)
        _crash_and_see_it_back(tmp_path, stack, "enrichment", signal.SIGSEGV)

        stack.up(lines.append, timeout_s=120)
        for name in ("registry", "orders", "enrichment", "analytics"):
            assert any(line.startswith(f"{name}: already running") for line in lines), lines
    finally:
        pids = _all_pids(stack)
        stack.down(lines.append, timeout_s=20)
    assert not any(r["alive"] or r["supervised"] for r in _ps_json(tmp_path))
    # Nothing is left: no supervisor and no service pid we ever saw is still running.
    assert pids and not [p for p, marker in pids if is_alive(p, marker)]


def _all_pids(stack: Stack) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for spec in stack.services:
        service = stack.supervised(spec)
        for proc in (service.service, service.supervisor):
            pid = proc.pid()
            if pid is not None:
                found.append((pid, proc.marker))
    return found
