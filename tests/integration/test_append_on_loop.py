"""Appending from a coroutine (schemas.delivery): the acknowledgement comes back to the event
loop through a DeliveryPoller thread, on the real Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Producer as KafkaProducer

from schemas.delivery import DeliveryPoller, append_on_loop
from schemas.eventlog import (
    EventLogUnavailable,
    partition_for,
    producer,
    producer_config,
    read_partition,
)
from schemas.settings import ServiceSettings


@pytest.fixture
def served(settings: ServiceSettings) -> Iterator[KafkaProducer]:
    p = producer(settings)
    poller = DeliveryPoller(p)
    poller.start()
    yield p
    poller.stop()
    p.flush(10)


def test_an_append_returns_where_kafka_wrote_the_record(
    settings: ServiceSettings, make_topic: Callable[..., str], served: KafkaProducer
) -> None:
    topic = make_topic("on-loop", partitions=3)

    async def append_three() -> list[tuple[int, int]]:
        return list(
            await asyncio.gather(
                *(append_on_loop(served, topic, "k", b"v%d" % n) for n in range(3))
            )
        )

    where = asyncio.run(append_three())
    partition = partition_for("k", 3)
    assert {p for p, _ in where} == {partition}
    written = {m.offset(): m.value() or b"" for m in read_partition(settings, topic, partition)}
    assert sorted(written.values()) == [b"v0", b"v1", b"v2"]
    assert {written[offset] for _, offset in where} == {b"v0", b"v1", b"v2"}


def test_an_append_kafka_does_not_acknowledge_in_time_is_a_sluice_error() -> None:
    unreachable = producer(ServiceSettings(kafka_bootstrap="127.0.0.1:1"))
    poller = DeliveryPoller(unreachable)
    poller.start()
    try:
        with pytest.raises(EventLogUnavailable, match=r"did not acknowledge within 0\.5 s"):
            asyncio.run(append_on_loop(unreachable, "nowhere", "k", b"v", timeout_s=0.5))
    finally:
        poller.stop()
        unreachable.purge()


def test_a_record_over_the_producers_size_limit_is_a_sluice_error(
    settings: ServiceSettings, make_topic: Callable[..., str], served: KafkaProducer
) -> None:
    topic = make_topic("refusing")
    too_big = b"x" * 2_000_000  # over the producer's message.max.bytes (1 MB)
    with pytest.raises(EventLogUnavailable, match="cannot append"):
        asyncio.run(append_on_loop(served, topic, "k", too_big))


def test_a_record_kafka_reports_undelivered_is_a_sluice_error(settings: ServiceSettings) -> None:
    # a topic name Kafka refuses: the producer reports the record undelivered
    p = KafkaProducer({**producer_config(settings), "message.timeout.ms": 500})
    poller = DeliveryPoller(p)
    poller.start()
    try:
        with pytest.raises(EventLogUnavailable, match="refused the record"):
            asyncio.run(append_on_loop(p, "sluice.no such topic", "k", b"v", timeout_s=10))
    finally:
        poller.stop()
