"""Is a pid still the process we started? A pid file alone is no proof: pids are reused.

The argv check has one trap. ``subprocess.Popen`` returns as soon as the child's close-on-exec
error pipe closes, which the kernel does early in ``execve`` (``begin_new_exec``), before it has
set up the new argv (``create_elf_tables``). In that window ``/proc/<pid>/cmdline`` reads empty,
and on a loaded machine the window lasts long enough to be seen (31 of 300 starts under three CPU
burners). A check that read it then called a running process dead. An empty cmdline of a live
process therefore means "not decided yet", and the check reads it again.
"""

from __future__ import annotations

import time
from pathlib import Path

# How long an exec'ing process may show an empty argv before we believe it (a kernel thread,
# which never gets one, is not ours anyway).
EXEC_SETTLE_S = 5.0


def _state(pid: int) -> str | None:
    """The one-letter process state, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _threads_alive(pid: int) -> bool:
    """True while any thread of ``pid`` has not exited yet.

    When a multi-threaded process (a JVM) is killed, its leader thread can turn zombie before
    the others have exited, and the process keeps its sockets (the broker's listening port)
    until the last thread is gone. A zombie leader alone does not make the process dead.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            return True
    return False


def is_alive(pid: int, marker: str) -> bool:
    """True while ``pid`` runs (any of its threads), and its argv carries ``marker``."""
    deadline = time.monotonic() + EXEC_SETTLE_S
    while True:
        state = _state(pid)
        if state is None:
            return False
        if state in ("Z", "X"):
            return _threads_alive(pid)
        cmdline = _cmdline(pid)
        if cmdline is None:
            return False
        if cmdline or time.monotonic() >= deadline:
            return marker.encode() in cmdline.replace(b"\0", b" ")
        time.sleep(0.01)  # mid-exec: the new argv is not mapped yet
