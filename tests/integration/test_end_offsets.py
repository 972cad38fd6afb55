"""End offsets asked of a client that fetches nothing (schemas.eventlog.EndOffsets)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import KafkaException, TopicPartition

from schemas.eventlog import EndOffsets
from schemas.settings import ServiceSettings
from tests.support.records import append_numbered


def test_the_end_of_a_partition_is_where_the_next_record_will_go(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("ends", partitions=2)
    append_numbered(settings, topic, {1: 7})
    ends = EndOffsets(settings, group=f"ends-{unique}")
    try:
        assert ends.of(TopicPartition(topic, 0), 10) == 0
        assert ends.of(TopicPartition(topic, 1), 10) == 7
        append_numbered(settings, topic, {1: 2})
        assert ends.of(TopicPartition(topic, 1), 10) == 9
    finally:
        ends.close()


def test_a_closed_probe_asks_again_with_a_new_client(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("reopened")
    append_numbered(settings, topic, {0: 3})
    ends = EndOffsets(settings, group=f"ends-{unique}")
    ends.of(TopicPartition(topic, 0), 10)
    ends.close()
    try:
        assert ends.of(TopicPartition(topic, 0), 10) == 3
    finally:
        ends.close()


def test_a_partition_that_does_not_exist_is_an_error(
    settings: ServiceSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topic = make_topic("one-partition")
    ends = EndOffsets(settings, group=f"ends-{unique}")
    try:
        with pytest.raises(KafkaException):
            ends.of(TopicPartition(topic, 5), 2)
    finally:
        ends.close()
