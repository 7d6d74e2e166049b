"""Free ports below the kernel's ephemeral range, for servers that chaos restarts.

A client that keeps reconnecting to a dead port inside the ephemeral range can be handed that
very port as its source port and connect to itself; the restarted server then cannot bind it.
Ports below the range are never picked as source ports, so a restarted broker always comes back.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

from orderstream.errors import PlatformError

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000  # below this live well-known and registered services


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(p) for p in RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """``count`` distinct ports that are free now and lie below the ephemeral range."""
    rng = rng or random.Random()
    low = ephemeral_range()[0]
    if low - LOWEST < count * 10:
        raise PlatformError(f"the ephemeral range starts at {low}: no room for {count} ports")
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(LOWEST, low)
        if port not in chosen and _bindable(port):
            chosen.append(port)
    return chosen
