"""decide: cancels, manual retries, records, and what is never accepted from the inbox."""

from __future__ import annotations

import pytest

from orchestrator.domain import (
    DeploymentStarted,
    FailureClass,
    Priority,
    RetryPolicy,
    RunEvent,
    RunStarted,
    RunStatus,
    RunSucceeded,
    StageCancelled,
    StageQueued,
    StageSkipped,
)
from tests.unit.domain.domain_helpers import (
    Driver,
    artifact_stored,
    diamond,
    job_ids,
    kinds,
    spec,
)


def test_cancel_cancels_every_unfinished_stage_then_the_run() -> None:
    run = Driver([spec("a"), spec("b"), spec("c", "a"), spec("d", manual=True)])
    run.run_stage("b")
    run.claim("a")
    decision = run.cancel()
    assert kinds(decision) == [
        "RunCancelRequested",
        "StageCancelled",
        "StageCancelled",
        "StageCancelled",
        "RunCancelled",
    ]
    assert run.statuses() == {"a": "cancelled", "b": "success", "c": "cancelled", "d": "cancelled"}
    assert run.run.status is RunStatus.CANCELLED and run.run.reason == "cancelled by alice: no"


def test_a_runner_cancel_report_after_a_run_cancel_is_ignored_as_a_duplicate() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    run.cancel()
    decision = run.runner_cancel("a")
    assert decision.events == () and "duplicate" in (decision.ignored_reason or "")


def test_outcomes_after_a_cancel_are_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    run.cancel()
    assert run.succeed("a").events == ()
    assert run.fail("a").events == ()


def test_cancelling_a_finished_run_is_ignored() -> None:
    run = Driver([spec("a")])
    run.run_stage("a")
    decision = run.cancel()
    assert decision.events == () and decision.ignored_reason == "the run already ended (success)"


def test_a_runner_cancelled_stage_skips_its_dependents_and_cancels_the_run() -> None:
    run = Driver([spec("a"), spec("b", "a")])
    run.claim("a")
    decision = run.runner_cancel("a")
    assert kinds(decision) == ["StageCancelled", "StageSkipped", "RunCancelled"]


def test_retrying_a_failed_stage_queues_a_new_attempt_and_reopens_the_run() -> None:
    run = Driver([spec("a")])
    run.crash("a")
    failed = run.run
    assert failed.status is RunStatus.FAILED
    decision = run.retry("a")
    assert kinds(decision) == ["StageRetryRequested", "StageQueued"]
    assert job_ids(decision) == ["run-1/a/2"]
    reopened = run.run
    assert reopened.status is RunStatus.RUNNING and reopened.failed_stages == ()
    run.run_stage("a")
    assert run.run.status is RunStatus.SUCCESS


def test_retrying_puts_the_dependents_skipped_because_of_it_back_to_pending() -> None:
    run = Driver(diamond())
    run.run_stage("build")
    run.run_stage("lint")
    run.crash("test")
    assert run.status("package") == "skipped"
    run.retry("test")
    assert run.status("package") == "pending"
    run.run_stage("test")
    assert run.status("package") == "queued"


def test_dependencies_are_not_rerun_on_a_retry() -> None:
    run = Driver(diamond())
    run.run_stage("build")
    run.run_stage("lint")
    run.crash("test")
    decision = run.retry("test")
    assert [e.stage for e in decision.events if isinstance(e, StageQueued)] == ["test"]
    assert run.run.stage("build").attempt == 1


def test_dependents_blocked_by_another_failure_stay_skipped() -> None:
    run = Driver(diamond())
    run.run_stage("build")
    run.crash("lint")
    run.crash("test")
    run.retry("test")
    assert run.status("package") == "skipped"


def test_retrying_a_dead_lettered_stage_gives_it_a_fresh_infrastructure_budget() -> None:
    run = Driver([spec("a", retry=RetryPolicy(max=0, when=()))])
    for _ in range(2):
        run.crash("a", FailureClass.INFRASTRUCTURE)
        run.retry_due("a")
    run.crash("a", FailureClass.INFRASTRUCTURE)
    assert run.run.stage("a").dead_lettered
    run.retry("a")
    assert run.run.stage("a").attempt == 4 and run.run.stage("a").infrastructure_failures == 0
    assert kinds(run.crash("a", FailureClass.INFRASTRUCTURE))[-1] == "StageRetryScheduled"


def test_retrying_a_cancelled_stage_of_a_cancelled_run_reopens_it() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    run.cancel()
    decision = run.retry("a")
    assert job_ids(decision) == ["run-1/a/2"] and run.run.status is RunStatus.RUNNING


def test_retrying_a_stage_that_did_not_fail_is_ignored() -> None:
    run = Driver([spec("a"), spec("b", "a")])
    assert run.retry("a").events == ()
    run.crash("a")
    assert run.retry("b").ignored_reason == (
        "stage 'b' is skipped; only a failed or cancelled stage retries"
    )


def test_retrying_a_stage_whose_need_cannot_succeed_is_ignored() -> None:
    run = Driver([spec("a"), spec("b", "a")])
    run.claim("a")
    run.cancel()
    decision = run.retry("b")
    assert decision.events == ()
    assert decision.ignored_reason == "stage 'b' needs 'a', which is cancelled: retry that first"


def test_an_artifact_is_recorded_once_for_a_dispatched_attempt() -> None:
    run = Driver([spec("a")])
    stored = artifact_stored(run)
    assert run.send(stored).events == (stored,)
    assert run.run.stage("a").artifacts == (stored,)
    assert run.send(stored).events == ()


def test_a_record_for_an_attempt_never_dispatched_is_ignored() -> None:
    run = Driver([spec("a"), spec("b", "a")])
    started = DeploymentStarted(
        run_id="run-1",
        occurred_at_ms=run.tick(),
        stage="b",
        attempt=1,
        deployment_id="d-1",
        environment="staging",
        strategy="rolling",
    )
    assert run.send(started).ignored_reason == "attempt 1 of stage 'b' was never dispatched"


def test_a_message_for_an_unknown_stage_is_ignored() -> None:
    run = Driver([spec("a")])
    decision = run.play("nope")
    assert decision.ignored_reason == "run run-1 has no stage 'nope'"


@pytest.mark.parametrize(
    "event",
    [
        RunStarted(run_id="run-1", occurred_at_ms=5),
        RunSucceeded(run_id="run-1", occurred_at_ms=5),
        StageSkipped(run_id="run-1", occurred_at_ms=5, stage="a", reason="x"),
        StageQueued(
            run_id="run-1",
            occurred_at_ms=5,
            stage="a",
            attempt=2,
            priority=Priority.LOW,
            lease_ms=1,
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_events_only_the_decider_writes_are_never_accepted_from_the_inbox(event: RunEvent) -> None:
    run = Driver([spec("a")])
    decision = run.send(event)
    assert decision.events == () and "decider only" in (decision.ignored_reason or "")


def test_a_message_for_another_run_is_ignored() -> None:
    run = Driver([spec("a")])
    other = StageCancelled(run_id="run-2", occurred_at_ms=5, stage="a", attempt=1, reason="x")
    assert run.send(other).ignored_reason == "the message is for run run-2, not run-1"
