"""The job queue in PostgreSQL: what a runner adds, who is woken, what a runner takes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runners.job_queue import JobQueue, QueuedJob
from tests.integration.runners.conftest import announcements_before_a_witness
from tests.support.waiting import eventually


@pytest.fixture
def queues(pg_conninfo: str, pg_schema: str) -> Iterator[tuple[JobQueue, JobQueue]]:
    """Two runners' connections to one queue."""
    a = JobQueue(pg_conninfo, schema=pg_schema, runner_id="runner-a")
    b = JobQueue(pg_conninfo, schema=pg_schema, runner_id="runner-b")
    yield a, b
    a.close()
    b.close()


def job(
    job_id: str, *, priority: str = "normal", at: int = 1_000, message: bytes = b"m"
) -> QueuedJob:
    return QueuedJob(job_id, f"run-{job_id}", priority, at, message)


def test_a_job_fed_twice_is_queued_once_with_its_first_message(
    queues: tuple[JobQueue, JobQueue],
) -> None:
    a, b = queues
    a.add([job("j1", message=b"first")])
    b.add([job("j1", message=b"again"), job("j2")])

    taken = a.take(10)

    assert sorted((t.job_id, t.message) for t in taken) == [("j1", b"first"), ("j2", b"m")]


def test_adding_jobs_wakes_nobody_by_itself(
    queues: tuple[JobQueue, JobQueue], pg_conninfo: str, pg_schema: str
) -> None:
    a, _ = queues

    woken = announcements_before_a_witness(
        pg_conninfo, pg_schema, lambda: a.add([job("j1"), job("j2")])
    )

    assert woken == 0


def test_an_announcement_wakes_the_other_runners_listening(
    queues: tuple[JobQueue, JobQueue],
) -> None:
    a, b = queues
    a.add([job("j1")])

    a.announce()

    # on its way to b's connection once a's commit returns, not necessarily there yet
    eventually(b.notified, timeout=10, what="b to hear a's announcement")
    assert not b.notified()  # each notification is seen once


def test_a_runner_is_not_woken_by_its_own_announcement(queues: tuple[JobQueue, JobQueue]) -> None:
    a, _ = queues
    a.add([job("j1")])

    a.announce()

    assert not a.notified()


def test_a_runner_takes_the_most_urgent_then_the_oldest_first(
    queues: tuple[JobQueue, JobQueue],
) -> None:
    a, _ = queues
    a.add([
        job("low-old", priority="low", at=1),
        job("normal-new", priority="normal", at=3),
        job("critical", priority="critical", at=5),
        job("normal-old", priority="normal", at=2),
    ])  # fmt: skip

    assert [t.job_id for t in a.take(3)] == ["critical", "normal-old", "normal-new"]


def test_a_job_one_runner_holds_is_not_taken_by_another(queues: tuple[JobQueue, JobQueue]) -> None:
    a, b = queues
    a.add([job("j1"), job("j2")])

    held = a.take(1)
    rest = b.take(10)

    assert [t.job_id for t in held] == ["j1"]
    assert [t.job_id for t in rest] == ["j2"]
