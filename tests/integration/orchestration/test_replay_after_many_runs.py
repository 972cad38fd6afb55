"""Invariant 4: after 1,000 runs driven through Kafka, replaying sluice.runs from offset 0
into an empty schema gives, row for row, the live read model."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from orchestrator.domain import FailureClass
from projections.projector import Projector
from projections.replay import verify
from tests.integration.orchestration.test_runs_on_kafka import CHAIN_WITH_RETRY, DIAMOND
from tests.support.stack import Stack
from tests.support.standin_runner import Outcome, Script
from tests.support.waiting import eventually

RUNS = 1000


@pytest.fixture
def projector(stack: Stack, pg_schema: str) -> Iterator[Projector]:
    worker = Projector(stack.settings, prefix=stack.prefix, schema=pg_schema)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    yield worker
    stop.set()
    thread.join(30)


def first_attempt(outcome: Outcome) -> Script:
    """``outcome`` for the first attempt of every stage, success after that."""
    return lambda job: outcome if job.attempt == 1 else Outcome()


def script_for(i: int) -> Outcome | None:
    if i % 10 == 3:
        return Outcome("fail")  # a deterministic failure: the run fails, dependents skipped
    if i % 10 == 7:
        return Outcome("fail", failure_class=FailureClass.FLAKY)
    return None


def test_replay_of_a_thousand_runs_matches_the_live_read_model(
    stack: Stack, projector: Projector, pg_conninfo: str, pg_schema: str
) -> None:
    run_ids = []
    for i in range(RUNS):
        outcome = script_for(i)
        pipeline = CHAIN_WITH_RETRY if i % 2 else DIAMOND
        run_ids.append(
            stack.create_run(pipeline, script=first_attempt(outcome) if outcome else None)
        )
    for run_id in run_ids:
        stack.log.terminal(run_id, timeout=120)

    def projected() -> bool:
        with psycopg.connect(pg_conninfo, options=f"-c search_path={pg_schema}") as conn:
            row = conn.execute(
                "SELECT count(*) FROM pipeline_runs WHERE run_id = ANY(%s)"
                " AND status IN ('success', 'failed', 'cancelled')",
                (run_ids,),
            ).fetchone()
        return row is not None and row[0] == RUNS

    eventually(projected, timeout=120, what="the read model to hold every finished run")
    report = verify(stack.settings, live_schema=pg_schema, prefix=stack.prefix)
    assert report.identical, [t for t in report.tables if not t.identical]
    assert report.stats.applied >= RUNS * 6
