"""Benchmark pieces: registration latency, GET /schemas/ids/{id} throughput (wrk, or an httpx
load generator when wrk is not installed), and percentiles."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from orderstream.config import Role, Settings, kafka_config
from orderstream.stats import percentile

_WRK_SCRIPT = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/schemas/ids/" .. math.random(%d, %d))
end
"""


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def bench_schema(n: int) -> str:
    fields = [{"name": f"f{n}", "type": "long", "doc": "bench"}]
    return json.dumps({"type": "record", "name": f"Bench{n}", "namespace": "b", "fields": fields})


def register_many(url: str, count: int, prefix: str = "bench") -> tuple[list[int], list[float]]:
    """Register ``count`` distinct schemas one after another; ids and latencies (s)."""
    ids, latencies = [], []
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(count):
            started = time.perf_counter()
            answer = client.post(
                f"/subjects/{quote(f'{prefix}-{n}-value', safe='')}/versions",
                json={"schema": bench_schema(n)},
            )
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
            ids.append(int(answer.json()["id"]))
    return ids, latencies


def load_schema_ids(
    url: str, first_id: int, last_id: int, seconds: float, connections: int
) -> LoadResult:
    """GET /schemas/ids/{random id} for ``seconds``, with wrk when installed."""
    if shutil.which("wrk"):
        return _wrk(url, first_id, last_id, seconds, connections)
    return asyncio.run(_httpx_load(url, first_id, last_id, seconds, connections))


def _wrk(url: str, first: int, last: int, seconds: float, connections: int) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ids.lua"
        script.write_text(_WRK_SCRIPT % (first, last))
        argv = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
                "-s", str(script), url]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    took = _duration_s(re.search(r"requests in ([\d.]+\w+),", out).group(1))  # type: ignore[union-attr]
    return LoadResult("wrk", total, took, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"))


def _wrk_ms(out: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if match is None:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def _duration_s(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return float("nan")
    return float(match.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[match.group(2)]


async def _httpx_load(url: str, first: int, last: int, seconds: float, workers: int) -> LoadResult:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    span = last - first + 1

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        n = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            answer = await client.get(f"/schemas/ids/{first + n % span}")
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
            n += workers

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=workers)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client, i) for i in range(workers)))
    took = time.perf_counter() - started
    return LoadResult(
        "httpx",
        len(latencies),
        took,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
    )


def serde_throughput(url: str, count: int = 50_000) -> tuple[float, float]:
    """(encodes/s, decodes/s) of ``EventSerde`` for OrderCreated, ids cached after the first."""
    from orderstream.serde import EventSerde, OrderCreated

    serde = EventSerde(url)
    event = OrderCreated("order-1", "customer-1", "product-1", 2, 1998, "EUR", 1_795_000_000_000)
    data = serde.encode("orders", event)
    serde.decode(data)  # warm both caches
    started = time.perf_counter()
    for _ in range(count):
        serde.encode("orders", event)
    encoded = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(count):
        serde.decode(data)
    decoded = time.perf_counter() - started
    serde.close()
    return count / encoded, count / decoded


def run_registry_bench(
    settings: Settings, schemas: int, seconds: float, connections: int
) -> dict[str, object]:
    """Every registry figure, on a registry subprocess over a fresh schemas topic (deleted after).

    Registration latency (sequential, the first write apart: it waits for the election), GET
    /schemas/ids/{id} throughput under ``connections``, EventSerde encode/decode rates, and the
    start-up time of a registry that must read ``schemas`` records first.
    """
    from orderstream.registry.store import ensure_schemas_topic
    from orderstream.testing.registry import start_registry

    topic = f"_schemas-bench-{uuid.uuid4().hex[:8]}"
    ensure_schemas_topic(settings, topic)
    try:
        registry = start_registry(settings.bootstrap_servers, topic=topic)
        try:
            registry.wait_ready()
            ids, latencies = register_many(registry.url, schemas)
            load = load_schema_ids(registry.url, min(ids), max(ids), seconds, connections)
            encodes, decodes = serde_throughput(registry.url)
        finally:
            registry.stop()
        started = time.monotonic()
        restarted = start_registry(settings.bootstrap_servers, topic=topic)
        try:
            restarted.wait_ready()
            startup_s = time.monotonic() - started
            status = httpx.get(f"{restarted.url}/_orderstream/status").json()
        finally:
            restarted.stop()
    finally:
        _delete_topic(settings, topic)
    first, *ms = [x * 1000 for x in latencies]
    return {
        "schemas": schemas,
        "register_p50_ms": round(percentile(ms, 0.5), 2),
        "register_p99_ms": round(percentile(ms, 0.99), 2),
        "register_max_ms": round(max(ms, default=first), 2),
        "first_register_ms": round(first, 1),
        "lookup_tool": load.tool,
        "lookup_connections": connections,
        "lookup_seconds": round(load.seconds, 2),
        "lookups_per_s": round(load.per_second, 1),
        "lookup_p50_ms": round(load.p50_ms, 2),
        "lookup_p99_ms": round(load.p99_ms, 2),
        "serde_encodes_per_s": round(encodes, 1),
        "serde_decodes_per_s": round(decodes, 1),
        "startup_records": status["records"],
        "startup_s": round(startup_s, 2),
        "store_read_s": round(float(status["ready_after_s"]), 2),
    }


def _delete_topic(settings: Settings, topic: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(kafka_config(Role.ADMIN, "registry-bench", settings=settings))
    admin.delete_topics([topic], operation_timeout=30)[topic].result(35)
