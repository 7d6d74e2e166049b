"""Services started while CPU burners load both cores: the liveness check never calls a running
process dead, and every process the harness started is gone afterwards, including one it was
made to judge dead.

The root cause of the false "exited during start-up": ``Popen`` returns as soon as the child's
close-on-exec pipe closes, early in ``execve``, before the kernel maps the new argv, so
``/proc/<pid>/cmdline`` can still read empty. On a loaded machine that window is wide enough to
hit, and the old check called the process dead and then skipped it when stopping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.errors import PlatformError
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.processes import ManagedProcess
from orderstream.platform.procs import is_alive

pytestmark = pytest.mark.faults

STARTS = 100


@pytest.fixture
def cpu_burners() -> Iterator[list[subprocess.Popen[bytes]]]:
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield burners
    finally:
        for burner in burners:
            burner.kill()
            burner.wait(10)


def _ours(run_dir: Path) -> list[int]:
    """Pids of live processes started with ``ORDERSTREAM_HOME=run_dir``."""
    found = []
    needle = f"ORDERSTREAM_HOME={run_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in env and is_alive(int(proc.name), ""):
            found.append(int(proc.name))
    return found


def test_liveness_right_after_start_is_never_wrong(
    cpu_burners: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    judged_dead = []
    for i in range(STARTS):
        marker = f"liveness-probe-{i}"
        own = ManagedProcess(f"p{i}", tmp_path, marker)
        own.start([sys.executable, "-c", "import time; time.sleep(30)", marker])
        pid = own.pid()
        assert pid is not None
        # From the starter (Popen) and from any other command (/proc argv), at once.
        if not own.alive() or not is_alive(pid, marker):
            judged_dead.append(i)
        assert own.stop(5) == "stopped"
        assert not is_alive(pid, marker)
    assert not judged_dead, f"{len(judged_dead)} of {STARTS} running processes judged dead"


def test_services_start_under_load_and_nothing_is_left(
    cpu_burners: list[subprocess.Popen[bytes]], harness: PipelineHarness
) -> None:
    handles = [harness.start_orders(), harness.start_enrichment("a"), harness.start_enrichment("b")]
    assert all(h.alive() for h in handles)

    # A process the harness judges dead on start-up is stopped all the same.
    misjudged = harness.start_enrichment("c", wait=False)
    pid = misjudged.pid
    assert pid is not None and is_alive(pid, misjudged.process.marker)
    misjudged.process.alive = lambda: False  # type: ignore[method-assign]
    with pytest.raises(PlatformError, match="exited during start-up"):
        misjudged.ready_or_stop(60)
    assert not os.path.exists(f"/proc/{pid}") or not is_alive(pid, misjudged.process.marker)

    harness.stop_all()
    assert not _ours(harness.run_dir), "processes left behind by the harness"
