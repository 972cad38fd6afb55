"""A runner's notices: only those addressed to it, from when it started, on the real Kafka."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.domain.events import StageClaimed
from runners.messages import encode
from runners.notices import Notices
from schemas.eventlog import EventLogUnavailable, TopicNames, partition_for, producer
from schemas.settings import ServiceSettings
from tests.support.waiting import eventually

PARTITIONS = 3  # as the runner tests' fixture makes every topic


def _claim(runner: str, run_id: str) -> bytes:
    return encode(
        StageClaimed(
            run_id=run_id,
            occurred_at_ms=1,
            stage="build",
            attempt=1,
            runner_id=runner,
            lease_deadline_ms=60_001,
        )
    )


def _tell(settings: ServiceSettings, topics: TopicNames, runner: str, value: bytes) -> None:
    p = producer(settings)
    p.produce(topics.runner_notices, value, runner.encode())
    assert p.flush(10) == 0


def _neighbours() -> tuple[str, str]:
    """Two runner ids whose notices share a partition."""
    ids = (f"runner-{n}" for n in itertools.count())
    first = next(ids)
    other = next(i for i in ids if partition_for(i, PARTITIONS) == partition_for(first, PARTITIONS))
    return first, other


def test_a_runner_reads_only_the_notices_addressed_to_it(
    settings: ServiceSettings, topics: TopicNames
) -> None:
    me, neighbour = _neighbours()
    notices = Notices(settings, topics=topics, runner_id=me)
    try:
        _tell(settings, topics, neighbour, _claim(neighbour, "r1"))
        _tell(settings, topics, me, _claim(me, "r2"))
        got = eventually(notices.read, what="the runner's notice")
        assert got == [_claim(me, "r2")]
    finally:
        notices.close()


def test_a_runner_reads_no_notice_sent_before_it_started(
    settings: ServiceSettings, topics: TopicNames
) -> None:
    me = "runner-late"
    _tell(settings, topics, me, _claim(me, "before"))
    notices = Notices(settings, topics=topics, runner_id=me)
    try:
        _tell(settings, topics, me, _claim(me, "after"))
        assert eventually(notices.read, what="the runner's notice") == [_claim(me, "after")]
    finally:
        notices.close()


def test_a_runner_without_the_notices_topic_stops_with_an_error_naming_it(
    settings: ServiceSettings,
) -> None:
    absent = TopicNames("absent-notices.")
    with pytest.raises(
        EventLogUnavailable, match=r"absent-notices\.sluice\.runner-notices.*infra/up"
    ):
        Notices(settings, topics=absent, runner_id="runner-x")
