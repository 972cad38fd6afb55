"""Kafka plumbing shared by every processor: client configs, topic names, reading a
partition to its end, and the error translation at this boundary.

Every producer uses the murmur2 partitioner, the one Java clients and aiokafka (under
faust) use, so that a key lands on the same partition whichever Sluice process wrote it;
``sluice.inbox`` and ``sluice.runs`` are co-partitioned by ``run_id`` and the decider relies
on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka import Producer as KafkaProducer

from schemas.errors import InfrastructureError
from schemas.settings import ServiceSettings
from schemas.topics import (
    AUDIT,
    DEAD_LETTERS,
    DEPLOY_JOBS,
    INBOX,
    JOB_TOPICS_BY_PRIORITY,
    LOGS,
    PIPELINES,
    PRIORITIES,
    RUNS,
    TRIGGERS,
)

__all__ = [
    "EventLogUnavailable",
    "TopicNames",
    "consumer",
    "end_offsets",
    "partition_for",
    "producer",
    "read_partition",
]


class EventLogUnavailable(InfrastructureError):
    """Kafka could not be reached or refused an operation; start it with infra/up."""


@dataclass(frozen=True)
class TopicNames:
    """The real topic names for one deployment (tests put a prefix before every name)."""

    prefix: str = ""

    @property
    def triggers(self) -> str:
        return self.prefix + TRIGGERS.name

    @property
    def inbox(self) -> str:
        return self.prefix + INBOX.name

    @property
    def runs(self) -> str:
        return self.prefix + RUNS.name

    @property
    def dead_letters(self) -> str:
        return self.prefix + DEAD_LETTERS.name

    @property
    def deploy_jobs(self) -> str:
        return self.prefix + DEPLOY_JOBS.name

    @property
    def logs(self) -> str:
        return self.prefix + LOGS.name

    @property
    def pipelines(self) -> str:
        return self.prefix + PIPELINES.name

    @property
    def audit(self) -> str:
        return self.prefix + AUDIT.name

    def job(self, priority: str) -> str:
        """The job topic for ``priority``."""
        return self.prefix + JOB_TOPICS_BY_PRIORITY[priority].name

    @property
    def jobs(self) -> tuple[str, ...]:
        """Every job topic, most urgent first."""
        return tuple(self.job(p) for p in PRIORITIES)


def partition_for(key: str, partitions: int) -> int:
    """The partition a keyed message lands on: murmur2 as Java, aiokafka and our producers do."""
    return (_murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _murmur2(data: bytes) -> int:
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def _base(settings: ServiceSettings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap, "client.id": "sluice"}


def producer(
    settings: ServiceSettings, *, transactional_id: str | None = None, **extra: Any
) -> KafkaProducer:
    """A producer with acks=all and idempotence; transactional when an id is given."""
    config = {
        **_base(settings),
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": 1,
        **extra,
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = 15000
    return KafkaProducer(config)


def consumer(settings: ServiceSettings, *, group: str, **extra: Any) -> Consumer:
    """A read_committed consumer that never commits on its own."""
    return Consumer(
        {
            **_base(settings),
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
            "partition.assignment.strategy": "cooperative-sticky",
            **extra,
        }
    )


def end_offsets(c: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """The high watermark of each partition (waits out a leader election, up to 30 s)."""
    return {p: _high_watermark(c, TopicPartition(topic, p)) for p in partitions}


_TRANSIENT = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
}


def _high_watermark(c: Consumer, tp: TopicPartition) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(c.get_watermark_offsets(tp, timeout=10, cached=False)[1])
        except KafkaException as e:
            transient = e.args[0].code() in _TRANSIENT
            if not transient or time.monotonic() > deadline:
                raise EventLogUnavailable(
                    f"cannot read the end offset of {tp.topic}[{tp.partition}]: {e}"
                ) from e
            time.sleep(0.2)


def read_partition(
    settings: ServiceSettings, topic: str, partition: int, *, start: int = OFFSET_BEGINNING
) -> Iterator[Message]:
    """Every committed message of one partition from ``start`` up to its current end.

    Reads with read_committed, so an open transaction holds the end back until it commits
    or aborts (a fenced writer's transaction is aborted at the latest after its timeout).
    """
    c = consumer(settings, group="sluice-reader", **{"enable.partition.eof": True})
    try:
        end = end_offsets(c, topic, [partition])[partition]
        if end == 0 or start >= end:
            return
        c.assign([TopicPartition(topic, partition, start)])
        yield from _read_until(c, topic, partition, end)
    finally:
        c.close()


def _read_until(c: Consumer, topic: str, partition: int, end: int) -> Iterator[Message]:
    position = -1
    deadline = time.monotonic() + 60
    while position + 1 < end:
        msg = c.poll(0.5)
        error = None if msg is None else msg.error()
        if msg is None or error is not None:
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise EventLogUnavailable(f"reading {topic}[{partition}]: {error}")
            # at the last stable offset: transaction markers may sit between us and the end
            [tp] = c.position([TopicPartition(topic, partition)])
            if tp.offset >= end:
                return
            if time.monotonic() > deadline:
                raise EventLogUnavailable(f"{topic}[{partition}] did not reach offset {end}")
            continue
        position = msg.offset() or 0
        yield msg
