"""How a runner reports what goes wrong around the script, and keeps leases alive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from orchestrator.domain.events import StageFailed, StageHeartbeat, StageSucceeded
from orchestrator.domain.jobs import Job
from orchestrator.domain.model import StageSpec
from orchestrator.domain.records import AuditEvent, TestOutcomesReported
from orchestrator.domain.statuses import FailureClass
from projections.junit_outcomes import TEST_OUTCOMES
from projections.runner import ProjectionRunner
from tests.integration.runners.conftest import Rig, TopicReader
from tests.support.waiting import eventually


def outcome(inbox: TopicReader, job: Job) -> Any:
    def probe() -> Any:
        done = [
            e
            for e in inbox.read()
            if isinstance(e, StageSucceeded | StageFailed)
            and (e.run_id, e.stage, e.attempt) == (job.run_id, job.stage.name, job.attempt)
        ]
        return done[0] if done else None

    return eventually(probe, timeout=30, what=f"the outcome of {job.job_id}")


def test_an_image_the_registry_does_not_have_fails_the_stage_as_deterministic(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()
    job = rig.job(StageSpec(name="build", image="no-such-image:never", script=("true",)))
    rig.send(job)
    done = outcome(inbox, job)
    assert isinstance(done, StageFailed)
    assert done.failure_class == FailureClass.DETERMINISTIC  # a typo: retrying cannot help
    assert "image no-such-image:never does not exist in the registry" in done.reason


def test_a_secret_that_was_never_set_fails_the_stage_saying_how_to_set_it(rig: Rig) -> None:
    inbox, audit = rig.read(rig.topics.inbox), rig.read(rig.topics.audit)
    rig.start()
    job = rig.job(StageSpec(name="deploy", script=("true",), secrets=("MISSING",)))
    rig.send(job)
    done = outcome(inbox, job)
    assert isinstance(done, StageFailed)
    assert done.failure_class == FailureClass.DETERMINISTIC
    assert "sluice secrets set" in done.reason
    [denied] = eventually(lambda: audit.of(AuditEvent, outcome="denied"), what="the audit")
    assert denied.subject == "secret/pipe-1/MISSING"


def test_a_running_stage_extends_its_lease_with_heartbeats(rig: Rig) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()
    job = rig.job(StageSpec(name="slow", script=("sleep 2",)), lease_ms=1_500)
    rig.send(job)
    assert isinstance(outcome(inbox, job), StageSucceeded)
    beats = inbox.of(StageHeartbeat, run_id=job.run_id)
    assert beats
    assert all(b.lease_deadline_ms == b.occurred_at_ms + 1_500 for b in beats)


JUNIT = (
    'printf \'<testsuite><testcase classname="t" name="wobbly">%s</testcase></testsuite>\' '
    '"$RESULT" > report.xml; test -z "$RESULT"'
)


@pytest.fixture
def test_history(rig: Rig) -> Iterator[None]:
    """The test_outcomes projection of this test's sluice.tests, in a thread."""
    stop = threading.Event()
    runner = ProjectionRunner(
        TEST_OUTCOMES, rig.settings, prefix=rig.topics.prefix, schema=rig.config.pg_schema
    )
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    eventually(runner.ready.is_set, timeout=60, what="the projection to own its partitions")
    yield
    stop.set()
    thread.join(30)


def test_a_test_that_failed_then_passed_makes_its_later_failures_flaky(
    rig: Rig, test_history: None
) -> None:
    inbox = rig.read(rig.topics.inbox)
    rig.start()

    def attempt(run_id: str, number: int, result: str) -> Any:
        stage = StageSpec(
            name="unit", script=(JUNIT,), junit_report="report.xml", variables={"RESULT": result}
        )
        job = rig.job(stage, run_id=run_id, attempt=number)
        rig.send(job)
        return outcome(inbox, job)

    first = attempt("run-a", 1, "<failure/>")
    assert (first.failure_class, first.exit_code) == (FailureClass.DETERMINISTIC, 1)
    assert isinstance(attempt("run-a", 2, ""), StageSucceeded)
    later = attempt("run-b", 1, "<failure/>")
    assert later.failure_class == FailureClass.FLAKY
    assert "t.wobbly" in later.reason


def test_the_runner_appends_test_outcomes_to_the_log_and_writes_no_history_row(
    rig: Rig, pg: psycopg.Connection[tuple[object, ...]]
) -> None:
    tests = rig.read(rig.topics.tests)
    rig.start()
    stage = StageSpec(
        name="unit", script=(JUNIT,), junit_report="report.xml", variables={"RESULT": ""}
    )
    job = rig.job(stage)
    rig.send(job)
    assert isinstance(outcome(rig.read(rig.topics.inbox), job), StageSucceeded)
    [report] = eventually(lambda: tests.of(TestOutcomesReported), what="the test outcomes")
    assert (report.pipeline_id, report.commit_sha, report.attempt) == (
        job.pipeline_id,
        job.commit_sha,
        1,
    )
    assert [(t.name, t.passed) for t in report.tests] == [("t.wobbly", True)]
    # no projection runs in this test: only the projection writes the history tables
    assert pg.execute("SELECT count(*) FROM test_outcomes").fetchone() == (0,)
