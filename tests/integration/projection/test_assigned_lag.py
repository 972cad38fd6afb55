"""A processor's own lag: the messages between its consumer's positions and the head."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from projections.lag import assigned_lag
from schemas.eventlog import consumer
from schemas.settings import ServiceSettings
from tests.support.records import append_numbered
from tests.support.waiting import eventually


def _took(c: Consumer, n: int) -> None:
    taken = 0
    while taken < n:
        msg = c.poll(1)
        if msg is not None and msg.error() is None:
            taken += 1


def test_the_lag_counts_what_is_past_the_position_on_every_assigned_partition(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("lagged", partitions=2)
    append_numbered(settings, topic, {0: 5, 1: 3})
    c = consumer(settings, group=f"lag-{unique}")
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 3)])  # 1: at its end
    try:
        _took(c, 2)  # of partition 0: fetched ahead, but its position is 2
        starts = {(topic, 0): 0, (topic, 1): 3}
        eventually(
            lambda: assigned_lag(c, starts) == 3, timeout=20, what="a lag of (5 - 2) + (3 - 3)"
        )
    finally:
        c.close()


def test_a_partition_nothing_was_taken_from_counts_from_where_it_was_assigned(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("untaken")
    append_numbered(settings, topic, {0: 6})
    c = consumer(settings, group=f"lag-{unique}")
    c.assign([TopicPartition(topic, 0, 4)])
    try:
        # never polled: librdkafka fetches offsets 4 and 5 in the background, nothing is taken
        eventually(lambda: assigned_lag(c, {(topic, 0): 4}) == 2, timeout=20, what="a lag of 2")
    finally:
        c.close()


def test_a_consumer_assigned_nothing_has_no_lag(settings: ServiceSettings, unique: str) -> None:
    c = consumer(settings, group=f"lag-{unique}")
    try:
        assert assigned_lag(c) == 0
    finally:
        c.close()
