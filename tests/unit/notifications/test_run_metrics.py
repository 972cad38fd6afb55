"""Run and stage metrics read off decided events (pure: decide, then observe)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from orchestrator.domain import (
    FailureClass,
    Priority,
    RetryPolicy,
    RunCreated,
    RunEvent,
    RunState,
    StageClaimed,
    StageFailed,
    StageSpec,
    TriggerSource,
    decide,
)
from projections.run_metrics import observe_events


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def created(run_id: str, *, priority: Priority = Priority.CRITICAL) -> RunCreated:
    stage = StageSpec(
        name="build", script=("make",), retry=RetryPolicy(max=1, when=(FailureClass.FLAKY,))
    )
    return RunCreated(
        run_id=run_id,
        occurred_at_ms=1_000,
        pipeline_id="p",
        pipeline_name="p",
        branch="main",
        commit_sha="c",
        repo_url="file:///r",
        source=TriggerSource.API,
        priority=priority,
        variables={},
        dedup_key=f"p|main|{run_id}",
        stages=(stage,),
    )


def step(state: RunState | None, message: RunEvent) -> RunState | None:
    """Decide ``message`` and observe what was decided, as the decider does."""
    decision = decide(state, message)
    observe_events(state, decision.events)
    return decision.state


def test_a_created_run_counts_once_under_created() -> None:
    before = sample("sluice_runs_total", status="created")
    step(None, created("m-1"))
    assert sample("sluice_runs_total", status="created") == before + 1


def test_a_claim_observes_the_queue_time_under_the_stage_priority() -> None:
    count = sample("sluice_queue_seconds_count", priority="critical")
    total = sample("sluice_queue_seconds_sum", priority="critical")
    state = step(None, created("m-2"))
    claim = StageClaimed(
        run_id="m-2",
        stage="build",
        attempt=1,
        runner_id="r",
        lease_deadline_ms=99_000,
        occurred_at_ms=3_500,
    )
    step(state, claim)
    assert sample("sluice_queue_seconds_count", priority="critical") == count + 1
    assert sample("sluice_queue_seconds_sum", priority="critical") == total + 2.5


def test_a_flaky_failure_counts_a_retry_and_a_failed_stage_duration() -> None:
    retries = sample("sluice_stage_retries_total", failure_class="flaky")
    failed = sample("sluice_stage_duration_seconds_count", outcome="failed")
    state = step(None, created("m-3"))
    claim = StageClaimed(
        run_id="m-3",
        stage="build",
        attempt=1,
        runner_id="r",
        lease_deadline_ms=99_000,
        occurred_at_ms=2_000,
    )
    state = step(state, claim)
    failure = StageFailed(
        run_id="m-3",
        stage="build",
        attempt=1,
        runner_id="r",
        exit_code=1,
        failure_class=FailureClass.FLAKY,
        reason="flaky",
        occurred_at_ms=7_000,
    )
    step(state, failure)
    assert sample("sluice_stage_retries_total", failure_class="flaky") == retries + 1
    assert sample("sluice_stage_duration_seconds_count", outcome="failed") == failed + 1
