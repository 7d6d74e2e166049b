"""A commit whose outcome is unknown (its response lost) is never aborted: the producer goes
FAILED, the session is rebuilt from committed data, and the output stays exact."""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from orderstream.config import KafkaConfig
from orderstream.kafka.producer import RETRY_POLICY
from orderstream.runtime import ProcessingLoop, RuntimeConfig
from orderstream.testing.aggregate import AggregateProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import EosTopics, produce_inputs, verify, wait_committed

N = 20_000


def _timed_out(what: str) -> KafkaException:
    return KafkaException(KafkaError(KafkaError._TIMED_OUT, what, retriable=True))


class _LosesOneCommitResponse(Producer):
    """A real producer whose ``lose_at``-th commit succeeds on the broker but reports a timeout,
    as does every retry of it: the outcome is unknown to the caller."""

    lose_at = 5
    commits = 0
    timeouts = 0
    aborts_after = 0

    def commit_transaction(self, *args: Any) -> None:
        if self.timeouts:
            self.timeouts += 1
            raise _timed_out("commit still unknown (injected)")
        self.commits += 1
        super().commit_transaction(*args)
        if self.commits == self.lose_at:
            self.timeouts = 1
            raise _timed_out("commit response lost (injected)")

    def abort_transaction(self, *args: Any) -> None:
        if self.timeouts:
            self.aborts_after += 1
        super().abort_transaction(*args)


def test_a_commit_that_times_out_is_not_aborted_and_the_rebuild_is_exact(
    kafka_cluster: LocalCluster, eos_topics: EosTopics
) -> None:
    bootstrap = kafka_cluster.bootstrap
    produce_inputs(bootstrap, eos_topics.input, N, keys=500)
    clients: list[Producer] = []

    def producer_factory(conf: KafkaConfig) -> Producer:
        client = _LosesOneCommitResponse(conf) if not clients else Producer(conf)
        clients.append(client)
        return client

    config = RuntimeConfig(app_id=eos_topics.group, instance_id="a", max_records_per_txn=500)
    loop = ProcessingLoop(
        AggregateProcessor(eos_topics.input, eos_topics.output, eos_topics.changelog),
        config,
        kafka_cluster.settings(),
        producer_factory=producer_factory,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        wait_committed(bootstrap, eos_topics, N, timeout=90)
    finally:
        loop.stop()
        thread.join(60)
    lossy = clients[0]
    assert isinstance(lossy, _LosesOneCommitResponse)
    assert lossy.timeouts == RETRY_POLICY["commit_transaction"].attempts
    assert lossy.aborts_after == 0  # never abort a commit whose outcome is unknown
    assert loop.rebuilds == 1
    assert len(clients) == 2
    assert loop.metrics.sample("orderstream_txn_aborts_total") == 0
    assert loop.session is not None and loop.session.processed > 0  # the lost commit was mid-stream
    verdict = verify(bootstrap, eos_topics)
    assert verdict.ok, verdict.problems
    assert verdict.processed == verdict.outputs == N
