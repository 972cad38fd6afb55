"""The claim gate: a held job starts only once the decider told the runner it accepted the
claim."""

from __future__ import annotations

from orchestrator.domain import parse_pipeline
from orchestrator.domain.events import (
    RunCancelled,
    StageCancelled,
    StageClaimed,
    StageHeartbeat,
    StageLeaseExpired,
)
from orchestrator.domain.jobs import Job
from orchestrator.domain.records import ClaimRefused
from orchestrator.wire import encode_event, encode_record
from runners.cancels import cancellations
from runners.claim_gate import ClaimGate
from runners.messages import CancelNotice
from tests.support.jobs import a_job

ME, OTHER = "runner-me", "runner-other"


def _job(run_id: str = "r1") -> Job:
    [stage] = parse_pipeline("name: p\nstages:\n  build: {script: [make]}\n").stages
    return a_job(stage, run_id=run_id, lease_ms=60_000)


def _claimed(runner_id: str, run_id: str = "r1") -> bytes:
    return encode_event(
        StageClaimed(
            run_id=run_id,
            stage="build",
            attempt=1,
            occurred_at_ms=1,
            runner_id=runner_id,
            lease_deadline_ms=60_001,
        )
    )


def test_a_held_job_is_accepted_when_its_own_claim_is_read_back() -> None:
    gate = ClaimGate(runner_id=ME)
    gate.hold(_job(), now_ms=0)
    news = gate.poll(10, [], [_claimed(ME)])
    assert [j.job_id for j in news.accepted] == ["r1/build/1"]
    assert gate.held == 0


def test_another_runners_claim_of_the_same_attempt_does_not_start_the_job() -> None:
    gate = ClaimGate(runner_id=ME)
    gate.hold(_job(), now_ms=0)
    news = gate.poll(10, [], [_claimed(OTHER)])
    assert news.accepted == [] and gate.held == 1


def _refused(runner_id: str, reason: str = "the attempt is another runner's") -> bytes:
    return encode_record(
        ClaimRefused(
            run_id="r1",
            stage="build",
            attempt=1,
            runner_id=runner_id,
            reason=reason,
            occurred_at_ms=1,
        )
    )


def test_a_claim_not_read_back_within_the_timeout_is_refused() -> None:
    gate = ClaimGate(runner_id=ME, timeout_ms=100)
    gate.hold(_job(), now_ms=0)
    assert gate.poll(99, [], []).refused == []
    [refused] = gate.poll(100, [], []).refused
    assert refused.job.job_id == "r1/build/1" and "no answer" in refused.reason


def test_a_claim_the_decider_refused_frees_its_slot_at_once_with_the_reason() -> None:
    gate = ClaimGate(runner_id=ME, timeout_ms=15_000)
    gate.hold(_job(), now_ms=0)
    [refused] = gate.poll(10, [], [_refused(ME, "a stale copy")]).refused
    assert (refused.job.job_id, refused.reason) == ("r1/build/1", "a stale copy")
    assert gate.held == 0


def test_another_runners_refusal_leaves_the_job_held() -> None:
    gate = ClaimGate(runner_id=ME)
    gate.hold(_job(), now_ms=0)
    assert gate.poll(10, [], [_refused(OTHER)]).refused == []
    assert gate.held == 1


def test_a_lease_of_this_runner_that_expired_is_lost_only_for_a_running_attempt() -> None:
    gate = ClaimGate(runner_id=ME)
    expired = encode_event(
        StageLeaseExpired(run_id="r1", stage="build", attempt=1, occurred_at_ms=5, runner_id=ME)
    )
    assert gate.poll(10, [("r1", "build", 1)], [expired]).lost == [("r1", "build", 1)]
    assert gate.poll(10, [], [expired]).lost == []


def test_cancellations_are_picked_from_the_runs_events_in_order() -> None:
    heartbeat = StageHeartbeat(
        run_id="r1",
        stage="build",
        attempt=1,
        occurred_at_ms=5,
        runner_id=ME,
        lease_deadline_ms=60_005,
    )
    stage = StageCancelled(run_id="r1", stage="build", attempt=1, occurred_at_ms=6, reason="x")
    run = RunCancelled(run_id="r1", occurred_at_ms=7, reason="y")
    events = [encode_event(e) for e in (heartbeat, stage, run)] + [_claimed(ME)]
    assert cancellations(events) == [
        CancelNotice("r1", "build", 1, "x"),
        CancelNotice("r1", None, None, "y"),
    ]
