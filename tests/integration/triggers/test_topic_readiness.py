"""The trigger processor starts only once Kafka shows its topics (faust trusts its first look)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka.admin import AdminClient

from projections.triggers import await_topics, ensure_changelog
from schemas.eventlog import EventLogUnavailable
from schemas.settings import ServiceSettings


def test_topics_the_broker_shows_with_every_partition_led_are_ready(
    kafka_admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    name = make_topic("sluice.triggers", partitions=3)

    assert await_topics(kafka_admin, {name: 3}, timeout_s=30) == {name: 3}


def test_a_missing_topic_is_an_error_that_names_it(
    kafka_admin: AdminClient, topic_prefix: str
) -> None:
    missing = topic_prefix + "sluice.inbox"

    with pytest.raises(EventLogUnavailable, match=missing.replace(".", r"\.")):
        await_topics(kafka_admin, {missing: 12}, timeout_s=1)


def test_a_topic_with_fewer_partitions_than_expected_is_not_ready(
    kafka_admin: AdminClient, make_topic: Callable[..., str]
) -> None:
    name = make_topic("sluice.triggers", partitions=1)

    with pytest.raises(EventLogUnavailable, match="with a leader for every partition"):
        await_topics(kafka_admin, {name: 12}, timeout_s=1)


def test_a_processor_that_cannot_reach_kafka_gives_up_after_its_timeout_naming_the_changelog(
    topic_prefix: str,
) -> None:
    settings = ServiceSettings(kafka_bootstrap="127.0.0.1:1")

    with pytest.raises(EventLogUnavailable, match=r"cannot create .*dedup-changelog.*is Kafka up"):
        ensure_changelog(settings, prefix=topic_prefix, timeout_s=1)
