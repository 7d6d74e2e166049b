"""``run orders --workers N``: N uvicorn processes on one port, each with its own listening socket.

One Python process serves one core at most (the GIL), so the API runs as N worker processes.
Each binds the port with SO_REUSEPORT, and the kernel spreads new connections over their
sockets evenly (a shared accept queue would let one busy worker take most of them). What the
API promises across workers:

- idempotency: the workers share one ledger file (shared_ledger.py), so a retry or a reused key
  gets the same answer whichever worker it reaches;
- ``/metrics``: the workers' values are summed by whichever worker is scraped (metrics.py);
- ``GET /orders/{id}`` and ``/readyz``: each worker reads ``enriched-orders`` itself, so each
  answers for the whole topic; ``/readyz`` is the readiness of the worker that answers;
- SIGTERM or SIGINT to the supervisor reaches every worker, which drains and flushes its producer
  (uvicorn's graceful shutdown); a worker that dies is restarted (ops/instances.py), and a worker
  whose supervisor died (kill -9) exits instead of serving on alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from orderstream.errors import ConfigError
from orderstream.ops.instances import InstanceSupervisor
from orderstream.services.orders.metrics import MULTIPROC_ENV
from orderstream.tls import ServerTls

logger = logging.getLogger(__name__)

BACKLOG = 2048


def worker_count(option: str) -> int:
    """``--workers``: a number of processes, or ``auto`` for one per CPU."""
    if option == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if not option.isdigit() or int(option) < 1:
        raise ConfigError(f"--workers must be 'auto' or a number of at least 1, got {option!r}")
    return int(option)


def reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port`` with SO_REUSEPORT (listening unless told not to)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if listen:
        sock.listen(BACKLOG)
        sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _port_reserved(host: str, port: int) -> Iterator[None]:
    """Bind the port (without listening, so it takes no connections) for the workers' lifetime:
    a port in use fails here with a clear error instead of in a restart loop of workers."""
    sock = reuseport_socket(host, port, listen=False)
    try:
        yield
    finally:
        sock.close()


def exit_with_supervisor() -> None:
    """A worker whose supervisor is gone (killed with -9) stops rather than serve on alone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        logger.warning("the orders supervisor is gone; this worker stops", extra={"pid": parent})
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown: drain and flush

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def worker_argv(
    host: str, port: int, tls: ServerTls | None, log_level: str, shared: Path
) -> list[str]:
    argv = [sys.executable, "-m", "orderstream.cli", "run", "orders", "--host", host]
    argv += ["--port", str(port), "--log-level", log_level, "--worker-of", str(shared)]
    if tls is not None:
        argv += ["--tls-cert", str(tls.certfile), "--tls-key", str(tls.keyfile)]
    return argv


def supervise_workers(
    workers: int, host: str, port: int, tls: ServerTls | None, log_level: str
) -> None:
    """Run ``workers`` worker processes until SIGTERM/SIGINT; their shared files die with them."""
    with tempfile.TemporaryDirectory(prefix="orders-workers-") as tmp, _port_reserved(host, port):
        shared = Path(tmp)
        (shared / "metrics").mkdir()
        env = {**os.environ, MULTIPROC_ENV: str(shared / "metrics")}
        scheme = "https" if tls is not None else "http"
        logger.info(
            "orders API starting",
            extra={"url": f"{scheme}://{host}:{port}", "workers": workers},
        )
        argv = worker_argv(host, port, tls, log_level, shared)
        InstanceSupervisor([argv] * workers, env).run()
