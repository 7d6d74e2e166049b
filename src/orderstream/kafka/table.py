"""``TopicTable``: a whole topic (or several) read into memory, the one whole-topic reader.

It assigns every partition of its topics from a start (the beginning unless told otherwise),
never joins a group and commits nothing, and follows new records. Two ways to drive it:

- ``start()`` follows in a thread; ``wait_caught_up()`` blocks until every record committed
  before the call is read (the product catalog, the orders view and ledger, the registry store,
  the chaos watcher);
- ``catch_up()`` reads in the caller's thread up to the end at the time of the call and returns
  the records read since the previous call (the audit, the EOS verifier, the chaos checkers).

With ``decode`` it keeps the latest value per key (a tombstone deletes it): ``get`` and ``len``.
``subscribe(on_batch)`` hands each batch of records to ``on_batch``, in the reader's thread.

A partition counts as read once the position, or the end reported by partition EOF (which is
past any trailing transaction marker), reaches the end offset asked of the broker.

Errors are never silent. With ``assign()`` librdkafka reports a refused or unknown topic only as
an error event, and a reader that drops it waits forever. Here:

    TOPIC/GROUP_AUTHORIZATION_FAILED, a refused login     TopicAccessDenied, at once
    UNKNOWN_TOPIC_OR_PART, _UNKNOWN_TOPIC/_PARTITION      TopicMissing, after ``missing_wait_s``
    anything else (a broker down, a leader moving)        logged; the caller's timeout bounds it

In a thread, a failure ends the thread, is logged, kept in ``failure`` and raised by
``wait_caught_up`` and ``check``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from orderstream.config import KafkaConfig
from orderstream.errors import OrderstreamError, PlatformError
from orderstream.kafka.errors import (
    MISSING_CODES,
    TableBehind,
    access_denied,
    read_failure,
    refused_access,
    topic_missing,
)
from orderstream.kafka.offsets import (
    StartAt,
    end_offsets,
    from_beginning,
)

logger = logging.getLogger(__name__)

TP = tuple[str, int]
OnBatch = Callable[[list[Message]], None]
MISSING_WAIT_S = 30.0


def text_key(key: bytes | None) -> str:
    return key.decode(errors="replace") if isinstance(key, bytes) else str(key)


class TopicTable:
    """``topic`` (and the ``also`` topics that exist) read into memory and followed."""

    def __init__(
        self,
        consumer_conf: KafkaConfig,
        admin_conf: KafkaConfig,
        topic: str,
        *,
        also: Sequence[str] = (),
        start_at: StartAt = from_beginning,
        decode: Callable[[bytes], Any] | None = None,
        key_of: Callable[[bytes | None], str] = text_key,
        missing_wait_s: float = MISSING_WAIT_S,
        name: str = "topic-table",
    ) -> None:
        self.topic = topic
        self.name = name
        self._also = tuple(also)
        self._start_at = start_at
        self._decode = decode
        self._key_of = key_of
        self._missing_wait_s = missing_wait_s
        self._principal = str(consumer_conf.get("sasl.username") or "") or None
        uncommitted = consumer_conf.get("isolation.level") == "read_uncommitted"
        self._isolation = (
            IsolationLevel.READ_UNCOMMITTED if uncommitted else IsolationLevel.READ_COMMITTED
        )
        conf = {**consumer_conf, "enable.partition.eof": True, "error_cb": self._on_client_error}
        self._consumer = Consumer(conf)
        self._admin = AdminClient(admin_conf)
        self._assignment: list[TopicPartition] = []
        self._positions: dict[TP, int] = {}
        self._cond = threading.Condition()
        self._subscribers: list[OnBatch] = []
        self._rows: OrderedDict[str, Any] = OrderedDict()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client_failure: OrderstreamError | None = None
        self._missing_since: dict[str, float] = {}
        self._started_at = time.monotonic()
        self.assigned = threading.Event()
        self.ready = threading.Event()  # caught up once with the ends seen after assignment
        self.ready_after_s: float | None = None
        self.failure: OrderstreamError | None = None
        self.undecodable = 0

    # -- reading the table -------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        return self._rows.get(key)

    def __len__(self) -> int:
        return len(self._rows)

    def subscribe(self, on_batch: OnBatch) -> None:
        self._subscribers.append(on_batch)

    def position(self, tp: TP) -> int:
        """The next offset to read of ``tp`` (0 before anything was read)."""
        return max(0, self._positions.get(tp, 0))

    def wait_past(self, tp: TP, offset: int, timeout_s: float) -> bool:
        """Wait until the record at ``offset`` of ``tp`` was read (and handed to subscribers)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.position(tp) > offset, timeout_s)

    def check(self) -> None:
        """Raise the failure that ended the reader thread, if one did."""
        if self.failure is not None:
            raise self.failure

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the topics in a thread (the assignment itself happens in that thread)."""
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._follow, name=self.name, daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(timeout_s)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()

    def wait_caught_up(self, timeout_s: float = 60.0) -> None:
        """Block until every record committed before this call is read by the thread."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._cond.wait_for(
                lambda: self.assigned.is_set() or self.failure is not None, timeout_s
            )
        self.check()
        if not self.assigned.is_set():
            raise TableBehind(f"{self.name} could not assign {self.topic} within {timeout_s:.0f}s")
        targets = self._targets(max(1.0, deadline - time.monotonic()))
        with self._cond:
            while not self._reached(targets):
                self.check()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TableBehind(
                        f"{self.name} did not catch up with {self.topic} within {timeout_s:.0f}s"
                    )
                self._cond.wait(min(left, 0.1))

    def catch_up(self, timeout_s: float = 120.0) -> list[Message]:
        """Read, in this thread, up to the current end; the records read since the last call."""
        if self._thread is not None:
            raise RuntimeError("catch_up() reads in the caller's thread: do not also start()")
        deadline = time.monotonic() + timeout_s
        if not self.assigned.is_set():
            self._assign(deadline)
        targets = self._targets(max(1.0, deadline - time.monotonic()))
        records: list[Message] = []
        while not self._reached(targets):
            if time.monotonic() > deadline:
                raise TableBehind(f"reading {self.topic} did not reach its end in {timeout_s:.0f}s")
            records.extend(self._poll_once(0.2))
        return records

    # -- the reader --------------------------------------------------------------------------

    def _follow(self) -> None:
        try:
            self._assign(None)
            ready_targets: dict[TP, int] | None = None
            while not self._stopping.is_set():
                if not self.ready.is_set() and ready_targets is None:
                    with contextlib.suppress(TableBehind):
                        ready_targets = self._targets(5.0)
                self._poll_once(0.1)
                if ready_targets is not None and not self.ready.is_set():
                    self._note_ready(ready_targets)
        except OrderstreamError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug must not leave the table silently stale
            logger.exception("topic table reader crashed", extra={"topic": self.topic})
            self._fail(PlatformError(f"{self.name} reading {self.topic} crashed: {exc!r}"))

    def _fail(self, exc: OrderstreamError) -> None:
        logger.error("%s stopped: %s", self.name, exc, extra={"topic": self.topic})
        with self._cond:
            self.failure = exc
            self._cond.notify_all()

    def _note_ready(self, targets: dict[TP, int]) -> None:
        with self._cond:
            if not self._reached(targets):
                return
        self.ready_after_s = time.monotonic() - self._started_at
        self.ready.set()
        logger.info(
            "topic table caught up",
            extra={"table": self.name, "topic": self.topic, "rows": len(self._rows)},
        )

    def _assign(self, deadline: float | None) -> None:
        """Assign every partition; wait (bounded) for a missing topic, raise a refused one."""
        missing_until = time.monotonic() + self._missing_wait_s
        warned_at = 0.0
        while True:
            try:
                partitions = self._partitions(self.topic)
                if partitions:
                    self._assignment = self._plan(partitions)
                    break
            except KafkaException as exc:  # the cluster does not answer yet: keep asking
                self._consumer.poll(0)  # serves error_cb: a refused login shows only there
                self._raise_client_failure()
                partitions = None
                if time.monotonic() - warned_at > 10:
                    warned_at = time.monotonic()
                    logger.warning("cannot read topic metadata yet", extra={"error": str(exc)})
                missing_until = time.monotonic() + self._missing_wait_s
            now = time.monotonic()
            if partitions is not None and now > missing_until:
                raise topic_missing(self.topic, self._missing_wait_s)
            if deadline is not None and now > deadline:
                raise TableBehind(f"{self.name} could not read the metadata of {self.topic}")
            if self._stopping.wait(0.5):
                return
        self._consumer.assign(self._assignment)
        with self._cond:
            self.assigned.set()
            self._cond.notify_all()

    def _plan(self, partitions: list[int]) -> list[TopicPartition]:
        """Where to start each partition of the topic and of the ``also`` topics that exist."""
        wanted = {self.topic: partitions}
        for topic in self._also:  # optional: e.g. topics an older topology does not have
            with contextlib.suppress(KafkaException, OrderstreamError):
                if found := self._partitions(topic):
                    wanted[topic] = found
        return [
            TopicPartition(topic, p, offset)
            for topic, parts in wanted.items()
            for p, offset in self._start_at(self._consumer, topic, parts).items()
        ]

    def _partitions(self, topic: str) -> list[int]:
        """The topic's partitions; [] while it is unknown; raises when access is refused."""
        described = self._consumer.list_topics(topic, timeout=5).topics.get(topic)
        if described is not None and refused_access(described.error):
            raise access_denied(topic, described.error, self._principal)
        if described is None or described.error is not None:
            return []
        return sorted(described.partitions)

    def _targets(self, retry_s: float) -> dict[TP, int]:
        """The end of every assigned partition, as this isolation level sees it, now.

        Asked through an admin client: watermark queries on the consumer itself can stall
        for seconds while its own thread is fetching.
        """
        targets: dict[TP, int] = {}
        by_topic: dict[str, list[int]] = {}
        for tp in self._assignment:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, parts in by_topic.items():
            try:
                ends = end_offsets(self._admin, topic, parts, self._isolation, retry_s)
            except PlatformError as exc:
                raise TableBehind(f"cannot read the end offsets of {topic}: {exc}") from exc
            targets.update({(topic, p): end for p, end in ends.items() if end > 0})
        return targets

    def _reached(self, targets: dict[TP, int]) -> bool:
        return all(self._positions.get(tp, -1) >= end for tp, end in targets.items())

    def _poll_once(self, timeout_s: float) -> list[Message]:
        """One poll: apply the records, hand them to subscribers, then move the positions."""
        try:
            first = self._consumer.poll(timeout_s)  # returns as soon as one record arrives
            messages = [] if first is None else [first, *self._consumer.consume(1000, 0)]
        except (KafkaException, RuntimeError) as exc:
            logger.warning("topic table consumer error", extra={"error": str(exc)})
            messages = []
        records: list[Message] = []
        eofs: dict[TP, int] = {}
        for msg in messages:
            err = msg.error()
            if err is None:
                records.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                eofs[(msg.topic() or "", msg.partition() or 0)] = msg.offset() or 0
            else:
                self._on_read_error(err, msg.topic() or self.topic)
        if records:
            self._apply(records)
            for on_batch in self._subscribers:
                on_batch(records)
        self._note_positions(eofs)
        for topic in {tp[0] for tp in eofs} | {m.topic() for m in records}:
            self._missing_since.pop(str(topic), None)
        self._raise_client_failure()
        return records

    def _raise_client_failure(self) -> None:
        if self._client_failure is not None:
            raise self._client_failure

    def _on_read_error(self, err: KafkaError, topic: str) -> None:
        since = self._missing_since.setdefault(topic, time.monotonic())
        failure = read_failure(
            err, topic, self._principal, time.monotonic() - since, self._missing_wait_s
        )
        if failure is not None:
            raise failure
        if err.code() not in MISSING_CODES:
            self._missing_since.pop(topic, None)
        logger.warning("topic table read error", extra={"topic": topic, "error": err.str()})

    def _on_client_error(self, err: KafkaError) -> None:
        """librdkafka's error callback: a refused login shows only here (else as time-outs)."""
        if refused_access(err):
            self._client_failure = access_denied(self.topic, err, self._principal)
        else:
            logger.debug("kafka client error", extra={"error": err.str()})

    def _apply(self, records: list[Message]) -> None:
        if self._decode is None:
            return
        for msg in records:
            key = self._key_of(msg.key())
            value = msg.value()
            self._rows.pop(key, None)
            if value is None:
                continue
            try:
                self._rows[key] = self._decode(value)
            except Exception:  # a poison record must not stop the table
                self.undecodable += 1
                logger.warning("undecodable record", extra={"topic": self.topic, "key": key})

    def _note_positions(self, eofs: dict[TP, int]) -> None:
        try:
            positions = self._consumer.position(self._assignment) if self._assignment else []
        except KafkaException:
            positions = []
        with self._cond:
            for tp in positions:
                self._advance((tp.topic, tp.partition), tp.offset)
            for key, offset in eofs.items():
                self._advance(key, offset)
            self._cond.notify_all()

    def _advance(self, tp: TP, offset: int) -> None:
        if offset > self._positions.get(tp, -1):
            self._positions[tp] = offset
