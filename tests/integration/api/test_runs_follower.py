"""The API's runs follower finds a run another process answered, the moment it is asked.

A GET that does not find a run asks the follower where the decider accepted it. The
follower may not have read that far yet (another API replica answered the 201), so it
follows the run's partition to its end first; past the end, a run nobody created is None.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from orchestrator.api.follower import Located, RunsFollower
from orchestrator.domain import parse_pipeline
from orchestrator.wire import encode_event
from schemas.codec import MARKER, default_codec
from schemas.eventlog import TopicNames, partition_for, producer
from schemas.settings import ServiceSettings
from schemas.topics import RUNS
from tests.support.runs import run_created
from tests.support.stack import create_topics, delete_topics

STAGES = parse_pipeline("name: one\nstages:\n  build: {script: ['true']}\n").stages


@pytest.fixture
def names(kafka_admin: AdminClient, topic_prefix: str) -> Iterator[TopicNames]:
    topics = create_topics(kafka_admin, topic_prefix)
    yield TopicNames(topic_prefix)
    delete_topics(kafka_admin, topics)


@pytest.fixture
def follower(settings: ServiceSettings, names: TopicNames) -> Iterator[RunsFollower]:
    f = RunsFollower(settings, topic=names.runs)
    f.start()
    yield f
    f.stop()


def accept(settings: ServiceSettings, names: TopicNames, run_id: str) -> int | None:
    """Append a RunCreated to sluice.runs in a transaction, as the decider does; its offset."""
    p = producer(settings, transactional_id=f"follower-test-{uuid.uuid4().hex}")
    p.init_transactions(30)
    p.begin_transaction()
    offsets: list[int | None] = []
    p.produce(
        names.runs,
        key=run_id.encode(),
        value=encode_event(run_created(STAGES, run_id=run_id)),
        partition=partition_for(run_id, RUNS.partitions),
        on_delivery=lambda _err, msg: offsets.append(msg.offset()),
    )
    p.commit_transaction(30)
    return offsets[0]


def test_a_run_accepted_just_before_the_call_is_found_where_it_was_appended(
    settings: ServiceSettings, names: TopicNames, follower: RunsFollower
) -> None:
    run_id = uuid.uuid4().hex
    offset = accept(settings, names, run_id)
    located = follower.created(run_id, timeout=10)  # no wait between: it must follow first
    assert located is not None
    assert (located.partition, located.offset) == (partition_for(run_id, RUNS.partitions), offset)
    assert follower.accepted()[located.partition] == offset


def test_a_run_nobody_accepted_is_none_once_its_partition_is_followed_to_the_end(
    settings: ServiceSettings, names: TopicNames, follower: RunsFollower
) -> None:
    accept(settings, names, uuid.uuid4().hex)
    assert follower.created(uuid.uuid4().hex, timeout=10) is None


def test_records_other_than_answers_are_passed_over_on_their_header(
    settings: ServiceSettings,
    names: TopicNames,
    follower: RunsFollower,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A StageQueued header over a body that does not decode (decoded, it would be logged),
    # on the partition the follower must then read to its end to find the run.
    run_id = uuid.uuid4().hex
    not_an_answer = MARKER + default_codec().fingerprint("StageQueued") + b"\xff\xff"
    p = producer(settings)
    p.produce(names.runs, value=not_an_answer, partition=partition_for(run_id, RUNS.partitions))
    p.flush(10)
    with caplog.at_level(logging.WARNING, logger="orchestrator.api.follower"):
        accept(settings, names, run_id)
        assert follower.created(run_id, timeout=10) is not None
    assert not [r for r in caplog.records if "unreadable" in r.getMessage()]


def test_a_coroutine_waiting_on_the_loop_is_woken_by_its_answer(
    settings: ServiceSettings, names: TopicNames, follower: RunsFollower
) -> None:
    run_id = uuid.uuid4().hex

    async def wait_for_acceptance() -> Located | None:
        waiter = follower.expect_on_loop(run_id)
        await asyncio.to_thread(accept, settings, names, run_id)
        return await waiter.wait(10)

    located = asyncio.run(wait_for_acceptance())
    assert located is not None and located.answer.run_id == run_id


def test_a_coroutine_whose_answer_never_comes_gets_none_after_its_timeout(
    follower: RunsFollower,
) -> None:
    async def wait_for_nothing() -> Located | None:
        return await follower.expect_on_loop(uuid.uuid4().hex).wait(0.2)

    assert asyncio.run(wait_for_nothing()) is None
