from __future__ import annotations

from pathlib import Path

import pytest

from orderstream.errors import PlatformError
from orderstream.platform.nodes import ClusterSpec, make_spec, new_cluster_id, node_properties
from orderstream.platform.perf import parse_consumer_output, parse_producer_output


def test_three_node_properties(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, 3)
    assert spec.bootstrap == "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:31092"
    props = node_properties(spec, spec.nodes[1])
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:31093"
    )
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["auto.create.topics.enable"] == "false"


def test_single_node_keeps_transactions_working(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, 1)
    props = node_properties(spec, spec.nodes[0])
    assert spec.bootstrap == "127.0.0.1:9092"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"


def test_spec_round_trips_and_rejects_wrong_port_count(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, 3, ports=(1, 3, 5), heap="1g")
    assert ClusterSpec.from_json(spec.to_json()) == spec
    assert [n.controller_port for n in spec.nodes] == [2, 4, 6]
    with pytest.raises(ValueError, match="3 broker ports"):
        make_spec(tmp_path, 3, ports=(1, 2))


def test_cluster_ids_are_kafka_shaped() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


PRODUCER_OUT = """\
499906 records sent, 99981.2 records/sec (9.54 MB/sec), 3.1 ms avg latency, 210.0 ms max latency.
1000000 records sent, 181653.0 records/sec (17.32 MB/sec), 2.51 ms avg latency, 210.00 ms max \
latency, 2 ms 50th, 5 ms 95th, 9 ms 99th, 31 ms 99.9th.
"""

CONSUMER_OUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-27 10:00:00:000, 2026-11-27 10:00:03:000, 95.3674, 31.7891, 1000000, 333333.3333, \
250, 2750, 34.6790, 363636.3636
"""


def test_parse_perf_outputs() -> None:
    prod = parse_producer_output(PRODUCER_OUT)
    assert prod.records == 1_000_000 and prod.records_per_sec == 181653.0
    assert (prod.p50_ms, prod.p99_ms, prod.p999_ms) == (2, 9, 31)
    cons = parse_consumer_output(CONSUMER_OUT)
    assert cons.records == 1_000_000 and cons.mb_per_sec == pytest.approx(31.7891)
    with pytest.raises(PlatformError, match="no summary"):
        parse_producer_output("nothing here")
