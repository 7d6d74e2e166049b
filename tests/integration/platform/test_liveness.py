"""The /proc liveness check never calls a process dead while any of its threads still runs.

A killed JVM's leader thread can turn zombie before its other threads exit, and until the last
one has, the process still holds its sockets (a broker's port). Here a Python child makes the
same shape on purpose: its leader thread exits, its other threads keep running.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from orderstream.platform.procs import is_alive

LEADER_EXITS = """
import ctypes, threading, time
def spin():
    while True:
        time.sleep(0.05)
for _ in range(4):
    threading.Thread(target=spin).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def _leader_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]


def test_a_zombie_leader_with_live_threads_is_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", LEADER_EXITS, "leader-exits-marker"])
    try:
        deadline = time.monotonic() + 30
        while _leader_state(proc.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _leader_state(proc.pid) == "Z"
        assert is_alive(proc.pid, "leader-exits-marker")
    finally:
        proc.kill()
        proc.wait(10)
    assert not is_alive(proc.pid, "leader-exits-marker")


def test_kernel_threads_and_missing_pids_are_not_ours() -> None:
    assert not is_alive(2, "")  # kthreadd: no argv, and no wait for one
    assert not is_alive(4_194_305, "")  # above pid_max
