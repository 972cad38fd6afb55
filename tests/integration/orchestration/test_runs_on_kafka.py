"""Runs driven through the real Kafka by the decider and timers, with a stand-in runner."""

from __future__ import annotations

import time

from orchestrator.domain import (
    FailureClass,
    RunCancelRequested,
    StageRetryRequested,
    StageRetryScheduled,
    StageSkipped,
)
from tests.support.stack import Stack, read_dead_letters, read_runner_notices
from tests.support.standin_runner import Outcome
from tests.support.waiting import eventually

DIAMOND = """
name: diamond
stages:
  build: {script: ["make"]}
  lint: {needs: [build], script: ["make lint"]}
  test: {needs: [build], script: ["make test"]}
  package: {needs: [lint, test], script: ["make dist"]}
"""

CHAIN_WITH_RETRY = """
name: flaky
stages:
  build:
    script: ["make"]
    retry: {max: 2, when: [flaky], backoff: {base: 200ms, factor: 2, cap: 1s}}
  test: {needs: [build], script: ["make test"]}
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def stages_taken(stack: Stack, run_id: str) -> list[tuple[str, int]]:
    return [(j.stage.name, j.attempt) for j in stack.runner.taken if j.run_id == run_id]


def test_a_diamond_succeeds_with_every_stage_after_its_needs(stack: Stack) -> None:
    run_id = stack.create_run(DIAMOND)
    assert stack.log.terminal(run_id) == "RunSucceeded"
    order = [name for name, _ in stages_taken(stack, run_id)]
    assert sorted(order) == ["build", "lint", "package", "test"]
    assert order[0] == "build" and order[-1] == "package"


def test_each_stage_is_dispatched_once_and_succeeds_once(stack: Stack) -> None:
    run_id = stack.create_run(DIAMOND)
    stack.log.terminal(run_id)
    taken = stages_taken(stack, run_id)
    assert len(taken) == len(set(taken)) == 4
    assert stack.log.names_of(run_id).count("StageSucceeded") == 4


def test_a_deterministic_failure_fails_the_run_and_skips_dependents(stack: Stack) -> None:
    run_id = stack.create_run(
        DIAMOND,
        script=lambda job: Outcome("fail" if job.stage.name == "test" else "succeed"),
    )
    assert stack.log.terminal(run_id) == "RunFailed"
    skipped = [e.stage for e in stack.log.events[run_id] if isinstance(e, StageSkipped)]
    assert skipped == ["package"]


def test_a_flaky_failure_is_retried_after_its_back_off(stack: Stack) -> None:
    run_id = stack.create_run(
        CHAIN_WITH_RETRY,
        script=lambda job: Outcome(
            "fail" if (job.stage.name, job.attempt) == ("build", 1) else "succeed",
            failure_class=FailureClass.FLAKY,
        ),
    )
    assert stack.log.terminal(run_id) == "RunSucceeded"
    assert stages_taken(stack, run_id) == [("build", 1), ("build", 2), ("test", 1)]
    [scheduled] = [e for e in stack.log.events[run_id] if isinstance(e, StageRetryScheduled)]
    assert 100 <= scheduled.backoff_ms <= 1000


def test_three_infrastructure_failures_dead_letter_the_stage(stack: Stack) -> None:
    run_id = stack.create_run(
        CHAIN_WITH_RETRY,
        script=lambda job: Outcome("fail", failure_class=FailureClass.INFRASTRUCTURE),
    )
    assert stack.log.terminal(run_id, timeout=60) == "RunFailed"
    names = stack.log.names_of(run_id)
    assert names.count("StageFailed") == 3
    assert names.count("StageDeadLettered") == 1
    assert stages_taken(stack, run_id) == [("build", 1), ("build", 2), ("build", 3)]
    [letter] = read_dead_letters(stack, run_id)
    assert letter.job.job_id == f"{run_id}/build/3" and letter.infrastructure_failures == 3
    assert letter.reason.startswith("3 infrastructure failures")


def test_an_expired_lease_requeues_the_stage_as_the_next_attempt(stack: Stack) -> None:
    run_id = stack.create_run(
        DIAMOND,
        script=lambda job: Outcome(
            "hang" if (job.stage.name, job.attempt) == ("build", 1) else "succeed", lease_ms=300
        ),
    )
    assert stack.log.terminal(run_id, timeout=60) == "RunSucceeded"
    assert "StageLeaseExpired" in stack.log.names_of(run_id)
    assert stages_taken(stack, run_id)[:2] == [("build", 1), ("build", 2)]


def test_cancelling_a_run_cancels_its_live_stages(stack: Stack) -> None:
    run_id = stack.create_run(DIAMOND, script=lambda job: Outcome("hang"))
    eventually(lambda: stages_taken(stack, run_id), what="build to be taken")
    stack.send(
        RunCancelRequested(
            run_id=run_id, requested_by="alice", reason="wrong commit", occurred_at_ms=now_ms()
        )
    )
    assert stack.log.terminal(run_id) == "RunCancelled"
    assert "StageCancelled" in stack.log.names_of(run_id)


def test_the_runner_holding_a_stage_hears_of_its_claim_accepted_and_of_its_cancel(
    stack: Stack,
) -> None:
    run_id = stack.create_run(DIAMOND, script=lambda job: Outcome("hang"))
    # The runner holds the stage once the decider has accepted its claim; a cancel that
    # overtook the claim would refuse it instead (``ClaimRefused``), another behaviour.
    eventually(
        lambda: "StageClaimed" in stack.log.names_of(run_id), what="the claim of build accepted"
    )
    stack.send(
        RunCancelRequested(run_id=run_id, requested_by="bob", reason="", occurred_at_ms=now_ms())
    )
    notices = read_runner_notices(stack, run_id, count=2)
    assert [(runner, type(e).__name__, getattr(e, "stage", None)) for runner, e in notices] == [
        (stack.runner.runner_id, "StageClaimed", "build"),
        (stack.runner.runner_id, "StageCancelled", "build"),
    ]


def test_the_runner_that_lost_a_lease_hears_of_it(stack: Stack) -> None:
    run_id = stack.create_run(
        DIAMOND, script=lambda job: Outcome("hang" if job.attempt == 1 else "succeed", lease_ms=300)
    )
    notices = read_runner_notices(stack, run_id, count=2)
    assert [(runner, type(e).__name__, getattr(e, "attempt", None)) for runner, e in notices] == [
        (stack.runner.runner_id, "StageClaimed", 1),
        (stack.runner.runner_id, "StageLeaseExpired", 1),
    ]


def test_a_manual_retry_of_a_failed_stage_lets_the_run_succeed(stack: Stack) -> None:
    run_id = stack.create_run(
        DIAMOND,
        script=lambda job: Outcome(
            "fail" if (job.stage.name, job.attempt) == ("lint", 1) else "succeed"
        ),
    )
    assert stack.log.terminal(run_id) == "RunFailed"
    stack.send(
        StageRetryRequested(
            run_id=run_id, stage="lint", requested_by="bob", occurred_at_ms=now_ms()
        )
    )
    eventually(lambda: stack.log.names_of(run_id)[-1] == "RunSucceeded", what="run to succeed")
    assert ("lint", 2) in stages_taken(stack, run_id)
    assert ("build", 2) not in stages_taken(stack, run_id)
