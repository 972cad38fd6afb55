"""Kafka plumbing shared by every processor: client configs, topic names, reading a
partition to its end, and the error translation at this boundary.

Every producer uses the murmur2 partitioner, the one Java clients and aiokafka (under
faust) use, so that a key lands on the same partition whichever Sluice process wrote it;
``sluice.inbox`` and ``sluice.runs`` are co-partitioned by ``run_id`` and the decider relies
on it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
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
    CHECKPOINTS,
    DEAD_LETTERS,
    DEPLOY_JOBS,
    FLEET,
    INBOX,
    JOB_TOPICS_BY_PRIORITY,
    LOGS,
    PIPELINES,
    PRIORITIES,
    RUNNER_NOTICES,
    RUNS,
    TESTS,
    TRIGGERS,
)

__all__ = [
    "ACK_TIMEOUT_S",
    "PATIENT_FETCH",
    "RESUMING_FETCH",
    "EndOffsets",
    "EventLogUnavailable",
    "TopicNames",
    "append_acknowledged",
    "assign_at_end",
    "consumer",
    "end_offsets",
    "is_fatal",
    "partition_for",
    "partitions_of",
    "producer",
    "producer_config",
    "read_partition",
    "take_batch",
]

ACK_TIMEOUT_S = 15.0  # how long an append waits for Kafka to acknowledge it
# For consumers that only consume: a fetch that finds nothing waits up to 500 ms at the broker
# instead of 10 ms. A message that arrives meanwhile is still returned at once
# (fetch.min.bytes is 1); what waits is a query on the same connection, and a partition
# assigned or resumed while a fetch is in flight (librdkafka has one fetch in flight per
# broker). An idle consumer of 12 partitions at 10 ms cost the broker ~33 ms of CPU a second
# (17 at 500 ms, which is the broker's own idle); 50 runners at 10 ms took a core of it.
PATIENT_FETCH: dict[str, Any] = {"fetch.wait.max.ms": 500}
# For a consumer that resumes partitions as it takes them over (the decider pauses each one
# until its state is loaded): a resumed partition waits at most 100 ms behind the fetch in
# flight, a tenth of the empty fetches of 10 ms.
RESUMING_FETCH: dict[str, Any] = {"fetch.wait.max.ms": 100}
_STALLED_READ_S = 60.0
# A transaction begun right after a commit is refused with CONCURRENT_TRANSACTIONS until the
# coordinator has written the last one's markers (a few ms); librdkafka retries it after
# retry.backoff.ms, 100 ms by default. Under load (transactions back to back) every
# transaction paid that 100 ms: 80-88 ms mean each, 22-28 ms with 5 ms (bench/transactions.py).
# Retries still back off exponentially up to retry.backoff.max.ms (1 s) while a broker is down.
_BACK_TO_BACK_TRANSACTIONS: dict[str, Any] = {"retry.backoff.ms": 5}


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
    def runner_notices(self) -> str:
        return self.prefix + RUNNER_NOTICES.name

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

    @property
    def checkpoints(self) -> str:
        return self.prefix + CHECKPOINTS.name

    @property
    def tests(self) -> str:
        return self.prefix + TESTS.name

    @property
    def fleet(self) -> str:
        return self.prefix + FLEET.name

    def job(self, priority: str) -> str:
        """The job topic for ``priority``."""
        return self.prefix + JOB_TOPICS_BY_PRIORITY[priority].name

    @property
    def jobs(self) -> tuple[str, ...]:
        """Every job topic, most urgent first."""
        return tuple(self.job(p) for p in PRIORITIES)


def partition_for(key: str, partitions: int) -> int:
    """The partition a keyed message lands on: murmur2, by aiokafka's own partitioner (the one
    faust produces with), which is the Java client's and librdkafka's ``murmur2_random``."""
    return int(_MURMUR2(key.encode(), list(range(partitions)), None))


_MURMUR2 = DefaultPartitioner()


def _base(settings: ServiceSettings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap, "client.id": "sluice"}


def producer(
    settings: ServiceSettings, *, transactional_id: str | None = None, **extra: Any
) -> KafkaProducer:
    """A producer with acks=all and idempotence; transactional when an id is given."""
    return KafkaProducer(producer_config(settings, transactional_id=transactional_id, **extra))


def producer_config(
    settings: ServiceSettings, *, transactional_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The configuration :func:`producer` gives librdkafka; ``extra`` overrides any of it."""
    config: dict[str, Any] = {
        **_base(settings),
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": 1,
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = 15000
        config.update(_BACK_TO_BACK_TRANSACTIONS)
    return {**config, **extra}


def append_acknowledged(
    p: KafkaProducer, topic: str, key: str, value: bytes, *, timeout_s: float = ACK_TIMEOUT_S
) -> tuple[int, int]:
    """Append ``value`` to ``topic`` under ``key`` and return once Kafka acknowledged it,
    with the partition and offset it was written at.

    Serves delivery reports while it waits, so it works whether or not another thread polls
    ``p`` too; waits for this one message, not for everything ``p`` has queued. Raises
    :class:`EventLogUnavailable` if Kafka refuses it or does not answer within ``timeout_s``.
    """
    done = threading.Event()
    outcome: list[KafkaError | None] = []
    where: list[tuple[int, int]] = []

    def delivered(err: KafkaError | None, msg: Message) -> None:
        outcome.append(err)
        where.append((msg.partition() or 0, msg.offset() or 0))
        done.set()

    deadline = time.monotonic() + timeout_s
    try:
        _produce_when_room(p, deadline, topic, key=key.encode(), value=value, on_delivery=delivered)
        while not done.is_set() and time.monotonic() < deadline:
            p.poll(0.005)
    except (KafkaException, BufferError) as e:
        raise EventLogUnavailable(f"cannot append to {topic}: {e}; is Kafka up?") from e
    if not outcome:
        raise EventLogUnavailable(f"{topic} did not acknowledge within {timeout_s} s")
    if outcome[0] is not None:
        raise EventLogUnavailable(f"{topic} refused the record: {outcome[0]}")
    return where[0]


def _produce_when_room(p: KafkaProducer, deadline: float, topic: str, **kw: Any) -> None:
    """Produce, letting deliveries drain a full local queue until ``deadline``."""
    while True:
        try:
            p.produce(topic, **kw)
            return
        except BufferError:
            if time.monotonic() >= deadline:
                raise
            p.poll(0.05)


def is_fatal(error: KafkaError) -> bool:
    """Whether a client is dead for good and must be replaced.

    A static group member fenced after its group coordinator moved gets ``_FATAL`` from
    ``poll`` with ``fatal()`` False (confluentinc/confluent-kafka-python#869); it then
    fetches nothing, ever. Checking ``fatal()`` alone left such a decider polling an empty
    consumer while the inbox filled (the chaos suite's broker kill, now and then).
    """
    return bool(error.fatal()) or error.code() == KafkaError._FATAL


def take_batch(c: Consumer, size: int, *, timeout: float) -> list[Message]:
    """Up to ``size`` messages: waits up to ``timeout`` for the first, then takes only what
    is already fetched (``consume`` alone would wait out its timeout for a full batch)."""
    first = c.poll(timeout)
    if first is None:
        return []
    return [first, *c.consume(size - 1, timeout=0)] if size > 1 else [first]


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
            # a consumer that died (kill -9) is dropped from its group after 6 s (the broker's
            # minimum) instead of 45 s, so its partitions move on or come back within seconds;
            # heartbeats come from librdkafka's own thread, so a long batch does not count
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            **extra,
        }
    )


def end_offsets(c: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """The high watermark of each partition (waits out a leader election, up to 30 s)."""
    return {p: _high_watermark(c, TopicPartition(topic, p)) for p in partitions}


def partitions_of(c: Consumer, topic: str) -> list[int]:
    """The partitions ``topic`` has (none when it does not exist)."""
    try:
        metadata = c.list_topics(topic, timeout=10)
    except KafkaException as e:
        raise EventLogUnavailable(f"cannot read the partitions of {topic}: {e}") from e
    return sorted(metadata.topics[topic].partitions)


def assign_at_end(c: Consumer, topic: str) -> None:
    """Assign every partition of ``topic`` to ``c`` at its current end: it reads only what
    is appended from now on."""
    partitions = partitions_of(c, topic)
    ends = end_offsets(c, topic, partitions)
    c.assign([TopicPartition(topic, p, ends[p]) for p in partitions])


_TRANSIENT = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._DESTROY_BROKER,  # the broker asked went away (killed) while it answered
    KafkaError._UNKNOWN_PARTITION,  # its leader died: cached metadata lists no leader
}


def is_transient(e: KafkaException) -> bool:
    """Whether ``e`` is what a broker going away or changing leaders gives: worth asking again."""
    return bool(e.args) and isinstance(e.args[0], KafkaError) and e.args[0].code() in _TRANSIENT


class EndOffsets:
    """End offsets asked of a client of their own, which fetches nothing; thread-safe.

    Asked of a consumer that fetches, a query goes on the connection of its fetch in flight
    and waits behind it: up to fetch.wait.max.ms a partition (12 partitions took 150 ms at
    10 ms, 5.6 s at 500 ms), or past its timeout while another thread polls it.
    """

    def __init__(self, settings: ServiceSettings, *, group: str) -> None:
        """A client made on first use, in consumer group ``group`` (it never joins it)."""
        self._settings = settings
        self._group = group
        self._client: Consumer | None = None
        self._lock = threading.Lock()

    def of(self, tp: TopicPartition, timeout: float) -> int:
        """The end (high watermark) of one partition; KafkaException after ``timeout``."""
        with self._lock:  # one query at a time
            if self._client is None:
                self._client = consumer(self._settings, group=self._group)
            return int(self._client.get_watermark_offsets(tp, timeout, cached=False)[1])

    def close(self) -> None:
        """Close the client, if one was made."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _high_watermark(c: Consumer, tp: TopicPartition) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(c.get_watermark_offsets(tp, timeout=5, cached=False)[1])
        except KafkaException as e:
            if not is_transient(e) or time.monotonic() > deadline:
                raise EventLogUnavailable(
                    f"cannot read the end offset of {tp.topic}[{tp.partition}]: {e}"
                ) from e
            time.sleep(0.2)
            _refresh_metadata(c, tp.topic)


def _refresh_metadata(c: Consumer, topic: str) -> None:
    """Ask for the topic's metadata now: a client that saw a partition without a leader
    otherwise keeps that view until its periodic refresh (5 min), failing every read."""
    with contextlib.suppress(KafkaException):  # the next read says whether it still fails
        c.list_topics(topic, timeout=5)


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
    """The messages up to ``end``; EventLogUnavailable after 60 s without one (a long read,
    a history folded from offset 0 say, takes as long as it takes)."""
    position = -1
    deadline = time.monotonic() + _STALLED_READ_S
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
        deadline = time.monotonic() + _STALLED_READ_S
