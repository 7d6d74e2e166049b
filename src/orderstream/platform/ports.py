"""Listening ports outside the kernel's ephemeral range, so a restarted server can always bind.

A client that keeps reconnecting to a dead port on 127.0.0.1 gets a source port from
``net.ipv4.ip_local_port_range``. When the dead port lies inside that range the kernel can pick it
as the source port: the socket connects to itself (a TCP self-connect), holds the port, and the
restarted server fails with "Address already in use". Ports outside the range are never handed
out as source ports, so every port orderstream listens on, default or picked for a test, lies
outside it. ``bind(("127.0.0.1", 0))`` is exactly the wrong tool: it returns an ephemeral port.
"""

from __future__ import annotations

import logging
import random
import socket
from pathlib import Path

logger = logging.getLogger(__name__)

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Where Linux starts when the file cannot be read (not Linux, or a locked-down /proc).
FALLBACK_RANGE = (32768, 60999)
# Picked ports stay above the well-known and registered-service crowd.
LOWEST = 10_000
# The defaults of orderstream itself (DESIGN.md): a test never takes one of these.
DEFAULTS = frozenset(
    {8080, 8081, 8088, 8090, 9092, 9093, 19092, 19093, 29092, 29093, 31092, 31093, 39092, 39093}
)


def ephemeral_range(path: Path = RANGE_FILE) -> tuple[int, int]:
    """The kernel's (first, last) ephemeral port, read from ``ip_local_port_range``."""
    try:
        first, last = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return FALLBACK_RANGE
    return first, last


def is_ephemeral(port: int, path: Path = RANGE_FILE) -> bool:
    first, last = ephemeral_range(path)
    return first <= port <= last


def candidate_bands(path: Path = RANGE_FILE) -> list[tuple[int, int]]:
    """The (first, last) port bands at or above ``LOWEST`` that lie outside the ephemeral range."""
    first, last = ephemeral_range(path)
    bands = [(LOWEST, first - 1), (last + 1, 65_534)]
    return [(lo, hi) for lo, hi in bands if hi - lo >= 100]


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: set[int] | None = None, *, consecutive: int = 1) -> int:
    """A port free right now, outside the ephemeral range, not a default, not in ``taken``.

    With ``consecutive`` > 1, ports ``p .. p + consecutive - 1`` are all free (a node's broker and
    controller, or instance i on base + i). Random choice keeps parallel test sessions apart.
    """
    avoid = DEFAULTS | (taken or set())
    bands = candidate_bands()
    if not bands:
        raise OSError("no port band outside the kernel's ephemeral range is large enough")
    rng = random.SystemRandom()
    for _ in range(2_000):
        lo, hi = rng.choice(bands)
        port = rng.randint(lo, hi - consecutive + 1)
        block = range(port, port + consecutive)
        if not avoid.intersection(block) and all(_bindable(p) for p in block):
            return port
    raise OSError("no free port found outside the kernel's ephemeral range")


def warn_if_ephemeral(port: int, what: str) -> None:
    """Log why a user-chosen port inside the ephemeral range may fail to rebind after a crash."""
    if is_ephemeral(port):
        first, last = ephemeral_range()
        logger.warning(
            "%s port %d is inside the ephemeral range %d-%d: after a crash, a reconnecting "
            "client can take it (TCP self-connect) and the restart fails to bind; pick a port "
            "outside it",
            what,
            port,
            first,
            last,
        )
