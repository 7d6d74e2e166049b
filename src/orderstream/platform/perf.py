"""Kafka's own ProducerPerformance and ConsumerPerformance, run and parsed: the broker ceiling."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from orderstream.errors import PlatformError
from orderstream.platform.install import KafkaDistribution

# Each group is named after the ProducerFigures field it fills (see parse_producer_output).
_PRODUCER_RE = re.compile(
    r"(?P<records>\d+) records sent, (?P<records_per_sec>[\d.]+) records/sec "
    r"\((?P<mb_per_sec>[\d.]+) MB/sec\), (?P<avg_latency_ms>[\d.]+) ms avg latency, "
    r"(?P<max_latency_ms>[\d.]+) ms max latency, (?P<p50_ms>\d+) ms 50th, "
    r"(?P<p95_ms>\d+) ms 95th, (?P<p99_ms>\d+) ms 99th, (?P<p999_ms>\d+) ms 99.9th"
)
# A field's parser by its annotation, a string under ``from __future__ import annotations``.
_NUMBER: dict[str, Callable[[str], Any]] = {"int": int, "float": float}


@dataclass(frozen=True)
class ProducerFigures:
    records: int
    records_per_sec: float
    mb_per_sec: float
    avg_latency_ms: float
    max_latency_ms: float
    p50_ms: int
    p95_ms: int
    p99_ms: int
    p999_ms: int


@dataclass(frozen=True)
class ConsumerFigures:
    records: int
    records_per_sec: float
    mb_per_sec: float
    seconds: float


def parse_producer_output(text: str) -> ProducerFigures:
    """The summary line (the last one that matches) of ProducerPerformance."""
    matches = list(_PRODUCER_RE.finditer(text))
    if not matches:
        raise PlatformError(f"ProducerPerformance printed no summary:\n{text[-1500:]}")
    m = matches[-1]
    return ProducerFigures(
        **{f.name: _NUMBER[str(f.type)](m[f.name]) for f in fields(ProducerFigures)}
    )


def parse_consumer_output(text: str) -> ConsumerFigures:
    """The CSV data row of ConsumerPerformance (the line after its header)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.startswith("start.time"):
            header = [h.strip() for h in line.split(",")]
            row = dict(zip(header, (v.strip() for v in lines[i + 1].split(",")), strict=False))
            try:
                return ConsumerFigures(
                    records=int(row["data.consumed.in.nMsg"]),
                    records_per_sec=float(row["nMsg.sec"]),
                    mb_per_sec=float(row["MB.sec"]),
                    seconds=float(row.get("fetch.time.ms", "0")) / 1000.0,
                )
            except (KeyError, ValueError) as exc:
                raise PlatformError(f"unexpected ConsumerPerformance output: {line}") from exc
    raise PlatformError(f"ConsumerPerformance printed no CSV summary:\n{text[-1500:]}")


def _run(dist: KafkaDistribution, main: str, args: list[str], timeout: float) -> str:
    cmd = ["java", "-Xmx512m", "-cp", dist.classpath, main, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"{main.rsplit('.', 1)[-1]} did not finish in {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise PlatformError(
            f"{main.rsplit('.', 1)[-1]} failed (exit {proc.returncode}):\n{proc.stderr[-1500:]}"
        )
    return proc.stdout + proc.stderr


def producer_perf(
    dist: KafkaDistribution,
    bootstrap: str,
    topic: str,
    records: int,
    record_size: int,
    acks: str = "all",
    timeout: float = 900,
) -> ProducerFigures:
    args = [
        "--topic", topic,
        "--num-records", str(records),
        "--record-size", str(record_size),
        "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={bootstrap}", f"acks={acks}",
        "linger.ms=5", "batch.size=131072",
    ]  # fmt: skip
    return parse_producer_output(
        _run(dist, "org.apache.kafka.tools.ProducerPerformance", args, timeout)
    )


def consumer_perf(
    dist: KafkaDistribution, bootstrap: str, topic: str, records: int, timeout: float = 900
) -> ConsumerFigures:
    args = ["--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(records),
            "--timeout", "60000"]  # fmt: skip
    return parse_consumer_output(
        _run(dist, "org.apache.kafka.tools.ConsumerPerformance", args, timeout)
    )


def as_dict(figures: ProducerFigures | ConsumerFigures) -> dict[str, float | int]:
    return asdict(figures)
