"""Registries for tests: a real registry subprocess against a broker (``running_registry``), and
``MemoryRegistry``, the two client calls ``EventSerde`` makes, for tests without a broker."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from orderstream.platform import ports

START_TIMEOUT_S = 60.0


class MemoryRegistry:
    """The two calls ``EventSerde`` makes, kept in memory: a client for tests without a broker."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def register(self, subject: str, schema: str) -> int:
        return self.ids.setdefault(schema, len(self.ids) + 1)

    def schema_by_id(self, schema_id: int) -> str:
        return next(s for s, i in self.ids.items() if i == schema_id)

    def close(self) -> None:
        pass


def free_port() -> int:
    """A free port outside the ephemeral range (see ``orderstream.platform.ports``)."""
    return ports.free_port()


@dataclass(frozen=True)
class RegistryTls:
    """HTTPS for a test registry: its certificate and key, and the CA that signed them."""

    cert: Path
    key: Path
    ca: Path


def registry_command(
    port: int,
    *,
    auth_file: Path | None = None,
    topic: str = "_schemas",
    tls: RegistryTls | None = None,
) -> list[str]:
    """The argv that starts a registry on 127.0.0.1:``port`` (paths only: no secret in it)."""
    argv = [sys.executable, "-m", "orderstream.cli", "registry"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--topic", topic]
    argv += ["--log-level", "WARNING"]
    if auth_file is not None:
        argv += ["--auth-file", str(auth_file)]
    if tls is not None:
        argv += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--tls-ca", str(tls.ca)]
    return argv


@dataclass
class RegistryProcess:
    """A registry subprocess, its URL and its log (a file: a full pipe would block it)."""

    proc: subprocess.Popen[bytes]
    url: str
    log: IO[bytes]
    verify: ssl.SSLContext | bool = True

    def log_tail(self, size: int = 3000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until the registry read its topic to the end (its status says ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"registry exited with {self.proc.returncode}: {self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(f"{self.url}/_orderstream/status", timeout=2, verify=self.verify)
                if answer.status_code == 200 and answer.json()["ready"]:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"registry at {self.url} not ready after {timeout}s: {self.log_tail()}")

    def stop(self, *, hard: bool = False) -> None:
        """SIGTERM (SIGKILL when ``hard``), SIGKILL after 10 s; always reaps and closes."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def start_registry(
    bootstrap: str,
    port: int | None = None,
    *,
    auth_file: Path | None = None,
    topic: str = "_schemas",
    tls: RegistryTls | None = None,
    env: dict[str, str] | None = None,
) -> RegistryProcess:
    """Start a registry in its own session (so it is killed with its children).

    ``env`` adds variables (e.g. ``ORDERSTREAM_SECURITY__*`` for a SASL principal).
    """
    port = port or free_port()
    full_env = {**os.environ, "ORDERSTREAM_BOOTSTRAP_SERVERS": bootstrap, **(env or {})}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        registry_command(port, auth_file=auth_file, topic=topic, tls=tls),
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if tls is None:
        return RegistryProcess(proc, f"http://127.0.0.1:{port}", log)
    verify = ssl.create_default_context(cafile=str(tls.ca))
    return RegistryProcess(proc, f"https://127.0.0.1:{port}", log, verify)


@contextlib.contextmanager
def running_registry(
    bootstrap: str,
    *,
    port: int | None = None,
    auth_file: Path | None = None,
    topic: str = "_schemas",
) -> Iterator[str]:
    """A registry subprocess on a free port; yields its base URL when ready; always stops it."""
    registry = start_registry(bootstrap, port, auth_file=auth_file, topic=topic)
    try:
        registry.wait_ready()
        yield registry.url
    finally:
        registry.stop()
