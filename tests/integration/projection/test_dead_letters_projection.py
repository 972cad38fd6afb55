"""The dead-letters projection's rows (real PostgreSQL), whatever the interleaving of
sluice.jobs.dead and sluice.runs: a redrive resolves the dead letter it follows on
sluice.runs, never a later one of the same stage read early from sluice.jobs.dead."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestrator.domain import (
    DeadLetter,
    FailureClass,
    Job,
    Priority,
    StageDeadLettered,
    StageFailed,
    StageRedriveRequested,
    dead_letter_id,
    parse_pipeline,
)
from projections.dead_letters import write_one

PG = psycopg.Connection[tuple[object, ...]]
SPEC = parse_pipeline("name: p\nstages:\n  build: {script: [make]}\n").stages[0]


def letter(attempt: int) -> DeadLetter:
    job = Job(
        job_id=f"r1/build/{attempt}",
        run_id="r1",
        pipeline_id="pipe",
        stage=SPEC,
        attempt=attempt,
        priority=Priority.NORMAL,
        repo_url="file:///repo",
        commit_sha="0" * 40,
        branch="main",
        lease_ms=60_000,
        enqueued_at_ms=1_000,
    )
    return DeadLetter(
        job=job,
        reason="3 infrastructure failures",
        infrastructure_failures=3,
        occurred_at_ms=attempt * 1_000,
    )


def logged(attempt: int) -> StageDeadLettered:
    return StageDeadLettered(
        run_id="r1",
        stage="build",
        attempt=attempt,
        reason="3 infrastructure failures",
        infrastructure_failures=3,
        occurred_at_ms=attempt * 1_000,
    )


def rows(pg: PG) -> list[tuple[Any, ...]]:
    return pg.execute(
        "SELECT dead_letter_id, attempt, pipeline_id, status, resolved_by FROM dead_letters"
        " ORDER BY attempt"
    ).fetchall()


def test_a_redrive_resolves_only_the_dead_letter_it_follows_on_the_runs_topic(pg: PG) -> None:
    redrive = StageRedriveRequested(
        run_id="r1", stage="build", requested_by="alice", occurred_at_ms=3_500
    )
    for record in (logged(3), letter(6), redrive, letter(3), logged(6)):
        write_one(pg, record)
    assert rows(pg) == [
        (dead_letter_id("r1", "build", 3), 3, "pipe", "redriven", "alice"),
        (dead_letter_id("r1", "build", 6), 6, "pipe", "dead", None),
    ]


def test_infrastructure_failures_are_kept_and_other_failures_are_not(pg: PG) -> None:
    for attempt, kind in ((1, FailureClass.INFRASTRUCTURE), (2, FailureClass.DETERMINISTIC)):
        write_one(
            pg,
            StageFailed(
                run_id="r1",
                stage="build",
                attempt=attempt,
                runner_id="w1",
                exit_code=None,
                failure_class=kind,
                reason="host lost",
                occurred_at_ms=attempt,
            ),
        )
    assert pg.execute("SELECT attempt, reason FROM dead_letter_attempts").fetchall() == [
        (1, "host lost")
    ]
