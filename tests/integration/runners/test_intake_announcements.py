"""A runner that fed jobs into the queue takes them itself while it has free slots, and wakes
the other runners only for what it may have left (real Kafka and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from orchestrator.domain.jobs import Job
from orchestrator.domain.model import StageSpec
from runners.intake import JobIntake, Taken
from runners.job_queue import JobQueue
from schemas.eventlog import TopicNames
from schemas.settings import ServiceSettings
from tests.integration.runners.conftest import Repo, announcements_before_a_witness, make_job
from tests.support.waiting import eventually


@pytest.fixture
def feeder(settings: ServiceSettings, topics: TopicNames, pg_schema: str) -> Iterator[JobIntake]:
    """The one runner of the feeding group."""
    intake = JobIntake(
        settings,
        topics=topics,
        group=f"sluice-runners-{uuid.uuid4().hex[:8]}",
        schema=pg_schema,
        runner_id="feeder",
    )
    yield intake
    intake.close()


@pytest.fixture
def other(pg_conninfo: str, pg_schema: str) -> Iterator[JobQueue]:
    """Another runner's connection to the queue, listening."""
    queue = JobQueue(pg_conninfo, schema=pg_schema, runner_id="other")
    yield queue
    queue.close()


def jobs(repo: Repo, n: int) -> list[Job]:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    return [
        make_job(repo, stage=StageSpec(name=f"s{i}", script=("true",)), run_id=run_id)
        for i in range(n)
    ]


def feed(feeder: JobIntake, send: Callable[[Job], None], sent: list[Job]) -> None:
    for job in sent:
        send(job)
    read = [0]

    def all_fed() -> bool:
        read[0] += feeder.feed()
        return read[0] >= len(sent)

    eventually(all_fed, timeout=30, what="the feeder to feed every job")


def test_a_runner_with_free_slots_takes_what_it_fed_and_wakes_nobody(
    feeder: JobIntake, pg_conninfo: str, pg_schema: str, repo: Repo, send_job: Callable[[Job], None]
) -> None:
    sent = jobs(repo, 2)
    taken: list[Taken] = []

    def feed_and_take() -> None:
        feed(feeder, send_job, sent)
        taken.extend(feeder.take(5))

    assert announcements_before_a_witness(pg_conninfo, pg_schema, feed_and_take) == 0
    assert sorted(t.job_id for t in taken) == sorted(j.job_id for j in sent)


def test_a_runner_without_a_free_slot_wakes_the_others_for_what_it_fed(
    feeder: JobIntake, other: JobQueue, repo: Repo, send_job: Callable[[Job], None]
) -> None:
    (job,) = jobs(repo, 1)
    feed(feeder, send_job, [job])

    assert feeder.take(0) == []

    eventually(other.notified, what="the other runner to be told")
    assert [t.job_id for t in other.take(5)] == [job.job_id]


def test_a_runner_that_filled_its_slots_wakes_the_others_for_the_rest(
    feeder: JobIntake, other: JobQueue, repo: Repo, send_job: Callable[[Job], None]
) -> None:
    sent = jobs(repo, 3)
    feed(feeder, send_job, sent)

    taken = feeder.take(1)

    eventually(other.notified, what="the other runner to be told")
    rest = other.take(5)
    assert sorted(t.job_id for t in [*taken, *rest]) == sorted(j.job_id for j in sent)
