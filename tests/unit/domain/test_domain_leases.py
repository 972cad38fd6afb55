"""Liveness rules: short leases renewed by heartbeats, and a schedule-to-start timeout that
ends a job nobody claimed without counting it as an infrastructure failure."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.events import StageStartTimedOut
from orchestrator.domain.leases import (
    HEARTBEAT_MS,
    LEASE_MS,
    LEASE_SLACK_MS,
    heartbeat_interval_ms,
    may_extend_lease,
    start_timeout_problem,
)
from orchestrator.domain.model import RetryPolicy
from orchestrator.domain.statuses import FailureClass, StageStatus
from projections.timers import due_message, timers_for
from tests.unit.domain.domain_helpers import Driver, job_ids, kinds, spec

DAY = 86_400_000


def timed_out(run: Driver, stage: str, *, at: int, timeout_ms: int = DAY) -> StageStartTimedOut:
    s = run.run.stage(stage)
    return StageStartTimedOut(
        run_id=run.run_id,
        stage=stage,
        attempt=s.attempt,
        queued_at_ms=s.queued_at_ms or 0,
        timeout_ms=timeout_ms,
        occurred_at_ms=at,
    )


def test_four_heartbeats_fit_in_a_lease() -> None:
    assert (LEASE_MS, HEARTBEAT_MS) == (60_000, 15_000)
    assert heartbeat_interval_ms(LEASE_MS) == HEARTBEAT_MS


@given(st.integers(0, 10**12), st.integers(1, 10 * DAY), st.integers(-(10**9), 10**9))
def test_an_unclaimed_attempt_times_out_exactly_at_its_schedule_to_start_deadline(
    queued_at: int, timeout: int, offset: int
) -> None:
    run = Driver([spec("build")], now=queued_at)
    stage = run.run.stage("build")
    at = stage.queued_at_ms + timeout + offset  # type: ignore[operator]
    problem = start_timeout_problem(stage, timed_out(run, "build", at=at, timeout_ms=timeout))
    assert (problem is None) == (offset >= 0)


def test_a_start_timeout_fails_the_stage_without_retry_dead_letter_or_infra_count() -> None:
    run = Driver(
        [
            spec("build", retry=RetryPolicy(max=2, when=(FailureClass.INFRASTRUCTURE,))),
            spec("t", "build"),
        ]
    )
    decision = run.send(timed_out(run, "build", at=run.now + DAY))
    assert kinds(decision) == ["StageStartTimedOut", "StageSkipped", "RunFailed"]
    assert (decision.jobs, decision.dead_letters) == ((), ())
    stage = run.run.stage("build")
    assert (stage.status, stage.failure_class, stage.infrastructure_failures) == (
        StageStatus.FAILED,
        None,
        0,
    )
    assert "schedule-to-start" in (stage.reason or "")


def test_a_start_timeout_after_the_claim_is_ignored() -> None:
    run = Driver([spec("build")])
    late = timed_out(run, "build", at=run.now + DAY)
    run.claim("build")
    assert run.send(late).ignored_reason is not None


def test_a_start_timeout_for_an_earlier_queueing_is_ignored() -> None:
    run = Driver([spec("build")])
    message = timed_out(run, "build", at=run.now + DAY)
    assert run.send(replace(message, queued_at_ms=message.queued_at_ms - 1)).events == ()


def test_a_person_can_retry_a_stage_that_timed_out_waiting() -> None:
    run = Driver([spec("build")])
    run.send(timed_out(run, "build", at=run.now + DAY))
    assert job_ids(run.retry("build")) == ["run-1/build/2"]


@given(st.integers(1, 10 * DAY))
def test_the_timers_give_an_unclaimed_attempt_a_start_deadline_and_never_a_lease(
    timeout: int,
) -> None:
    run = Driver([spec("build")])
    (timer,) = timers_for(run.run, timeout)
    assert (timer.kind, timer.due_ms) == (
        "start",
        (run.run.stage("build").queued_at_ms or 0) + timeout,
    )
    message = due_message(timer, timer.due_ms)
    assert kinds(run.send(message)) == ["StageStartTimedOut", "RunFailed"]


@given(st.lists(st.integers(1, LEASE_MS - 1), min_size=1, max_size=40))
def test_a_stage_that_heartbeats_within_each_lease_is_never_expired(gaps: list[int]) -> None:
    run = Driver([spec("build")])
    run.claim("build")
    for gap in gaps:
        (timer,) = timers_for(run.run)
        assert timer.kind == "lease"
        run.now += gap - 1  # the next heartbeat arrives before the lease ran out
        assert timer.due_ms > run.now + 1
        run.heartbeat("build", deadline=run.now + 1 + LEASE_MS)
    (timer,) = timers_for(run.run)
    assert run.send(due_message(timer, timer.due_ms - 1)).events == ()
    assert run.run.stage("build").status is StageStatus.RUNNING


def test_a_runner_that_stops_heartbeating_loses_the_stage_one_lease_later() -> None:
    run = Driver([spec("build")])
    run.claim("build")
    run.heartbeat("build", deadline=run.now + 1 + LEASE_MS)
    (timer,) = timers_for(run.run)
    decision = run.send(due_message(timer, timer.due_ms))
    assert kinds(decision) == ["StageLeaseExpired", "StageQueued"]
    assert job_ids(decision) == ["run-1/build/2"]


@given(st.integers(0, 10**12), st.integers(1, 10 * DAY), st.integers(0, 20 * DAY))
def test_heartbeats_extend_a_lease_until_the_stage_timeout_plus_slack(
    started: int, timeout: int, elapsed: int
) -> None:
    keeps = may_extend_lease(started_at_ms=started, now_ms=started + elapsed, timeout_ms=timeout)
    assert keeps == (elapsed < timeout + LEASE_SLACK_MS)
