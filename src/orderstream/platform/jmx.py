"""Broker metrics: the Prometheus JMX exporter java agent on every node ``kafka up`` starts.

The agent (``io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1``, Maven Central) is copied by
Maven into ``<cache>/jmx-exporter-<version>/`` once, beside the Kafka jars and the same way
(maven-dependency-plugin), and kept off Kafka's classpath. Each node serves ``/metrics`` on
127.0.0.1 at its ``jmx_port``; the rules export only what the alerts and the dashboard read,
under the exporter's conventional Kafka names (``kafka_server_replicamanager_...``).
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

from orderstream.errors import PlatformError

logger = logging.getLogger(__name__)

JMX_EXPORTER = "io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_VERSION = JMX_EXPORTER.rsplit(":", 1)[1]

_TXN_REQUESTS = "AddPartitionsToTxn|EndTxn|TxnOffsetCommit|InitProducerId"
_REQUESTS = f"Produce|FetchConsumer|FetchFollower|Metadata|OffsetCommit|{_TXN_REQUESTS}"
_TOPIC_RATES = "MessagesIn|BytesIn|BytesOut|FailedProduceRequests|FailedFetchRequests"


def _rule(pattern: str, name: str, kind: str, **labels: str) -> dict[str, object]:
    rule: dict[str, object] = {"pattern": pattern, "name": name, "type": kind}
    if labels:
        rule["labels"] = labels
    return rule


# Patterns are the exporter's "domain<key=value, ...><>attribute" strings; rates are exported as
# the MBeans' cumulative Count (Prometheus takes rate() of it), gauges as their Value.
_RULES = {
    # Only the MBeans the rules read: the exporter otherwise walks every MBean of the broker on
    # each scrape (over a second on a loaded machine, past a 1 s scrape timeout).
    "includeObjectNames": [
        "kafka.server:type=ReplicaManager,*",
        "kafka.controller:type=KafkaController,*",
        "kafka.server:type=BrokerTopicMetrics,*",
        "kafka.network:type=RequestMetrics,name=RequestsPerSec,*",
    ],
    "lowercaseOutputName": True,
    "lowercaseOutputLabelNames": True,
    "rules": [
        _rule(
            "kafka.server<type=ReplicaManager, "
            "name=(UnderReplicatedPartitions|PartitionCount|LeaderCount)><>Value",
            "kafka_server_replicamanager_$1",
            "GAUGE",
        ),
        _rule(
            "kafka.server<type=ReplicaManager, name=(IsrShrinks|IsrExpands)PerSec><>Count",
            "kafka_server_replicamanager_$1_total",
            "COUNTER",
        ),
        _rule(
            "kafka.controller<type=KafkaController, "
            "name=(OfflinePartitionsCount|ActiveControllerCount)><>Value",
            "kafka_controller_kafkacontroller_$1",
            "GAUGE",
        ),
        _rule(
            f"kafka.server<type=BrokerTopicMetrics, name=({_TOPIC_RATES})PerSec><>Count",
            "kafka_server_brokertopicmetrics_$1_total",
            "COUNTER",
        ),
        _rule(
            "kafka.network<type=RequestMetrics, name=RequestsPerSec, "
            f"request=({_REQUESTS}), version=\\d+><>Count",
            "kafka_network_requestmetrics_requests_total",
            "COUNTER",
            request="$1",
        ),
    ],
}
RULES = json.dumps(_RULES, indent=2) + "\n"  # JSON is YAML: no YAML writer needed


def agent_jar(cache_dir: Path) -> Path:
    return cache_dir / f"jmx-exporter-{_VERSION}" / f"jmx_prometheus_javaagent-{_VERSION}.jar"


def install_agent(cache_dir: Path, mvn: str = "mvn") -> Path:
    """The agent jar in the cache, fetched by Maven the first time."""
    jar = agent_jar(cache_dir)
    if jar.is_file():
        return jar
    cmd = [
        mvn,
        "-q",
        "-B",
        f"{_DEPENDENCY_PLUGIN}:copy",
        f"-Dartifact={JMX_EXPORTER}",
        f"-DoutputDirectory={jar.parent}",
    ]
    logger.info("fetching the JMX exporter agent from maven central", extra={"jar": str(jar)})
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cache_dir)
    if done.returncode != 0 or not jar.is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise PlatformError(f"maven could not fetch {JMX_EXPORTER}:\n{tail}")
    return jar


def agent_flag(cache_dir: Path, cluster_home: Path, port: int) -> str:
    """``-javaagent:...`` serving the node's metrics on 127.0.0.1:``port``."""
    rules = cluster_home / "jmx-exporter.yml"
    if not rules.is_file() or rules.read_text() != RULES:
        rules.write_text(RULES)
    return f"-javaagent:{install_agent(cache_dir)}=127.0.0.1:{port}:{rules}"
