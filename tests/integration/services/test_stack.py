"""``up`` starts what is missing, ``ps`` lists it, ``down`` stops what ``up`` started."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orderstream.config import Settings
from orderstream.ops.harness import free_port
from orderstream.ops.processes import wait_dead
from orderstream.ops.stack import SERVICES, Stack

pytestmark = pytest.mark.integration


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


def test_up_ps_kill_up_again_down(pipeline_settings: Settings, tmp_path: Path) -> None:
    settings = pipeline_settings.model_copy(
        update={"home": tmp_path, "registry_url": f"http://127.0.0.1:{free_port()}"}
    )
    services = tuple(dataclasses.replace(s, port=free_port()) for s in SERVICES)
    stack = Stack(settings, services)
    lines: list[str] = []
    try:
        stack.up(lines.append, timeout_s=90)
        assert "schemas: registered" in lines
        rows = _ps_json(tmp_path)
        assert [r["name"] for r in rows] == [s.name for s in SERVICES]
        assert all(r["alive"] and isinstance(r["pid"], int) for r in rows)
        assert {r["port"] for r in rows} == {s.port for s in stack.services}

        orders = next(r for r in rows if r["name"] == "orders")
        pid = int(str(orders["pid"]))
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid, "run orders", 10)
        assert next(r for r in _ps_json(tmp_path) if r["name"] == "orders")["alive"] is False

        lines.clear()
        stack.up(lines.append, timeout_s=90)
        assert any(line.startswith("orders: started") for line in lines), lines
        assert any(line.startswith("registry: already running") for line in lines), lines
        assert any(line.startswith("enrichment: already running") for line in lines), lines
        assert all(r["alive"] for r in _ps_json(tmp_path))
    finally:
        stack.down(lines.append, timeout_s=20)
    assert not any(r["alive"] for r in _ps_json(tmp_path))
