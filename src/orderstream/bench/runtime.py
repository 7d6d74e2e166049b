"""The runtime benchmark behind ``orderstream bench runtime``.

All scenarios run on the same broker and the same input (small integer records over 6
partitions, so that per-record Python work dominates):

- the raw Python ceiling: consume, then produce the same bytes, at-least-once, no decoding;
- the runtime with a trivial stateless processor, exactly-once and at-least-once;
- the stateful aggregate processor, exactly-once;

each with 100 ms and 1 s commit intervals. Then the restore rate and the restart time of an
instance whose store holds ``restore_keys`` keys, without and with the local snapshot.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from orderstream.config import Role, Settings, kafka_config
from orderstream.runtime import ProcessingLoop, Processor, RuntimeConfig
from orderstream.runtime.session import FETCH_TUNING
from orderstream.testing.aggregate import Aggregate, AggregateProcessor, PassThroughProcessor
from orderstream.testing.cluster import LocalCluster
from orderstream.testing.eos import produce_inputs

PARTITIONS = 6
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class BenchResult:
    """Figures of one benchmark run (records per second unless named otherwise)."""

    records: int
    rates: dict[str, float] = field(default_factory=dict)
    restore: dict[str, float] = field(default_factory=dict)
    # Every round's rate of every scenario, in round order (``rates`` holds the best).
    per_round: dict[str, list[float]] = field(default_factory=dict)

    def ratio(self, name: str) -> float:
        ceiling = self.rates.get("ceiling_rps", 0.0)
        return self.rates[name] / ceiling if ceiling else 0.0

    def round_ratios(self, name: str) -> list[float]:
        """``name`` against the ceiling of the same round: the target holds in every round."""
        if name not in self.per_round:
            return []
        pairs = zip(self.per_round[name], self.per_round["ceiling_rps"], strict=True)
        return [round(rate / ceiling, 3) if ceiling else 0.0 for rate, ceiling in pairs]

    def round_rows(self) -> list[tuple[str, ...]]:
        """One row per round: the ceiling, the stateful EOS rates and their ratios."""
        rows: list[tuple[str, ...]] = []
        stateful = self.round_ratios("eos_stateful_rps")
        stateful_1s = self.round_ratios("eos_stateful_rps_1s")
        for i, ceiling in enumerate(self.per_round.get("ceiling_rps", [])):
            rows.append(
                (
                    str(i + 1),
                    f"{ceiling:,.0f}",
                    f"{self.per_round['eos_stateful_rps'][i]:,.0f}",
                    f"{stateful[i]:.2f}",
                    f"{stateful_1s[i]:.2f}",
                )
            )
        return rows

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"records": self.records, **self.rates, **self.restore}
        for name in list(self.rates):
            if name != "ceiling_rps" and name.endswith("_rps"):
                out[name.replace("_rps", "_ratio")] = round(self.ratio(name), 3)
        out["stateful_ratio_per_round"] = self.round_ratios("eos_stateful_rps")
        out["stateful_1s_ratio_per_round"] = self.round_ratios("eos_stateful_rps_1s")
        out["rates_per_round"] = {k: [round(v, 1) for v in vs] for k, vs in self.per_round.items()}
        return out


class RuntimeBench:
    """Runs every scenario against ``cluster``; ``progress`` is told how far each one is."""

    def __init__(
        self,
        cluster: LocalCluster,
        records: int,
        restore_keys: int,
        progress: Progress,
        rounds: int = 3,
    ) -> None:
        self.rounds = rounds
        self.cluster = cluster
        self.settings: Settings = cluster.settings()
        self.records = records
        self.restore_keys = restore_keys
        self.progress = progress
        self.input = cluster.create_topic(f"bench-in-{uuid.uuid4().hex[:6]}", PARTITIONS)
        cluster.create_topic(self.input + ".dlq", 1)

    def run(self) -> BenchResult:
        result = BenchResult(self.records)
        self.progress("producing input", 0, self.records)
        produce_inputs(self.cluster.bootstrap, self.input, self.records, keys=10_000)
        self.progress("producing input", self.records, self.records)
        rates: dict[str, list[float]] = {}
        # Rounds interleave the scenarios and the best round counts: on a shared machine a
        # burst of someone else's work should not decide a ratio.
        for _ in range(self.rounds):
            rates.setdefault("ceiling_rps", []).append(self.ceiling())
            for interval, suffix in ((100, ""), (1000, "_1s")):
                for key, mode, stateful in (
                    ("eos_stateless_rps", "exactly_once", False),
                    ("alo_stateless_rps", "at_least_once", False),
                    ("eos_stateful_rps", "exactly_once", True),
                ):
                    rate = self.runtime(mode, stateful, interval)
                    rates.setdefault(key + suffix, []).append(rate)
        result.per_round = rates
        result.rates = {name: round(max(values), 1) for name, values in rates.items()}
        result.restore = self.restart_times()
        return result

    # -- throughput -----------------------------------------------------------------------

    def ceiling(self) -> float:
        """Consume then produce the same bytes, with nothing else: what Python can do."""
        out = self.cluster.create_topic(partitions=PARTITIONS)
        consumer = Consumer(
            kafka_config(
                Role.CONSUMER,
                "bench-ceiling",
                settings=self.settings,
                group_id=f"bench-ceiling-{uuid.uuid4().hex[:6]}",
                overrides={"isolation.level": "read_uncommitted", **FETCH_TUNING},
            )
        )
        producer = Producer(
            kafka_config(
                Role.PRODUCER,
                "bench-ceiling",
                settings=self.settings,
                overrides={"queue.buffering.max.messages": 400_000},  # as the runtime's
            )
        )
        consumer.subscribe([self.input])
        done = 0
        started = 0.0
        last_commit = time.monotonic()
        try:
            while done < self.records:
                batch: list[Any] = consumer.consume(1000, 0.1)
                if batch and not started:
                    started = time.perf_counter()
                for msg in batch:
                    if msg.error() is None:
                        try:
                            producer.produce(out, msg.value(), msg.key())
                        except BufferError:
                            producer.flush()
                            producer.produce(out, msg.value(), msg.key())
                        done += 1
                producer.poll(0)
                if done and time.monotonic() - last_commit >= 0.1:
                    producer.flush()
                    _commit(consumer)
                    last_commit = time.monotonic()
                    self.progress("ceiling", done, self.records)
            producer.flush()
            _commit(consumer)
            elapsed = time.perf_counter() - started
            self.progress("ceiling", done, self.records)
        finally:
            consumer.close()
        self.progress("ceiling", done, self.records)
        return self.records / elapsed

    def runtime(self, mode: str, stateful: bool, interval_ms: int) -> float:
        """The runtime over the whole input, timed from its first record to its last."""
        kind = "stateful" if stateful else "stateless"
        name = f"{'eos' if mode == 'exactly_once' else 'alo'} {kind} {interval_ms} ms"
        out = self.cluster.create_topic(partitions=PARTITIONS)
        processor: Processor
        if stateful:
            changelog = self.cluster.create_topic(
                partitions=PARTITIONS, config={"cleanup.policy": "compact"}
            )
            processor = AggregateProcessor(self.input, out, changelog)
        else:
            processor = PassThroughProcessor(self.input, out)
        config = RuntimeConfig(
            app_id=f"bench-{uuid.uuid4().hex[:6]}",
            instance_id="bench",
            mode=mode,  # type: ignore[arg-type]
            commit_interval_ms=interval_ms,
            # The interval, not the default 10k-record cap, decides the transaction size here.
            max_records_per_txn=1_000_000,
        )
        loop = ProcessingLoop(processor, config, self.settings)
        thread = threading.Thread(target=_quiet(loop.run), daemon=True)
        thread.start()
        try:
            elapsed = self._time_loop(loop, name)
        finally:
            loop.stop()
            thread.join(60)
        return self.records / elapsed

    def _time_loop(self, loop: ProcessingLoop, name: str) -> float:
        started = 0.0
        while True:
            session = loop.session
            done = session.processed if session is not None else 0
            if done and not started:
                started = time.perf_counter()
            if done >= self.records:
                elapsed = time.perf_counter() - started
                self.progress(name, self.records, self.records)
                return elapsed
            if loop.error is not None:
                raise loop.error
            self.progress(name, done, self.records)
            time.sleep(0.02)

    # -- restore --------------------------------------------------------------------------

    def restart_times(self) -> dict[str, float]:
        """Restore rate and restart time of ``restore_keys`` keys, without and with snapshot."""
        keys = self.restore_keys
        empty_input = self.cluster.create_topic(partitions=PARTITIONS)
        self.cluster.create_topic(empty_input + ".dlq", 1)
        changelog = self.cluster.create_topic(
            partitions=PARTITIONS, config={"cleanup.policy": "compact"}
        )
        self._write_changelog(changelog, keys)
        state_dir = Path(tempfile.mkdtemp(prefix="orderstream-bench-"))
        config = RuntimeConfig(
            app_id=f"bench-restore-{uuid.uuid4().hex[:6]}", instance_id="r", state_dir=state_dir
        )
        processor = AggregateProcessor(empty_input, empty_input, changelog)
        try:
            cold, _ = self._restart(processor, config, "restart without snapshot")
            warm, loop = self._restart(processor, config, "restart with snapshot")
            restored = int(loop.metrics.restored_records._value.get())
        finally:
            shutil.rmtree(state_dir, ignore_errors=True)
        return {
            "restore_keys": float(keys),
            "restore_rps": round(keys / cold["restore_s"], 1) if cold["restore_s"] else 0.0,
            "restart_without_snapshot_s": round(cold["ready_s"], 3),
            "restart_with_snapshot_s": round(warm["ready_s"], 3),
            "snapshot_write_s": round(cold["stop_s"], 3),
            "replayed_with_snapshot": float(restored),
        }

    def _write_changelog(self, topic: str, keys: int) -> None:
        producer = Producer(
            kafka_config(
                Role.PRODUCER,
                "bench-changelog",
                settings=self.settings,
                overrides={"linger.ms": 20, "queue.buffering.max.messages": 1_000_000},
            )
        )
        rng = random.Random(3)
        for i in range(keys):
            agg = Aggregate.first(rng.randint(-1000, 1000)).encode()
            while True:
                try:
                    producer.produce(topic, agg, f"key-{i}".encode())
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 50_000 == 0:
                self.progress("writing changelog", i, keys)
        producer.flush(120)
        self.progress("writing changelog", keys, keys)

    def _restart(
        self, processor: Processor, config: RuntimeConfig, name: str
    ) -> tuple[dict[str, float], ProcessingLoop]:
        started = time.perf_counter()
        loop = ProcessingLoop(processor, config, self.settings)
        thread = threading.Thread(target=_quiet(loop.run), daemon=True)
        thread.start()
        while not loop.ready()[0]:
            if loop.error is not None:
                raise loop.error
            done = int(loop.metrics.restored_records._value.get())
            self.progress(name, done, self.restore_keys)
            time.sleep(0.01)
        ready_s = time.perf_counter() - started
        self.progress(name, self.restore_keys, self.restore_keys)
        restore_s = loop.session.restorer.seconds if loop.session is not None else ready_s
        stopping = time.perf_counter()
        loop.stop()
        thread.join(120)
        return {
            "ready_s": ready_s,
            "restore_s": restore_s,
            "stop_s": time.perf_counter() - stopping,
        }, loop


def _commit(consumer: Consumer) -> None:
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:  # nothing new since the last commit
            raise


def _quiet(run: Callable[[], None]) -> Callable[[], None]:
    """Run in a thread without printing the error: the loop keeps it in ``loop.error``."""

    def target() -> None:
        with contextlib.suppress(Exception):
            run()

    return target
