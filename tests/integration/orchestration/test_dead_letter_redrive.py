"""Acceptance of the dead-letter queue as a tool, on the real Kafka and PostgreSQL: a stage
dead-lettered by three infrastructure failures is redriven once the cause is fixed and
succeeds; the run's history shows both; the dead-letters projection follows it and its
replay is identical."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from orchestrator.cli import main
from orchestrator.domain import (
    DeadLetterDiscarded,
    FailureClass,
    Job,
    StageRedriveRequested,
    dead_letter_id,
)
from projections.dead_letters import DEAD_LETTERS
from projections.replay import verify
from projections.runner import ProjectionRunner
from tests.support.stack import Stack, read_dead_letters
from tests.support.standin_runner import Outcome
from tests.support.waiting import eventually

PG = psycopg.Connection[tuple[object, ...]]
CHAIN = """
name: dlq
stages:
  build: {script: ["make"], retry: {max: 0, when: [], backoff: {base: 100ms, cap: 200ms}}}
  test: {needs: [build], script: ["make test"]}
"""


@pytest.fixture
def projected(stack: Stack, pg_schema: str) -> Iterator[str]:
    """The dead-letters projection of the stack's topics, running into ``pg_schema``."""
    stop = threading.Event()
    runner = ProjectionRunner(DEAD_LETTERS, stack.settings, prefix=stack.prefix, schema=pg_schema)
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    yield pg_schema
    stop.set()
    thread.join(30)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def broken_until_fixed(fixed: threading.Event) -> Any:
    """build's host is broken (an infrastructure failure) until ``fixed`` is set."""

    def script(job: Job) -> Outcome:
        if job.stage.name == "build" and not fixed.is_set():
            return Outcome("fail", failure_class=FailureClass.INFRASTRUCTURE)
        return Outcome("succeed")

    return script


def row(pg: PG, letter_id: str) -> tuple[Any, ...] | None:
    pg.rollback()
    return pg.execute(
        "SELECT status, resolved_by, infrastructure_failures, pipeline_id,"
        " (SELECT count(*) FROM dead_letter_attempts a WHERE a.run_id = d.run_id)"
        " FROM dead_letters d WHERE dead_letter_id = %s",
        (letter_id,),
    ).fetchone()


def test_a_dead_lettered_stage_redriven_after_the_fix_succeeds_and_its_history_shows_both(
    stack: Stack, projected: str, pg: PG, capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = threading.Event()
    run_id = stack.create_run(CHAIN, script=broken_until_fixed(fixed))
    assert stack.log.terminal(run_id, timeout=60) == "RunFailed"
    [letter] = read_dead_letters(stack, run_id)
    letter_id = dead_letter_id(run_id, "build", letter.job.attempt)
    eventually(lambda: row(pg, letter_id) == ("dead", None, 3, "p-test", 3), what="dead letter row")

    fixed.set()
    stack.send(
        StageRedriveRequested(
            run_id=run_id, stage="build", requested_by="alice", occurred_at_ms=now_ms()
        )
    )
    eventually(lambda: stack.log.names_of(run_id)[-1] == "RunSucceeded", timeout=60)
    names = stack.log.names_of(run_id)
    assert names.index("StageDeadLettered") < names.index("StageRedriveRequested")
    assert names.count("RunFailed") == 1 and names.count("StageSucceeded") == 2
    taken = [(j.stage.name, j.attempt) for j in stack.runner.taken if j.run_id == run_id]
    assert taken == [("build", 1), ("build", 2), ("build", 3), ("build", 4), ("test", 1)]
    eventually(lambda: row(pg, letter_id) == ("redriven", "alice", 3, "p-test", 3), what="redriven")

    report = verify(
        stack.settings, projection=DEAD_LETTERS, live_schema=projected, prefix=stack.prefix
    )
    assert report.identical, report
    code = main(["replay", "--verify", "--schema", projected, "--prefix", stack.prefix])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "dead_letters: 1 live, 1 replayed, identical" in out
    assert "dead_letter_attempts: 3 live, 3 replayed, identical" in out


def test_a_discarded_dead_letter_leaves_the_run_failed(
    stack: Stack, projected: str, pg: PG
) -> None:
    run_id = stack.create_run(CHAIN, script=broken_until_fixed(threading.Event()))
    assert stack.log.terminal(run_id, timeout=60) == "RunFailed"
    letter_id = dead_letter_id(run_id, "build", 3)
    eventually(lambda: row(pg, letter_id) is not None, what="dead letter row")
    stack.send(
        DeadLetterDiscarded(
            run_id=run_id,
            stage="build",
            attempt=3,
            requested_by="bob",
            reason="the branch is abandoned",
            occurred_at_ms=now_ms(),
        )
    )
    eventually(lambda: row(pg, letter_id) == ("discarded", "bob", 3, "p-test", 3), what="discarded")
    names = stack.log.names_of(run_id)
    assert names[-1] == "DeadLetterDiscarded" and names.count("RunFailed") == 1
