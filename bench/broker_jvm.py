"""The broker's CPU per record under each JVM it could run on: does the JVM move Kafka's share?

Kafka is the largest part of what a run costs here (docs/pool.md: 120 of 320 ms of CPU a run
of the compressed day), and the broker runs on the machine's Java 17 with G1. This bench
starts a throwaway one-node broker of its own (127.0.0.1:29092, infra/services/kafka.sh with
``SLUICE_KAFKA_JAVA`` / ``SLUICE_KAFKA_GC``) for each variant in turn, rounds alternating,
and drives the same load through each: an idempotent feeder at ``--rate`` records/s, a
read-process-write hop that takes what it fetched into one transaction with its offsets (two
records out for each one in, as the decider writes), and ``--readers`` read_committed
consumers of the hop's output. After a warm-up (the JIT compiler's threads are most of a new
broker's CPU) it reads the broker's CPU from /proc over ``--windows`` windows and prints ms of
broker CPU per fed record, beside the raw floor of the same run: one acknowledged produce →
consume round trip on that broker.
Run: .venv/bin/python bench/broker_jvm.py [--rounds 2] [--rate 300] [--readers 4]
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.cpu import cpu_ms
from bench.dispatch import pct, round_trip
from schemas.eventlog import consumer, producer_config
from schemas.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = {"KAFKA_CLUSTER": "broker-jvm", "KAFKA_PORT_BASE": "29090", "SLUICE_KAFKA_BROKERS": "1"}
SETTINGS = replace(ServiceSettings.from_env(), kafka_bootstrap="127.0.0.1:29092", topic_prefix="")
PARALLEL = "-XX:+UseParallelGC"


@dataclass(frozen=True)
class Variant:
    """A JVM and collector for the broker; None leaves kafka.sh's own choice (as deployed)."""

    name: str
    java: str | None = None
    gc: str | None = None


def variants() -> list[Variant]:
    found = [Variant("java 17, G1 (as deployed)"), Variant("java 17, Parallel", gc=PARALLEL)]
    for home in sorted(glob.glob("/usr/lib/jvm/temurin-*")):
        java = f"{home}/bin/java"
        release = Path(home).name
        found += [
            Variant(f"{release}, G1", java),
            Variant(
                f"{release}, Parallel, compact headers",
                java,
                f"{PARALLEL} -XX:+UseCompactObjectHeaders",
            ),
        ]
    return found


def _kafka(command: str, variant: Variant | None = None) -> str:
    env = {**os.environ, **CLUSTER}
    if variant and variant.java:
        env["SLUICE_KAFKA_JAVA"] = variant.java
    if variant and variant.gc:
        env["SLUICE_KAFKA_GC"] = variant.gc
    script = f'source "{ROOT}/infra/lib/services.sh"; {command}'
    done = subprocess.run(
        ["bash", "-c", script], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


@contextmanager
def broker(variant: Variant) -> Iterator[int]:
    """A new one-node broker on ``variant``'s JVM; yields its pid."""
    _kafka('kafka_stop; rm -rf "$(_kafka_home)"')
    _kafka("kafka_install; kafka_start", variant)
    pid = _kafka('cat "$SLUICE_RUN_DIR/$(_kafka_name 1).pid"')
    try:
        yield int(pid)
    finally:
        _kafka('kafka_stop; rm -rf "$(_kafka_home)"')


class Load:
    """The feeder, the transactional hop and the readers, on two topics of their own."""

    def __init__(self, rate: float, readers: int) -> None:
        tag = uuid.uuid4().hex[:8]
        self.source, self.sink = f"jvm.in.{tag}", f"jvm.out.{tag}"
        admin = AdminClient({"bootstrap.servers": SETTINGS.kafka_bootstrap})
        for f in admin.create_topics(
            [NewTopic(t, 12, 1) for t in (self.source, self.sink)]
        ).values():
            f.result()
        self.rate, self.fed, self.stop = rate, 0, threading.Event()
        self.failures: list[BaseException] = []
        parts = [self._feed, self._hop] + [self._read] * readers
        self.threads = [threading.Thread(target=self._guarded, args=(part,)) for part in parts]
        for t in self.threads:
            t.start()

    def _guarded(self, part: Callable[[], None]) -> None:
        try:
            part()
        except BaseException as e:  # a part that died would leave a figure of less work
            self.failures.append(e)
            self.stop.set()

    def _feed(self) -> None:
        p = Producer(producer_config(SETTINGS))
        start = time.monotonic()
        while not self.stop.is_set():
            time.sleep(max(0.0, start + self.fed / self.rate - time.monotonic()))
            p.produce(self.source, key=uuid.uuid4().bytes, value=os.urandom(300))
            p.poll(0)
            self.fed += 1
        p.flush(10)

    def _hop(self) -> None:
        c = consumer(SETTINGS, group=f"hop{uuid.uuid4().hex}")
        p = Producer(producer_config(SETTINGS, transactional_id=f"hop{uuid.uuid4().hex}"))
        p.init_transactions(30)
        c.subscribe([self.source])
        while not self.stop.is_set():
            taken = [m for m in c.consume(500, 0.1) if m.error() is None]
            if not taken:
                continue
            p.begin_transaction()
            for m in taken:
                p.produce(self.sink, key=m.key(), value=m.value())
                p.produce(self.sink, key=m.key(), value=(m.value() or b"")[:100])
            p.send_offsets_to_transaction(
                c.position(c.assignment()), c.consumer_group_metadata(), 30
            )
            p.commit_transaction(30)
        c.close()

    def _read(self) -> None:
        c = consumer(SETTINGS, group=f"reader{uuid.uuid4().hex}", **{"fetch.wait.max.ms": 500})
        c.subscribe([self.sink])
        while not self.stop.is_set():
            c.consume(500, 0.2)
        c.close()

    def close(self) -> None:
        """Stop every part; raise what stopped one of them early."""
        self.stop.set()
        for t in self.threads:
            t.join()
        if self.failures:
            raise RuntimeError(f"the load failed, so no figure: {self.failures[0]!r}")


def round_trips(n: int) -> list[float]:
    """ms of n acknowledged produces, each until a read_committed consumer has it."""
    topic = f"jvm.rt.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": SETTINGS.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    return round_trip(SETTINGS, topic, None, n)


def measure(pid: int, opts: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Broker CPU ms per fed record in each window, and the round trips of this broker."""
    load = Load(opts.rate, opts.readers)
    try:
        time.sleep(opts.warm)
        per_record = []
        for _ in range(opts.windows):
            cpu0, fed0 = cpu_ms(pid), load.fed
            time.sleep(opts.window)
            per_record.append((cpu_ms(pid) - cpu0) / max(1, load.fed - fed0))
    finally:
        load.close()
    return per_record, round_trips(200)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--warm", type=float, default=60.0, help="seconds of load before measuring")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--window", type=float, default=15.0, help="seconds per window")
    opts = ap.parse_args()
    print(
        f"{opts.rate:.0f} records/s fed, a transactional hop (2 out for 1 in), {opts.readers} "
        f"read_committed readers; broker CPU from /proc after a {opts.warm:.0f} s warm-up"
    )
    for r in range(1, opts.rounds + 1):
        for v in variants():
            with broker(v) as pid:
                windows, rt = measure(pid, opts)
            each = " ".join(f"{w:.2f}" for w in windows)
            floor = f"p50 {pct(rt, 0.5):.1f} / p99 {pct(rt, 0.99):.1f} ms"
            print(
                f"round {r}  {v.name:<50} broker CPU a record {statistics.mean(windows):.2f} ms "
                f"(windows {each})   raw round trip {floor}",
                flush=True,
            )


if __name__ == "__main__":
    main()
