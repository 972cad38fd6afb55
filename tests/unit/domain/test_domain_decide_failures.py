"""decide: failures, retries with back-off, lease expiries, dead letters."""

from __future__ import annotations

from orchestrator.domain import (
    FailureClass,
    RetryPolicy,
    RunFailed,
    RunStatus,
    StageDeadLettered,
    StageRetryScheduled,
    StageSkipped,
)
from tests.unit.domain.domain_helpers import Driver, job_ids, kinds, spec

INFRA = FailureClass.INFRASTRUCTURE
FLAKY = FailureClass.FLAKY
DETERMINISTIC = FailureClass.DETERMINISTIC


def scheduled(run: Driver) -> StageRetryScheduled:
    event = run.log[-1]
    assert isinstance(event, StageRetryScheduled)
    return event


def test_a_deterministic_failure_fails_the_stage_skips_dependents_and_fails_the_run() -> None:
    run = Driver([spec("build"), spec("test", "build"), spec("pack", "test")])
    decision = run.crash("build")
    assert kinds(decision) == ["StageFailed", "StageSkipped", "StageSkipped", "RunFailed"]
    skipped = [e for e in decision.events if isinstance(e, StageSkipped)]
    assert [(e.stage, e.reason) for e in skipped] == [
        ("test", "needs 'build', which failed"),
        ("pack", "needs 'build', which failed"),
    ]
    failed = decision.events[-1]
    assert isinstance(failed, RunFailed) and failed.failed_stages == ("build",)
    assert run.run.status is RunStatus.FAILED


def test_the_run_fails_only_once_nothing_is_queued_or_running() -> None:
    run = Driver([spec("a"), spec("b")])
    run.claim("b")
    assert "RunFailed" not in kinds(run.crash("a"))
    assert run.run.status is RunStatus.RUNNING
    assert kinds(run.succeed("b"))[-1] == "RunFailed"


def test_a_failed_allow_failure_stage_does_not_fail_the_run() -> None:
    run = Driver([spec("lint", allow_failure=True), spec("test")])
    run.crash("lint")
    run.run_stage("test")
    assert run.run.status is RunStatus.SUCCESS


def test_a_flaky_failure_is_retried_after_a_jittered_back_off() -> None:
    run = Driver([spec("test")])
    decision = run.crash("test", FLAKY)
    assert kinds(decision) == ["StageFailed", "StageRetryScheduled"]
    event = scheduled(run)
    assert event.attempt == 2 and event.failure_class is FLAKY
    assert 1_600 <= event.backoff_ms <= 2_400
    assert event.retry_at_ms == run.now + event.backoff_ms
    assert decision.jobs == () and run.status("test") == "queued"


def test_the_back_off_grows_by_the_factor_up_to_the_cap() -> None:
    policy = RetryPolicy(max=5, when=(FLAKY,), backoff_base_ms=1_000, backoff_cap_ms=5_000)
    run = Driver([spec("test", retry=policy)])
    delays = []
    for _ in range(5):
        run.crash("test", FLAKY)
        delays.append(scheduled(run).backoff_ms)
        run.retry_due("test")
    for delay, raw in zip(delays, [1_000, 2_000, 4_000, 5_000, 5_000], strict=True):
        assert raw * 0.8 <= delay <= raw * 1.2


def test_flaky_retries_stop_after_retry_max() -> None:
    run = Driver([spec("test", retry=RetryPolicy(max=1, when=(FLAKY,)))])
    run.crash("test", FLAKY)
    run.retry_due("test")
    assert kinds(run.crash("test", FLAKY)) == ["StageFailed", "RunFailed"]


def test_a_failure_class_not_in_retry_when_is_not_retried() -> None:
    run = Driver([spec("test", retry=RetryPolicy(max=3, when=(FLAKY,)))])
    assert "StageRetryScheduled" not in kinds(run.crash("test", DETERMINISTIC))


def test_deterministic_failures_retry_when_the_policy_lists_them() -> None:
    run = Driver([spec("test", retry=RetryPolicy(max=1, when=(DETERMINISTIC,)))])
    assert kinds(run.crash("test", DETERMINISTIC))[-1] == "StageRetryScheduled"


def test_infrastructure_failures_are_retried_whatever_the_policy() -> None:
    run = Driver([spec("test", retry=RetryPolicy(max=0, when=()))])
    assert kinds(run.crash("test", INFRA))[-1] == "StageRetryScheduled"


def test_the_third_infrastructure_failure_dead_letters_the_attempt_and_fails_the_stage() -> None:
    run = Driver([spec("test", retry=RetryPolicy(max=0, when=())), spec("after", "test")])
    for _ in range(2):
        run.crash("test", INFRA)
        run.retry_due("test")
    decision = run.crash("test", INFRA)
    assert kinds(decision) == ["StageFailed", "StageDeadLettered", "StageSkipped", "RunFailed"]
    dead = decision.events[1]
    assert isinstance(dead, StageDeadLettered) and dead.infrastructure_failures == 3
    [letter] = decision.dead_letters
    assert letter.job.job_id == "run-1/test/3" and letter.infrastructure_failures == 3
    assert run.run.stage("test").dead_lettered


def test_infrastructure_retries_do_not_use_the_policy_budget() -> None:
    run = Driver([spec("test", retry=RetryPolicy(max=1, when=(FLAKY,)))])
    run.crash("test", INFRA)
    run.retry_due("test")
    run.crash("test", INFRA)
    run.retry_due("test")
    assert kinds(run.crash("test", FLAKY))[-1] == "StageRetryScheduled"


def test_retry_due_queues_the_scheduled_attempt_with_its_job() -> None:
    run = Driver([spec("test")])
    run.crash("test", FLAKY)
    decision = run.retry_due("test")
    assert kinds(decision) == ["StageRetryDue", "StageQueued"]
    assert job_ids(decision) == ["run-1/test/2"]


def test_a_retry_due_before_its_time_is_ignored() -> None:
    run = Driver([spec("test")])
    run.crash("test", FLAKY)
    early = (run.run.stage("test").retry_at_ms or 0) - 1
    assert run.retry_due("test", at=early).events == ()


def test_a_duplicate_retry_due_is_ignored() -> None:
    run = Driver([spec("test")])
    run.crash("test", FLAKY)
    run.retry_due("test")
    assert run.retry_due("test", attempt=2).events == ()


def test_a_retry_due_for_another_attempt_is_ignored() -> None:
    run = Driver([spec("test")])
    run.crash("test", FLAKY)
    assert run.retry_due("test", attempt=3).events == ()


def test_an_expired_lease_requeues_the_next_attempt_at_once() -> None:
    run = Driver([spec("test")])
    run.claim("test")
    decision = run.expire("test")
    assert kinds(decision) == ["StageLeaseExpired", "StageQueued"]
    assert job_ids(decision) == ["run-1/test/2"]
    assert run.run.stage("test").infrastructure_failures == 1


def test_a_lease_expiry_before_the_deadline_is_ignored() -> None:
    run = Driver([spec("test")])
    run.claim("test")
    deadline = run.run.stage("test").lease_deadline_ms or 0
    assert run.expire("test", at=deadline - 1).events == ()


def test_a_heartbeat_makes_a_lease_expiry_stale() -> None:
    run = Driver([spec("test")])
    run.claim("test")
    old = run.run.stage("test").lease_deadline_ms or 0
    run.heartbeat("test", old + 60_000)
    assert run.expire("test", at=old).events == ()


def test_an_unclaimed_attempt_expires_a_lease_after_it_was_queued() -> None:
    run = Driver([spec("test")])
    queued = run.run.stage("test")
    due = (queued.queued_at_ms or 0) + (queued.lease_ms or 0)
    assert run.expire("test", at=due - 1).events == ()
    assert job_ids(run.expire("test", at=due)) == ["run-1/test/2"]


def test_three_lease_expiries_dead_letter_the_stage() -> None:
    run = Driver([spec("test")])
    run.expire("test")
    run.claim("test")
    run.expire("test")
    decision = run.expire("test")
    assert kinds(decision) == ["StageLeaseExpired", "StageDeadLettered", "RunFailed"]
    assert decision.dead_letters[0].job.attempt == 3


def test_a_lease_expiry_for_an_old_attempt_is_ignored() -> None:
    run = Driver([spec("test")])
    run.claim("test")
    run.expire("test")
    assert run.expire("test", attempt=1).events == ()


def test_the_late_outcome_of_an_expired_attempt_is_fenced_off() -> None:
    run = Driver([spec("test"), spec("after", "test")])
    run.claim("test", runner="slow")
    run.expire("test")
    assert run.succeed("test", attempt=1, runner="slow").events == ()
    assert run.fail("test", attempt=1, runner="slow").events == ()
    assert run.status("after") == "pending"


def test_each_attempt_gets_exactly_one_job() -> None:
    run = Driver([spec("test")])
    run.crash("test", FLAKY)
    run.retry_due("test")
    run.retry_due("test")
    run.claim("test")
    run.expire("test")
    jobs = [e for e in run.log if type(e).__name__ == "StageQueued"]
    assert [(e.stage, e.attempt) for e in jobs] == [("test", 1), ("test", 2), ("test", 3)]  # type: ignore[union-attr]
