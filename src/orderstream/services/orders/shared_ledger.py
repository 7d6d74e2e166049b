"""The idempotency ledger shared by the workers of one orders API (``run orders --workers N``).

The kernel spreads connections over the workers (SO_REUSEPORT), so a retry may reach another
worker than its first attempt, even at the same moment. Each worker's ``OrdersFollower`` learns
the others' writes only after a fetch, so a ledger per process would answer a quick retry with a
second write (another timestamp) instead of ``replayed``, and a reused key with 202 instead of
409. This ledger is one LMDB file that every worker maps: a claim is one write transaction, and
LMDB serialises writers across processes, so of two workers claiming one orderId at once exactly
one publishes first and the other sees its claim (same digest: the same timestamp, so the same
OrderCreated; another digest: 409).

Same semantics as ``IdempotencyLedger`` (idempotency.py), and the same bounds: entries older
than the window count as absent, and at most ``max_entries`` are kept, the oldest dropped first
(an index by time, swept every ``SWEEP_EVERY`` puts).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import lmdb

from orderstream.services.orders.idempotency import WINDOW_S, Claim, Verdict

_VALUE = struct.Struct(">q?")  # event timestamp ms, written; the digest follows
_TIME = struct.Struct(">q")  # the index key: timestamp ms (big-endian sorts by time), orderId
SWEEP_EVERY = 1024
MAP_SIZE = 1 << 32  # sparse: the file grows with what is stored, to 4 GiB at most


class SharedLedger:
    """orderId -> (digest, event timestamp, written) in an LMDB environment under ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        window_s: float = WINDOW_S,
        max_entries: int = 1_000_000,
        sweep_every: int = SWEEP_EVERY,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        # No fsync: the file lives as long as the workers (a temporary directory); what is
        # durable is in Kafka, and the followers rebuild the ledger from there on a restart.
        self._env = lmdb.open(
            str(path), map_size=MAP_SIZE, max_dbs=2, sync=False, metasync=False, lock=True
        )
        self._orders = self._env.open_db(b"orders")
        self._by_time = self._env.open_db(b"by-time")
        self.window_s = window_s
        self.max_entries = max_entries
        self.sweep_every = sweep_every
        self._puts = 0

    def close(self) -> None:
        self._env.close()

    def __len__(self) -> int:
        with self._env.begin(db=self._orders) as txn:
            return int(txn.stat(self._orders)["entries"])

    def claim(self, order_id: str, digest: str, now_ms: int | None = None) -> Claim:
        """What to do with an order under ``order_id``; remembers a first attempt."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        key = order_id.encode()
        with self._env.begin(write=True) as txn:
            entry = self._get(txn, key)
            if entry is not None and entry[0] < now_ms - self.window_s * 1000:
                entry = None  # out of the window: a new order
            if entry is None:
                self._put(txn, key, digest, now_ms, written=False)
                return Claim(Verdict.PUBLISH, now_ms, digest)
        timestamp_ms, written, known = entry
        if known != digest:
            return Claim(Verdict.CONFLICT, timestamp_ms, known)
        return Claim(Verdict.WRITTEN if written else Verdict.PUBLISH, timestamp_ms, known)

    def is_written(self, order_id: str) -> bool:
        with self._env.begin() as txn:
            entry = self._get(txn, order_id.encode())
        return entry is not None and entry[1]

    def written(self, order_id: str, digest: str, timestamp_ms: int) -> None:
        """Kafka holds this order (a worker's delivery report, or a follower read it)."""
        key = order_id.encode()
        with self._env.begin(write=True) as txn:
            entry = self._get(txn, key)
            if entry is not None and entry[2] == digest and entry[0] <= timestamp_ms:
                if not entry[1]:
                    txn.put(key, _VALUE.pack(entry[0], True) + digest.encode(), db=self._orders)
                return
            if entry is None or not entry[1]:
                # What is in the topic wins over an attempt still in doubt.
                self._put(txn, key, digest, timestamp_ms, written=True)

    def _get(self, txn: lmdb.Transaction, key: bytes) -> tuple[int, bool, str] | None:
        raw = txn.get(key, db=self._orders)
        if raw is None:
            return None
        timestamp_ms, written = _VALUE.unpack_from(raw)
        return timestamp_ms, written, bytes(raw[_VALUE.size :]).decode()

    def _put(
        self, txn: lmdb.Transaction, key: bytes, digest: str, timestamp_ms: int, *, written: bool
    ) -> None:
        old = txn.get(key, db=self._orders)
        if old is not None:
            txn.delete(_TIME.pack(_VALUE.unpack_from(old)[0]) + key, db=self._by_time)
        txn.put(key, _VALUE.pack(timestamp_ms, written) + digest.encode(), db=self._orders)
        txn.put(_TIME.pack(timestamp_ms) + key, b"", db=self._by_time)
        self._puts += 1
        if self._puts % self.sweep_every == 0:
            self._sweep(txn, timestamp_ms)

    def _sweep(self, txn: lmdb.Transaction, now_ms: int) -> None:
        """Drop the entries out of the window, and the oldest beyond ``max_entries``."""
        horizon = now_ms - self.window_s * 1000
        excess = int(txn.stat(self._orders)["entries"]) - self.max_entries
        doomed = []
        for index_key in txn.cursor(db=self._by_time).iternext(values=False):
            (timestamp_ms,) = _TIME.unpack_from(index_key)
            if timestamp_ms >= horizon and excess <= 0:
                break
            doomed.append(bytes(index_key))
            excess -= 1
        for index_key in doomed:
            txn.delete(index_key[_TIME.size :], db=self._orders)
            txn.delete(index_key, db=self._by_time)
