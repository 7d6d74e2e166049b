"""Waiting for a service to answer its readiness URL: one loop for ``up``'s supervised services
and the harness' plain processes, which differ only in how they notice a death."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from orderstream.errors import PlatformError

if TYPE_CHECKING:
    from orderstream.ops.stack_parts import Probe


def probe_client(probe: Probe | None) -> dict[str, Any]:
    """httpx's ``verify`` and ``auth`` for a probe: the CA and credentials over HTTPS, or none."""
    if probe is None:
        return {"verify": True, "auth": None}
    return {"verify": probe.verify(), "auth": probe.auth()}


def wait_until_ready(
    name: str,
    url: str,
    timeout_s: float,
    probe: Probe | None,
    exited: Callable[[], str | None],
    log: tuple[Path, Callable[[], str]],
) -> None:
    """Poll ``url`` until it answers 200; PlatformError with the log's tail when ``exited()``
    names how the service ended, or when it is not ready within ``timeout_s``."""
    log_file, log_tail = log
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0, **probe_client(probe)) as http:
        while time.monotonic() < deadline:
            how = exited()
            if how is not None:
                raise PlatformError(
                    f"{name} exited during start-up ({how}); last lines of {log_file}:\n"
                    f"{log_tail()}"
                )
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise PlatformError(
        f"{name} was not ready at {url} within {timeout_s:.0f}s; last lines of {log_file}:\n"
        f"{log_tail()}"
    )
