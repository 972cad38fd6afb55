"""decide: creating runs, claims, heartbeats, successes, manual stages."""

from __future__ import annotations

from orchestrator.domain import (
    LogArchived,
    Priority,
    RunDeduplicated,
    RunRejected,
    RunStarted,
    RunStatus,
    StageQueued,
    StageSkipped,
    StageSucceeded,
    decide,
    lease_ms_for,
)
from tests.unit.domain.domain_helpers import Driver, created, diamond, job_ids, kinds, spec


def test_run_created_queues_the_root_stages_with_one_job_each() -> None:
    stages = [spec("a"), spec("b"), spec("c", "a", "b")]
    decision = decide(None, created(stages))
    assert kinds(decision) == ["RunCreated", "StageQueued", "StageQueued"]
    assert job_ids(decision) == ["run-1/a/1", "run-1/b/1"]
    assert decision.state is not None and decision.state.status is RunStatus.QUEUED


def test_a_job_carries_what_a_runner_needs() -> None:
    run = Driver([spec("build"), spec("test", "build"), spec("pack", "test")])
    run.run_stage("build")
    job = run.run_stage("test").jobs[0]
    assert job.job_id == "run-1/pack/1"
    assert (job.stage.name, job.attempt, job.priority) == ("pack", 1, Priority.NORMAL)
    assert job.upstream_stages == ("build", "test")
    assert (job.repo_url, job.commit_sha, job.branch) == ("file:///repo.git", "c0ffee", "main")
    assert job.variables == {"CI": "true", "SLUICE_EVENT": "branch"}
    assert job.lease_ms == lease_ms_for(job.stage.timeout_ms)
    assert job.enqueued_at_ms == run.now


def test_the_lease_is_one_minute_whatever_the_stage_timeout() -> None:
    assert lease_ms_for(3_600_000) == lease_ms_for(60_000) == 60_000


def test_a_stage_priority_overrides_the_run_priority_for_its_jobs() -> None:
    stages = [spec("a"), spec("b", priority=Priority.LOW)]
    decision = decide(None, created(stages, priority=Priority.HIGH))
    assert [job.priority for job in decision.jobs] == [Priority.HIGH, Priority.LOW]
    queued = [e for e in decision.events if isinstance(e, StageQueued)]
    assert [e.priority for e in queued] == [Priority.HIGH, Priority.LOW]


def test_a_stage_whose_branch_rule_does_not_match_is_skipped_with_its_dependents() -> None:
    stages = [spec("build"), spec("deploy", "build", branches=["main"]), spec("smoke", "deploy")]
    run = Driver(stages, branch="feature/x")
    skipped = [e for e in run.log if isinstance(e, StageSkipped)]
    assert [(e.stage, e.reason) for e in skipped] == [
        ("deploy", "branch 'feature/x' does not match when.branches (main)"),
        ("smoke", "needs 'deploy', which was skipped"),
    ]
    assert run.run_stage("build").events[-1] == run.log[-1]
    assert run.run.status is RunStatus.SUCCESS


def test_branch_patterns_are_globs() -> None:
    run = Driver([spec("ship", branches=["release/*"])], branch="refs/heads/release/1.2")
    assert run.status("ship") == "queued"


def test_a_run_whose_every_stage_is_skipped_succeeds_at_once() -> None:
    run = Driver([spec("deploy", branches=["main"])], branch="dev")
    assert kinds(run.last) == ["RunCreated", "StageSkipped", "RunSucceeded"]  # type: ignore[arg-type]
    assert run.run.status is RunStatus.SUCCESS


def test_a_manual_root_waits_for_a_person() -> None:
    run = Driver([spec("approve", manual=True), spec("deploy", "approve")])
    assert kinds(run.last) == ["RunCreated", "StageManualWaiting", "RunSucceeded"]  # type: ignore[arg-type]
    assert run.statuses() == {"approve": "manual", "deploy": "pending"}


def test_a_duplicate_run_created_is_ignored() -> None:
    run = Driver(diamond())
    before = run.state
    decision = run.send(created(diamond()))
    assert decision.events == () and decision.ignored_reason is not None
    assert decision.state is before


def test_a_run_created_with_an_invalid_snapshot_is_ignored() -> None:
    decision = decide(None, created([spec("a", "a")]))
    assert decision.events == () and decision.state is None
    assert "invalid" in (decision.ignored_reason or "")


def test_a_message_for_a_run_that_does_not_exist_is_ignored() -> None:
    message = StageSucceeded(
        run_id="ghost", occurred_at_ms=1, stage="a", attempt=1, runner_id="w", duration_ms=1
    )
    decision = decide(None, message)
    assert decision.events == () and decision.ignored_reason == "run ghost does not exist"


def test_run_rejected_is_accepted_as_is_and_creates_no_state() -> None:
    rejected = RunRejected(
        run_id="r", occurred_at_ms=1, pipeline_id="p", branch="b", commit_sha="c", reason="bad"
    )
    decision = decide(None, rejected)
    assert decision.events == (rejected,) and decision.state is None


def test_run_deduplicated_is_accepted_for_an_existing_run() -> None:
    run = Driver(diamond())
    before = run.state
    dedup = RunDeduplicated(run_id="run-1", occurred_at_ms=5, request_id="q", dedup_key="k")
    decision = run.send(dedup)
    assert decision.events == (dedup,) and decision.state == before


def test_the_first_claim_starts_the_run_and_later_claims_do_not() -> None:
    run = Driver([spec("a"), spec("b")])
    assert kinds(run.claim("a")) == ["StageClaimed", "RunStarted"]
    assert kinds(run.claim("b")) == ["StageClaimed"]
    assert run.run.status is RunStatus.RUNNING
    assert sum(isinstance(e, RunStarted) for e in run.log) == 1


def test_a_duplicate_claim_is_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    assert run.claim("a").ignored_reason == "duplicate: w1 already claimed attempt 1"


def test_a_claim_by_a_second_runner_is_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a", runner="w1")
    decision = run.claim("a", runner="w2")
    assert decision.events == () and run.run.stage("a").runner_id == "w1"


def test_a_claim_for_a_stale_attempt_is_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    run.expire("a")
    decision = run.claim("a", attempt=1, runner="w9")
    assert decision.events == () and "stale" in (decision.ignored_reason or "")


def test_a_heartbeat_extends_the_lease() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    later = (run.run.stage("a").lease_deadline_ms or 0) + 60_000
    assert kinds(run.heartbeat("a", later)) == ["StageHeartbeat"]
    assert run.run.stage("a").lease_deadline_ms == later


def test_a_heartbeat_that_does_not_extend_the_lease_is_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    deadline = run.run.stage("a").lease_deadline_ms or 0
    assert run.heartbeat("a", deadline - 1).events == ()


def test_a_heartbeat_from_another_runner_is_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a", runner="w1")
    assert run.heartbeat("a", 10**12, runner="w2").events == ()


def test_success_queues_every_stage_whose_needs_are_now_met_in_declaration_order() -> None:
    stages = [spec("build"), spec("z-lint", "build"), spec("a-test", "build"), spec("other")]
    run = Driver(stages)
    decision = run.run_stage("build")
    assert job_ids(decision) == ["run-1/z-lint/1", "run-1/a-test/1"]


def test_a_stage_waits_for_every_one_of_its_needs() -> None:
    run = Driver(diamond())
    run.run_stage("build")
    assert run.run_stage("lint").jobs == ()
    assert job_ids(run.run_stage("test")) == ["run-1/package/1"]


def test_a_need_on_an_allow_failure_stage_that_failed_counts_as_met() -> None:
    run = Driver([spec("flaky", allow_failure=True), spec("after", "flaky")])
    decision = run.crash("flaky")
    assert job_ids(decision) == ["run-1/after/1"]
    run.run_stage("after")
    assert run.run.status is RunStatus.SUCCESS


def test_the_run_succeeds_when_its_last_stage_succeeds() -> None:
    run = Driver(diamond())
    for name in ("build", "lint", "test"):
        run.run_stage(name)
    assert kinds(run.run_stage("package"))[-1] == "RunSucceeded"
    assert run.run.status is RunStatus.SUCCESS


def test_a_stage_succeeds_at_most_once_per_run() -> None:
    run = Driver([spec("a"), spec("b")])
    run.run_stage("a")
    decision = run.succeed("a")
    assert decision.events == () and "success" in (decision.ignored_reason or "")
    assert sum(isinstance(e, StageSucceeded) and e.stage == "a" for e in run.log) == 1


def test_a_success_from_an_old_attempt_is_ignored() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    run.expire("a")
    run.claim("a", runner="w2")
    decision = run.succeed("a", attempt=1, runner="w1")
    assert decision.events == () and run.status("a") == "running"


def test_a_manual_stage_whose_needs_are_met_waits_without_keeping_the_run_open() -> None:
    run = Driver([spec("build"), spec("deploy", "build", manual=True)])
    decision = run.run_stage("build")
    assert kinds(decision) == ["StageSucceeded", "StageManualWaiting", "RunSucceeded"]
    assert run.status("deploy") == "manual"


def test_playing_a_manual_stage_queues_it() -> None:
    run = Driver([spec("deploy", manual=True), spec("smoke", "deploy")])
    decision = run.play("deploy")
    assert kinds(decision) == ["StageStartRequested", "StageQueued"]
    assert job_ids(decision) == ["run-1/deploy/1"]


def test_playing_a_manual_stage_of_a_finished_run_reopens_it() -> None:
    run = Driver([spec("build"), spec("deploy", "build", manual=True)])
    run.run_stage("build")
    run.play("deploy")
    reopened = run.run
    assert reopened.status is RunStatus.RUNNING
    run.run_stage("deploy")
    assert run.run.status is RunStatus.SUCCESS


def test_playing_a_stage_that_is_not_waiting_for_a_person_is_ignored() -> None:
    run = Driver([spec("build"), spec("deploy", "build", manual=True)])
    decision = run.play("deploy")
    assert decision.events == () and "pending" in (decision.ignored_reason or "")
    assert run.play("build").events == ()


def test_a_played_manual_stage_that_fails_is_queued_directly_on_retry() -> None:
    run = Driver([spec("deploy", manual=True)])
    run.play("deploy")
    run.crash("deploy")
    assert kinds(run.retry("deploy")) == ["StageRetryRequested", "StageQueued"]


def test_records_are_kept_on_the_stage_without_changing_its_status() -> None:
    run = Driver([spec("a")])
    run.claim("a")
    archived = LogArchived(
        run_id="run-1",
        occurred_at_ms=run.tick(),
        stage="a",
        attempt=1,
        storage_path="logs/a/1",
        size_bytes=10,
        lines=2,
    )
    assert run.send(archived).events == (archived,)
    assert run.run.stage("a").logs == (archived,) and run.status("a") == "running"
    assert run.send(archived).ignored_reason == "duplicate: this log archive is already recorded"
