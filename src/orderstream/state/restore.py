"""Restoring a store partition from its changelog: where to start, and applying what is read.

The reading itself (a ``read_committed`` consumer) is the runtime's; this module decides from the
changelog's offsets whether a snapshot can be trusted, and applies restored batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from orderstream.state.store import Change, StoreBackend

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestorePlan:
    """Replay the changelog partition from ``start`` up to (not including) ``end``."""

    start: int
    end: int
    wiped: bool  # the local snapshot was discarded

    @property
    def records(self) -> int:
        return max(0, self.end - self.start)


def plan_restore(backend: StoreBackend, low: int, end: int, what: str) -> RestorePlan:
    """Where replay starts, given the changelog's low offset and (read_committed) end offset.

    A snapshot ahead of the changelog (the topic was recreated, or the snapshot belongs to another
    history) or older than the changelog's low offset (the records in between were deleted) cannot
    be completed by replay: it is wiped and the partition is rebuilt from the start.
    """
    offset = backend.changelog_offset
    if offset is None:
        return RestorePlan(start=low, end=end, wiped=False)
    if offset > end or offset < low:
        logger.warning(
            "snapshot cannot be trusted, rebuilding",
            extra={"store": what, "snapshot_offset": offset, "low": low, "end": end},
        )
        backend.wipe()
        return RestorePlan(start=low, end=end, wiped=True)
    return RestorePlan(start=offset, end=end, wiped=False)


def apply_restored(backend: StoreBackend, changes: Sequence[Change], next_offset: int) -> None:
    """Apply a batch of committed changelog records; ``next_offset`` follows the last one."""
    backend.apply(changes, next_offset)
