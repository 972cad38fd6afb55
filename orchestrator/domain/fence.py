"""Which inbox messages the decider accepts: ``fence(state, message) -> reason | None``.

Late, duplicated and reordered reports are normal on a log, so anything that no longer
fits the run — an old attempt, a second claim, an outcome for a stage that moved on, a
lease expiry that a heartbeat made stale — is ignored with a reason rather than raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from orchestrator.domain.deploy_decisions import abort_problem, promote_problem
from orchestrator.domain.events import (
    AnalysisMeasured,
    ArtifactExpired,
    ArtifactStored,
    DeadLetterDiscarded,
    DeploymentAborted,
    DeploymentFailed,
    DeploymentPaused,
    DeploymentPromoted,
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
    ImageBuilt,
    InstanceHealthy,
    InstanceStarted,
    InstanceUnhealthy,
    LogArchived,
    LogExpired,
    RunCancelled,
    RunCancelRequested,
    RunCreated,
    RunDeduplicated,
    RunEvent,
    RunFailed,
    RunRejected,
    RunStarted,
    RunSucceeded,
    StageCancelled,
    StageClaimed,
    StageDeadLettered,
    StageFailed,
    StageHeartbeat,
    StageLeaseExpired,
    StageManualWaiting,
    StageQueued,
    StageRedriveRequested,
    StageRetryDue,
    StageRetryRequested,
    StageRetryScheduled,
    StageSkipped,
    StageStartRequested,
    StageStartTimedOut,
    StageSucceeded,
    TrafficShifted,
)
from orchestrator.domain.expiry import expiry_problem
from orchestrator.domain.leases import start_timeout_problem
from orchestrator.domain.state import RunState, StageState
from orchestrator.domain.statuses import StageStatus

__all__ = ["DECIDER_ONLY", "fence"]

E = TypeVar("E")
_Fence = Callable[[RunState, Any], str | None]
_FENCES: dict[type, _Fence] = {}
_S = StageStatus

# Records only the decider writes: a copy arriving on the inbox is never accepted.
DECIDER_ONLY: frozenset[type] = frozenset(
    {
        RunStarted,
        StageQueued,
        StageSkipped,
        StageRetryScheduled,
        StageDeadLettered,
        StageManualWaiting,
        RunSucceeded,
        RunFailed,
        RunCancelled,
    }
)


def fence(state: RunState, message: RunEvent) -> str | None:
    """Why ``message`` cannot be accepted by the existing run ``state``; None if it can."""
    kind = type(message)
    if kind in DECIDER_ONLY:
        return f"{kind.__name__} is written by the decider only, never accepted from the inbox"
    if message.run_id != state.run_id:
        return f"the message is for run {message.run_id}, not {state.run_id}"
    stage_name = getattr(message, "stage", None)
    if stage_name is not None and stage_name not in state.stages:
        return f"run {state.run_id} has no stage {stage_name!r}"
    return _FENCES[kind](state, message)


def _on(kind: type[E]) -> Callable[[Callable[[RunState, E], str | None]], _Fence]:
    def register(check: Callable[[RunState, E], str | None]) -> _Fence:
        _FENCES[kind] = check
        return check

    return register


@_on(RunCreated)
def _created(state: RunState, message: RunCreated) -> str | None:
    return f"duplicate: run {state.run_id} was already created"


@_on(RunRejected)
def _rejected(state: RunState, message: RunRejected) -> str | None:
    return f"run {state.run_id} exists, so it cannot be rejected"


@_on(RunDeduplicated)
def _deduplicated(state: RunState, message: RunDeduplicated) -> str | None:
    return None


@_on(RunCancelRequested)
def _cancel(state: RunState, message: RunCancelRequested) -> str | None:
    return f"the run already ended ({state.status})" if state.status.terminal else None


def _stale(stage: StageState, attempt: int) -> str | None:
    if attempt != stage.attempt:
        return f"stale: attempt {attempt}, but stage {stage.name!r} is at attempt {stage.attempt}"
    return None


@_on(StageClaimed)
def _claim(state: RunState, message: StageClaimed) -> str | None:
    stage = state.stage(message.stage)
    if stage.status is _S.RUNNING and stage.attempt == message.attempt:
        if stage.runner_id == message.runner_id:
            return f"duplicate: {message.runner_id} already claimed attempt {message.attempt}"
        return f"attempt {message.attempt} is already claimed by {stage.runner_id}"
    if stage.status is not _S.QUEUED:
        return _stale(stage, message.attempt) or f"stage {stage.name!r} is {stage.status}"
    if stage.waiting_for_retry:
        return f"attempt {stage.attempt} has not been dispatched yet (it waits for its back-off)"
    return _stale(stage, message.attempt)


def _running(state: RunState, stage_name: str, attempt: int, runner_id: str) -> str | None:
    stage = state.stage(stage_name)
    stale = _stale(stage, attempt)
    if stale is not None:
        return stale
    if stage.status is not _S.RUNNING:
        return f"stage {stage.name!r} is {stage.status}, not running"
    if stage.runner_id != runner_id:
        return f"attempt {attempt} is claimed by {stage.runner_id}, not {runner_id}"
    return None


@_on(StageHeartbeat)
def _heartbeat(state: RunState, message: StageHeartbeat) -> str | None:
    problem = _running(state, message.stage, message.attempt, message.runner_id)
    if problem is not None:
        return problem
    if message.lease_deadline_ms <= (state.stage(message.stage).lease_deadline_ms or 0):
        return "the heartbeat does not extend the lease"
    return None


@_on(StageSucceeded)
def _succeeded(state: RunState, message: StageSucceeded) -> str | None:
    problem = _running(state, message.stage, message.attempt, message.runner_id)
    return problem or _deployed(state.stage(message.stage), message.attempt)


def _deployed(stage: StageState, attempt: int) -> str | None:
    """Invariant 8: a deploy stage succeeds only after its deployment succeeded."""
    if stage.spec.deploy is None:
        return None
    if any(isinstance(e, DeploymentSucceeded) and e.attempt == attempt for e in stage.deployments):
        return None
    return f"refused: deploy stage {stage.name!r} attempt {attempt} has no DeploymentSucceeded"


@_on(StageFailed)
def _failed(state: RunState, message: StageFailed) -> str | None:
    return _running(state, message.stage, message.attempt, message.runner_id)


@_on(StageCancelled)
def _cancelled(state: RunState, message: StageCancelled) -> str | None:
    stage = state.stage(message.stage)
    if stage.status is _S.CANCELLED:
        return f"duplicate: stage {stage.name!r} is already cancelled"
    stale = _stale(stage, message.attempt)
    if stale is not None:
        return stale
    with_runner = stage.status is _S.RUNNING or (
        stage.status is _S.QUEUED and not stage.waiting_for_retry
    )
    if not with_runner:
        return f"stage {stage.name!r} is {stage.status}; attempt {stage.attempt} is with no runner"
    return None


@_on(StageLeaseExpired)
def _lease_expired(state: RunState, message: StageLeaseExpired) -> str | None:
    stage = state.stage(message.stage)
    stale = _stale(stage, message.attempt)
    if stale is not None:
        return stale
    if message.runner_id is None:
        return _unclaimed_expired(stage, message.occurred_at_ms)
    problem = _running(state, message.stage, message.attempt, message.runner_id)
    if problem is not None:
        return problem
    if message.occurred_at_ms < (stage.lease_deadline_ms or 0):
        return f"the lease runs until {stage.lease_deadline_ms} (a heartbeat extended it)"
    return None


def _unclaimed_expired(stage: StageState, now_ms: int) -> str | None:
    if stage.status is not _S.QUEUED or stage.waiting_for_retry:
        return f"attempt {stage.attempt} of stage {stage.name!r} is not waiting for a runner"
    deadline = (stage.queued_at_ms or 0) + (stage.lease_ms or 0)
    if now_ms < deadline:
        return f"the attempt was queued until {deadline}; its lease has not expired"
    return None


@_on(StageStartTimedOut)
def _start_timed_out(state: RunState, message: StageStartTimedOut) -> str | None:
    return start_timeout_problem(state.stage(message.stage), message)


@_on(StageRetryDue)
def _retry_due(state: RunState, message: StageRetryDue) -> str | None:
    stage = state.stage(message.stage)
    if not stage.waiting_for_retry or stage.attempt != message.attempt:
        return f"stage {stage.name!r} is not waiting to retry as attempt {message.attempt}"
    if message.occurred_at_ms < (stage.retry_at_ms or 0):
        return f"attempt {message.attempt} is not due until {stage.retry_at_ms}"
    return None


@_on(StageStartRequested)
def _start(state: RunState, message: StageStartRequested) -> str | None:
    stage = state.stage(message.stage)
    if stage.status is not _S.MANUAL:
        return f"stage {stage.name!r} is {stage.status}, not waiting to be started by a person"
    return None


@_on(StageRetryRequested)
def _retry(state: RunState, message: StageRetryRequested) -> str | None:
    stage = state.stage(message.stage)
    if stage.status not in (_S.FAILED, _S.CANCELLED):
        return f"stage {stage.name!r} is {stage.status}; only a failed or cancelled stage retries"
    return _needs_block(state, stage)


def _needs_block(state: RunState, stage: StageState) -> str | None:
    for need in state.dag.needs[stage.name]:
        status = state.stage(need).status
        if state.stage(need).blocks_needs:
            return f"stage {stage.name!r} needs {need!r}, which is {status}: retry that first"
    return None


@_on(StageRedriveRequested)
def _redrive(state: RunState, message: StageRedriveRequested) -> str | None:
    stage = state.stage(message.stage)
    if stage.status is not _S.FAILED or not stage.dead_lettered:
        return f"stage {stage.name!r} has no dead letter to redrive (it is {stage.status})"
    return _needs_block(state, stage)


@_on(DeadLetterDiscarded)
def _discard(state: RunState, message: DeadLetterDiscarded) -> str | None:
    stage = state.stage(message.stage)
    if stage.status is not _S.FAILED or not stage.dead_lettered:
        return f"stage {stage.name!r} has no dead letter to discard (it is {stage.status})"
    return _stale(stage, message.attempt)


def _dispatched(state: RunState, stage_name: str, attempt: int) -> str | None:
    stage = state.stage(stage_name)
    if not 1 <= attempt <= stage.dispatched:
        return f"attempt {attempt} of stage {stage_name!r} was never dispatched"
    return None


@_on(ArtifactStored)
def _artifact(state: RunState, message: ArtifactStored) -> str | None:
    if any(a.artifact_id == message.artifact_id for a in state.stage(message.stage).artifacts):
        return f"duplicate: artifact {message.artifact_id} is already recorded"
    return _dispatched(state, message.stage, message.attempt)


@_on(ImageBuilt)
def _image(state: RunState, message: ImageBuilt) -> str | None:
    if message in state.stage(message.stage).images:
        return "duplicate: this image is already recorded"
    return _dispatched(state, message.stage, message.attempt)


@_on(LogArchived)
def _log(state: RunState, message: LogArchived) -> str | None:
    if message in state.stage(message.stage).logs:
        return "duplicate: this log archive is already recorded"
    return _dispatched(state, message.stage, message.attempt)


@_on(ArtifactExpired)
@_on(LogExpired)
def _expired(state: RunState, message: ArtifactExpired | LogExpired) -> str | None:
    return expiry_problem(state.stage(message.stage), message)


def _deployment(state: RunState, message: Any) -> str | None:
    for seen in state.stage(message.stage).deployments:
        if type(seen) is type(message) and seen.deployment_id == message.deployment_id:
            return f"duplicate: {type(message).__name__} of {message.deployment_id} is recorded"
    return _dispatched(state, message.stage, message.attempt)


def _deployment_step(state: RunState, message: Any) -> str | None:
    # Only a redelivered copy is a duplicate: a deployer that took over after a crash numbers
    # its steps from 1 again, and those are new steps.
    if message in state.stage(message.stage).deployments:
        return f"duplicate: step {message.step} of {message.deployment_id} is recorded"
    return _dispatched(state, message.stage, message.attempt)


for _kind in (DeploymentStarted, DeploymentSucceeded, DeploymentFailed, DeploymentRolledBack):
    _FENCES[_kind] = _deployment


@_on(DeploymentPromoted)
def _promoted(state: RunState, message: DeploymentPromoted) -> str | None:
    problem = promote_problem(state.stage(message.stage).deployments, message)
    return problem or _dispatched(state, message.stage, message.attempt)


@_on(DeploymentAborted)
def _aborted(state: RunState, message: DeploymentAborted) -> str | None:
    problem = abort_problem(state.stage(message.stage).deployments, message)
    return problem or _dispatched(state, message.stage, message.attempt)


for _step in (
    DeploymentPaused,
    InstanceStarted,
    InstanceHealthy,
    InstanceUnhealthy,
    TrafficShifted,
    AnalysisMeasured,
):
    _FENCES[_step] = _deployment_step
