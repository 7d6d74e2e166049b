"""A watchdog that stops a chaos environment's processes if its driver dies without cleaning up.

The driver talks to brokers it is killing, through librdkafka, and librdkafka can abort the whole
process from a C assertion (see cluster.py); then no ``finally`` runs. So the environment starts
this small detached process first: ``python -m orderstream.chaos.reaper <driver pid> <home>
[<mount>]``. It polls the driver; once the driver is gone it kills every process that belongs to
``home`` (its ``ORDERSTREAM_HOME`` or its command line names it) and unmounts the tmpfs. The
driver's normal teardown calls ``sweep`` too, then stops the reaper.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5


def _belongs(pid: int, home: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return f"ORDERSTREAM_HOME={home}".encode() in environ or f"{home}/".encode() in cmdline


def processes_of(home: Path) -> list[int]:
    """Pids (other than ours) of every process started for ``home``."""
    mine = {os.getpid(), os.getppid()}
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [p for p in pids if p not in mine and _belongs(p, str(home))]


def sweep(home: Path, mount: Path | None) -> list[int]:
    """SIGKILL every process of ``home`` (SIGCONT first: a stopped one must die too), unmount."""
    killed = processes_of(home)
    for pid in killed:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
    if mount is not None and os.path.ismount(mount):
        for argv in (["umount", str(mount)], ["umount", "-l", str(mount)]):
            if subprocess.run(argv, capture_output=True, check=False).returncode == 0:
                break
    return killed


def start_reaper(home: Path, mount: Path | None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "orderstream.chaos.reaper", str(os.getpid()), str(home)]
    argv += [str(mount)] if mount is not None else []
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    reaper.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        reaper.wait(10)


def main(argv: list[str]) -> None:
    driver, home = int(argv[0]), Path(argv[1])
    mount = Path(argv[2]) if len(argv) > 2 else None
    while Path(f"/proc/{driver}").exists():
        time.sleep(POLL_S)
    sweep(home, mount)


if __name__ == "__main__":
    main(sys.argv[1:])
