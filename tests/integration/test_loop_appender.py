"""Appending from a coroutine (schemas.delivery.LoopAppender): aiokafka's producer on the
appending loop, on the real Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from schemas.delivery import LoopAppender, WrongLoop
from schemas.eventlog import EventLogUnavailable, partition_for, read_partition
from schemas.settings import ServiceSettings


async def _appended(
    appender: LoopAppender, topic: str, records: list[tuple[str, bytes]], timeout_s: float = 10
) -> list[tuple[int, int]]:
    try:
        appends = (appender.append(topic, k, v, timeout_s=timeout_s) for k, v in records)
        return list(await asyncio.gather(*appends))
    finally:
        await appender.stop()


def test_an_append_returns_where_kafka_wrote_the_record(
    settings: ServiceSettings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("on-loop", partitions=3)
    records = [("k", b"v%d" % n) for n in range(3)]
    where = asyncio.run(_appended(LoopAppender(settings), topic, records))
    partition = partition_for("k", 3)
    assert {p for p, _ in where} == {partition}
    written = {m.offset(): m.value() or b"" for m in read_partition(settings, topic, partition)}
    assert sorted(written.values()) == [b"v0", b"v1", b"v2"]
    assert {written[offset] for _, offset in where} == {b"v0", b"v1", b"v2"}


def test_each_key_lands_on_the_partition_every_sluice_producer_picks(
    settings: ServiceSettings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("by-key", partitions=12)
    keys = [f"web|b{n}|{n:040x}" for n in range(40)]  # as the trigger processor's dedup keys
    where = asyncio.run(_appended(LoopAppender(settings), topic, [(k, b"v") for k in keys]))
    assert [p for p, _ in where] == [partition_for(k, 12) for k in keys]


def test_an_append_from_another_event_loop_is_refused(
    settings: ServiceSettings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("two-loops")
    appender = LoopAppender(settings)

    async def on_a_second_loop() -> None:
        with pytest.raises(WrongLoop, match="the event loop it first appended on"):
            await appender.append(topic, "k", b"two")

    async def on_the_first_loop() -> None:
        await appender.append(topic, "k", b"one")
        await asyncio.to_thread(asyncio.run, on_a_second_loop())
        await appender.stop()

    asyncio.run(on_the_first_loop())


def test_kafka_out_of_reach_is_a_sluice_error_that_names_it() -> None:
    appender = LoopAppender(ServiceSettings(kafka_bootstrap="127.0.0.1:1"))
    with pytest.raises(EventLogUnavailable, match=r"127\.0\.0\.1:1 is out of reach.*is Kafka up"):
        asyncio.run(_appended(appender, "nowhere", [("k", b"v")], timeout_s=0.5))


def test_a_record_over_the_producers_size_limit_is_a_sluice_error(
    settings: ServiceSettings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("refusing")
    too_big = b"x" * 2_000_000  # over the producer's max_request_size (1 MB)
    with pytest.raises(EventLogUnavailable, match="cannot append"):
        asyncio.run(_appended(LoopAppender(settings), topic, [("k", too_big)]))


def test_a_record_kafka_never_acknowledges_is_a_sluice_error_within_the_timeout(
    settings: ServiceSettings,
) -> None:
    appender = LoopAppender(settings)
    # a topic name Kafka refuses: no partition ever takes the record
    with pytest.raises(EventLogUnavailable, match=r"did not acknowledge within 1\.0 s"):
        asyncio.run(_appended(appender, "sluice.no such topic", [("k", b"v")], timeout_s=1.0))
