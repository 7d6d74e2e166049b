"""Is a pid still the process we started? A pid file alone is no proof: pids are reused."""

from __future__ import annotations

from pathlib import Path


def is_alive(pid: int, marker: str) -> bool:
    """True while ``pid`` runs, is not a zombie, and its argv still carries ``marker``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker.encode() in cmdline.replace(b"\0", b" ")
