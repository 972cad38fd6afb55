"""Back-to-back Kafka transactions, as the decider makes them under load, on the real broker.

Each transaction is what one decider batch is: begin, produce one record, send the consumer
group's offsets, commit. Two producers alternate rounds: one with librdkafka's default
``retry.backoff.ms`` (100 ms) and one configured as Sluice configures every transactional
producer (``schemas.eventlog.producer_config``, 5 ms). A transaction begun right after a
commit is refused (CONCURRENT_TRANSACTIONS) until the coordinator has written the last one's
markers, and waits out the back-off before it is retried.
Floor, same run: an idempotent produce acknowledged by the broker (acks=all), one at a time.
Run: .venv/bin/python bench/transactions.py [--n 150] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.dispatch import pct
from schemas.eventlog import producer_config
from schemas.settings import ServiceSettings
from tests.support.stack import delete_topics

LIBRDKAFKA_DEFAULT = {"retry.backoff.ms": 100}


def back_to_back(
    settings: ServiceSettings, topic: str, n: int, overrides: dict[str, Any]
) -> list[float]:
    """Milliseconds of each of ``n`` transactions made one right after another."""
    p = Producer(
        producer_config(settings, transactional_id=f"bench-{uuid.uuid4().hex}", **overrides)
    )
    p.init_transactions(30)
    c = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"}
    )
    group = c.consumer_group_metadata()
    out = []
    for i in range(n):
        start = time.perf_counter()
        p.begin_transaction()
        p.produce(topic, key=f"run{i % 3}".encode(), value=b"x" * 200)
        p.send_offsets_to_transaction([TopicPartition(topic, 0, i + 1)], group, 30)
        p.commit_transaction(30)
        out.append((time.perf_counter() - start) * 1000)
    c.close()
    return out


def acknowledged(settings: ServiceSettings, topic: str, n: int) -> list[float]:
    p = Producer(producer_config(settings))
    out = []
    for i in range(n):
        start = time.perf_counter()
        p.produce(topic, key=f"run{i % 3}".encode(), value=b"x" * 200)
        p.flush(30)
        out.append((time.perf_counter() - start) * 1000)
    return out


def line(name: str, xs: list[float]) -> str:
    return (
        f"  {name:<44} p50 {statistics.median(xs):6.1f}   p99 {pct(xs, 0.99):6.1f}"
        f"   mean {statistics.mean(xs):6.1f} ms"
    )


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--n", type=int, default=150)
    args.add_argument("--rounds", type=int, default=2)
    opts = args.parse_args()
    settings = ServiceSettings.from_env()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topic = f"bench-txn-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 12, 1)])[topic].result(30)
    try:
        default: list[float] = []
        sluice: list[float] = []
        floor: list[float] = []
        for _ in range(opts.rounds):  # alternated, so a noisy moment hits both
            default += back_to_back(settings, topic, opts.n, LIBRDKAFKA_DEFAULT)
            sluice += back_to_back(settings, topic, opts.n, {})
            floor += acknowledged(settings, topic, opts.n)
    finally:
        delete_topics(admin, [topic])
    print(f"bench/transactions.py: {opts.rounds} x {opts.n} transactions back to back, one broker")
    print(line("librdkafka's default back-off (100 ms)", default))
    print(line("Sluice's transactional producer (5 ms)", sluice))
    print(line("floor: one acknowledged produce (acks=all)", floor))


if __name__ == "__main__":
    main()
