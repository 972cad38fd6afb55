"""decide: redriving a dead-lettered stage, and discarding its dead letter."""

from __future__ import annotations

from orchestrator.domain import FailureClass, RetryPolicy, RunStatus, dead_letter_id
from tests.unit.domain.domain_helpers import Driver, job_ids, kinds, spec

INFRA = FailureClass.INFRASTRUCTURE
NO_POLICY = RetryPolicy(max=0, when=())


def dead_run() -> Driver:
    run = Driver([spec("test", retry=NO_POLICY), spec("after", "test")])
    run.dead_letter("test")
    assert run.run.status is RunStatus.FAILED
    return run


def test_a_redrive_queues_a_fresh_attempt_and_reopens_the_run() -> None:
    run = dead_run()
    decision = run.redrive("test")
    assert kinds(decision) == ["StageRedriveRequested", "StageQueued"]
    assert job_ids(decision) == ["run-1/test/4"]
    assert run.run.status is RunStatus.RUNNING
    assert run.status("after") == "pending"  # skipped only because of the dead letter
    assert not run.run.stage("test").dead_lettered


def test_a_redriven_stage_has_a_fresh_infrastructure_budget() -> None:
    run = dead_run()
    run.redrive("test")
    for _ in range(2):
        assert kinds(run.crash("test", INFRA))[-1] == "StageRetryScheduled"
        run.retry_due("test")
    assert "StageDeadLettered" in kinds(run.crash("test", INFRA))
    assert run.run.stage("test").attempt == 6


def test_a_redriven_stage_that_succeeds_lets_the_run_succeed() -> None:
    run = dead_run()
    run.redrive("test")
    run.run_stage("test")
    run.run_stage("after")
    assert run.run.status is RunStatus.SUCCESS


def test_a_failed_stage_that_was_not_dead_lettered_cannot_be_redriven() -> None:
    run = Driver([spec("test")])
    run.crash("test")
    decision = run.redrive("test")
    assert not decision.accepted
    assert "no dead letter to redrive" in (decision.ignored_reason or "")


def test_a_second_redrive_of_the_same_dead_letter_is_ignored() -> None:
    run = dead_run()
    run.redrive("test")
    assert not run.redrive("test").accepted


def test_a_discard_changes_nothing_but_the_dead_letter() -> None:
    run = dead_run()
    before = run.run
    decision = run.discard("test")
    assert kinds(decision) == ["DeadLetterDiscarded"] and decision.jobs == ()
    after = run.run
    assert after.status is RunStatus.FAILED and after.stages["after"] == before.stages["after"]
    assert not after.stage("test").dead_lettered
    assert after.stage("test").status == before.stage("test").status


def test_a_discarded_dead_letter_can_no_longer_be_redriven_or_discarded() -> None:
    run = dead_run()
    run.discard("test")
    assert not run.redrive("test").accepted
    assert not run.discard("test").accepted


def test_a_discard_of_another_attempt_than_the_dead_one_is_ignored() -> None:
    run = dead_run()
    decision = run.discard("test", attempt=2)
    assert not decision.accepted and "stale" in (decision.ignored_reason or "")


def test_a_dead_letter_id_is_stable_and_url_safe() -> None:
    first = dead_letter_id("run-1", "test [py=3.12]", 3)
    assert first == dead_letter_id("run-1", "test [py=3.12]", 3)
    assert first != dead_letter_id("run-1", "test [py=3.12]", 4)
    assert len(first) == 16 and first.isalnum()
