"""Primary election through a Kafka consumer group, as Confluent and Karapace do it.

Every instance joins the group ``<prefix>-registry-<topic>`` subscribed to the single-partition
schemas topic. The member that owns partition 0 is the primary: the only instance that assigns
ids and writes. Losing the partition (revoke, session loss) ends primacy at once; a crashed
primary is replaced after ``session.timeout.ms``. The member never consumes: it starts at the end.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.registry.store import with_error_log

logger = logging.getLogger(__name__)

URL_MARK = "|"
SESSION_TIMEOUT_MS = 6000  # the broker's minimum: a dead primary is replaced within ~6 s


class PrimaryElection:
    """Tracks whether this instance is the primary; ``generation`` counts each election won."""

    def __init__(self, settings: Settings, topic: str, advertised_url: str = "") -> None:
        self.settings = settings
        self.topic = topic
        self.advertised_url = advertised_url
        self.group_id = f"{settings.client_id_prefix}-registry-{topic}"
        self.generation = 0
        self._primary = threading.Event()
        self._decided = threading.Event()  # set once the group assigned us anything (or nothing)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="primary-election", daemon=True)

    @property
    def is_primary(self) -> bool:
        return self._primary.is_set()

    def start(self) -> None:
        self._thread.start()

    def wait_primary(self, timeout: float) -> bool:
        """Whether this instance is primary, waiting up to ``timeout`` for a first election."""
        self._decided.wait(timeout)
        return self.is_primary

    def primary_url(self) -> str | None:
        """The advertised URL of the group member that owns partition 0, if any (blocking)."""
        admin = AdminClient(kafka_config(Role.ADMIN, "registry-lookup", settings=self.settings))
        try:
            group = admin.describe_consumer_groups([self.group_id], request_timeout=5)
            description = group[self.group_id].result(10)
        except Exception as exc:  # KafkaException and timeouts: no primary known right now
            logger.warning("cannot describe the election group", extra={"error": str(exc)})
            return None
        for member in description.members:
            owned = member.assignment.topic_partitions if member.assignment else []
            if any(tp.topic == self.topic and tp.partition == 0 for tp in owned):
                _, mark, url = str(member.client_id).partition(URL_MARK)
                return url if mark and url else None
        return None

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _run(self) -> None:
        consumer = Consumer(
            with_error_log(
                kafka_config(
                    Role.CONSUMER,
                    # the member's client id carries its URL, so others can find the primary
                    f"registry{URL_MARK}{self.advertised_url}",
                    settings=self.settings,
                    group_id=self.group_id,
                    overrides={
                        # sticky: a joining instance never takes the partition from a live primary
                        "partition.assignment.strategy": "cooperative-sticky",
                        "session.timeout.ms": SESSION_TIMEOUT_MS,
                        "heartbeat.interval.ms": 500,
                        "enable.partition.eof": False,
                    },
                )
            )
        )
        consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._stop.is_set():
                consumer.poll(0.2)  # drives heartbeats and rebalances; nothing is fetched
        finally:
            self._primary.clear()
            consumer.close()  # leaves the group, so another instance takes over at once

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            tp.offset = OFFSET_END
        consumer.incremental_assign(partitions)
        self._decided.set()
        if any(tp.partition == 0 for tp in partitions):
            self.generation += 1
            self._primary.set()
            logger.info("became primary", extra={"group": self.group_id})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if any(tp.partition == 0 for tp in partitions):
            self._primary.clear()
            logger.info("lost primary", extra={"group": self.group_id})
