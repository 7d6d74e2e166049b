"""A circuit on Kafka deliveries, so the API refuses at once while the cluster cannot take writes.

States, all changes in this class:

    CLOSED --trip(reason)--> OPEN        all brokers down (error_cb), a delivery that failed, an ack
                                         that did not come within the deadline, a full queue
    OPEN   --close()------>  CLOSED      a delivery succeeded (a queued record got through), or the
                                         metadata probe saw a leader and enough in-sync replicas
                                         for every partition

While OPEN, one request per ``probe_interval_s`` is let through to try a real write; every other
request is refused at once (503 + Retry-After) without producing anything, so such a 503 means
"not written". The metadata probe runs in a thread of its own, so the circuit closes when the
cluster heals even if no request comes (a load balancer stops sending while /readyz says 503).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException

logger = logging.getLogger(__name__)


class DeliveryCircuit:
    """Thread-safe: tripped from librdkafka's threads, consulted on the event loop."""

    def __init__(self, probe_interval_s: float = 3.0) -> None:
        self.probe_interval_s = probe_interval_s
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._last_probe = 0.0
        self.opened = threading.Event()

    @property
    def reason(self) -> str | None:
        """Why the circuit is open; None while it is closed."""
        return self._reason

    def trip(self, reason: str) -> None:
        with self._lock:
            was_closed = self._reason is None
            self._reason = reason
            self._last_probe = time.monotonic()
            self.opened.set()
        if was_closed:
            logger.warning(
                "orders refused until Kafka takes writes again", extra={"reason": reason}
            )

    def close(self, why: str) -> None:
        with self._lock:
            was_open = self._reason is not None
            self._reason = None
            self.opened.clear()
        if was_open:
            logger.warning("Kafka takes writes again; orders accepted", extra={"why": why})

    def admit(self) -> bool:
        """May a request try to write now? Always while closed; one per interval while open."""
        with self._lock:
            if self._reason is None:
                return True
            now = time.monotonic()
            if now - self._last_probe >= self.probe_interval_s:
                self._last_probe = now
                return True
            return False


def writable(metadata: Any, topic: str) -> bool:
    """Every partition of ``topic`` has a leader and the in-sync replicas min ISR asks for.

    min ISR is taken as the topology's rule, max(1, replicas - 1) (platform/topology.py).
    """
    partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
    return bool(partitions) and all(
        p.leader >= 0 and len(p.isrs) >= max(1, len(p.replicas) - 1) for p in partitions.values()
    )


@dataclass
class MetadataProbe:
    """While the circuit is open, ask for ``topic``'s metadata every ``interval_s``."""

    circuit: DeliveryCircuit
    client: Any
    topic: str
    interval_s: float = 0.5
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="circuit-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.circuit.opened.set()  # wake the thread if it waits for a trip
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.circuit.opened.wait()
            if self._stop.wait(self.interval_s) or self.circuit.reason is None:
                continue
            try:
                metadata = self.client.list_topics(self.topic, timeout=max(self.interval_s, 1.0))
            except (KafkaException, RuntimeError):
                continue
            if writable(metadata, self.topic):
                self.circuit.close("the metadata shows a leader and the ISR for every partition")
