"""Helpers of the orders API's fault tests: pause the broker, wait on a condition."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import httpx

from orderstream.ops.harness import ServiceHandle
from orderstream.platform.cluster import read_pid
from orderstream.testing.cluster import LocalCluster


@contextlib.contextmanager
def broker_paused(cluster: LocalCluster) -> Iterator[None]:
    """SIGSTOP the (only) broker; SIGCONT on every path."""
    assert cluster.spec is not None
    pid = read_pid(cluster.spec, cluster.spec.nodes[0])
    assert pid is not None, "the broker has no pid file"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout_s:.0f} s")


def readyz(api: ServiceHandle) -> int:
    try:
        return httpx.get(f"{api.url}/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0
