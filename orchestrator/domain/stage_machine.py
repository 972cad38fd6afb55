"""The stage's state machine: how stage events change a stage (and, rarely, the run)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, get_args

from orchestrator.domain.branches import branch_allowed
from orchestrator.domain.dag import Dag
from orchestrator.domain.events import (
    ArtifactExpired,
    ArtifactStored,
    DeadLetterDiscarded,
    ImageBuilt,
    LogArchived,
    LogExpired,
    RunEvent,
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
)
from orchestrator.domain.expiry import expired_field, expiry_problem
from orchestrator.domain.folding import Handlers, illegal, move, put, reopen, stage_of
from orchestrator.domain.frozen import replace
from orchestrator.domain.leases import start_timeout_reason
from orchestrator.domain.state import DeploymentEvent, RunState, StageState
from orchestrator.domain.statuses import FailureClass, StageStatus

__all__ = ["STAGE_HANDLERS", "Blocking", "unskippable"]

STAGE_HANDLERS = Handlers()
_on = STAGE_HANDLERS.on
_S = StageStatus


@_on(StageQueued)
def _queued(state: RunState, event: StageQueued) -> RunState:
    stage = stage_of(state, event, attempt=False)
    if event.attempt != stage.dispatched + 1:
        raise illegal(event, f"the next attempt to dispatch is {stage.dispatched + 1}")
    move(event, stage, _S.QUEUED)
    return put(
        state,
        replace(
            stage,
            status=_S.QUEUED,
            attempt=event.attempt,
            dispatched=event.attempt,
            priority=event.priority,
            queued_at_ms=event.occurred_at_ms,
            lease_ms=event.lease_ms,
            runner_id=None,
            lease_deadline_ms=None,
            retry_at_ms=None,
            reason=None,
        ),
    )


@_on(StageClaimed)
def _claimed(state: RunState, event: StageClaimed) -> RunState:
    stage = stage_of(state, event)
    if stage.dispatched != event.attempt:
        raise illegal(event, "the attempt was never dispatched")
    move(event, stage, _S.RUNNING)
    return put(
        state,
        replace(
            stage,
            status=_S.RUNNING,
            runner_id=event.runner_id,
            lease_deadline_ms=event.lease_deadline_ms,
            started_at_ms=event.occurred_at_ms,
        ),
    )


def _running(state: RunState, event: Any) -> StageState:
    stage = stage_of(state, event)
    if stage.status is not _S.RUNNING or stage.runner_id != event.runner_id:
        raise illegal(event, f"the stage is {stage.status}, claimed by {stage.runner_id}")
    return stage


@_on(StageHeartbeat)
def _heartbeat(state: RunState, event: StageHeartbeat) -> RunState:
    stage = _running(state, event)
    deadline = max(stage.lease_deadline_ms or 0, event.lease_deadline_ms)
    return put(state, replace(stage, lease_deadline_ms=deadline))


@_on(StageSucceeded)
def _stage_succeeded(state: RunState, event: StageSucceeded) -> RunState:
    stage = _running(state, event)
    move(event, stage, _S.SUCCESS)
    return put(
        state,
        replace(
            stage,
            status=_S.SUCCESS,
            finished_at_ms=event.occurred_at_ms,
            duration_ms=event.duration_ms,
            reason=None,
        ),
    )


@_on(StageFailed)
def _stage_failed(state: RunState, event: StageFailed) -> RunState:
    stage = _running(state, event)
    move(event, stage, _S.FAILED)
    return put(state, _failure(stage, event, event.failure_class, event.exit_code, event.reason))


@_on(StageLeaseExpired)
def _lease_expired(state: RunState, event: StageLeaseExpired) -> RunState:
    stage = stage_of(state, event)
    if stage.dispatched != event.attempt:
        raise illegal(event, "the attempt was never dispatched")
    move(event, stage, _S.FAILED)
    reason = f"the lease of attempt {event.attempt} expired"
    return put(state, _failure(stage, event, FailureClass.INFRASTRUCTURE, None, reason))


@_on(StageStartTimedOut)
def _start_timed_out(state: RunState, event: StageStartTimedOut) -> RunState:
    """Nobody claimed the attempt in time: the stage fails, but not as an infrastructure
    failure (``failure_class`` None, no retry, no dead letter): waiting is not a fault."""
    stage = stage_of(state, event)
    if stage.dispatched != event.attempt:
        raise illegal(event, "the attempt was never dispatched")
    move(event, stage, _S.FAILED)
    reason = start_timeout_reason(event.attempt, event.timeout_ms)
    return put(
        state,
        replace(
            stage,
            status=_S.FAILED,
            failures=stage.failures + 1,
            failure_class=None,
            exit_code=None,
            reason=reason,
            runner_id=None,
            lease_deadline_ms=None,
            finished_at_ms=event.occurred_at_ms,
        ),
    )


def _failure(
    stage: StageState, event: RunEvent, kind: FailureClass, exit_code: int | None, reason: str
) -> StageState:
    infrastructure = kind is FailureClass.INFRASTRUCTURE
    return replace(
        stage,
        status=_S.FAILED,
        failures=stage.failures + 1,
        infrastructure_failures=stage.infrastructure_failures + infrastructure,
        failure_class=kind,
        exit_code=exit_code,
        reason=reason,
        runner_id=None,
        lease_deadline_ms=None,
        finished_at_ms=event.occurred_at_ms,
    )


@_on(StageRetryScheduled)
def _retry_scheduled(state: RunState, event: StageRetryScheduled) -> RunState:
    stage = stage_of(state, event, attempt=False)
    if event.attempt != stage.dispatched + 1:
        raise illegal(event, f"the next attempt is {stage.dispatched + 1}")
    move(event, stage, _S.QUEUED)
    policy = event.failure_class is not FailureClass.INFRASTRUCTURE
    return put(
        state,
        replace(
            stage,
            status=_S.QUEUED,
            attempt=event.attempt,
            retry_at_ms=event.retry_at_ms,
            policy_retries=stage.policy_retries + policy,
        ),
    )


@_on(StageRetryDue)
def _retry_due(state: RunState, event: StageRetryDue) -> RunState:
    if not stage_of(state, event).waiting_for_retry:
        raise illegal(event, "the stage is not waiting for this retry")
    return state


@_on(StageSkipped)
def _skipped(state: RunState, event: StageSkipped) -> RunState:
    stage = stage_of(state, event, attempt=False)
    move(event, stage, _S.SKIPPED)
    return put(state, replace(stage, status=_S.SKIPPED, reason=event.reason))


@_on(StageCancelled)
def _stage_cancelled(state: RunState, event: StageCancelled) -> RunState:
    stage = stage_of(state, event)
    move(event, stage, _S.CANCELLED)
    return put(
        state,
        replace(
            stage,
            status=_S.CANCELLED,
            reason=event.reason,
            retry_at_ms=None,
            finished_at_ms=event.occurred_at_ms,
        ),
    )


@_on(StageDeadLettered)
def _dead_lettered(state: RunState, event: StageDeadLettered) -> RunState:
    stage = stage_of(state, event)
    if stage.status is not _S.FAILED:
        raise illegal(event, f"the stage is {stage.status}, not failed")
    return put(state, replace(stage, dead_lettered=True, reason=event.reason))


@_on(StageManualWaiting)
def _manual_waiting(state: RunState, event: StageManualWaiting) -> RunState:
    stage = stage_of(state, event, attempt=False)
    move(event, stage, _S.MANUAL)
    return put(state, replace(stage, status=_S.MANUAL))


@_on(StageStartRequested)
def _start_requested(state: RunState, event: StageStartRequested) -> RunState:
    stage = stage_of(state, event, attempt=False)
    if stage.status is not _S.MANUAL:
        raise illegal(event, f"the stage is {stage.status}, not waiting for a person")
    return reopen(put(state, replace(stage, approved=True)), event)


@_on(StageRetryRequested)
def _retry_requested(state: RunState, event: StageRetryRequested) -> RunState:
    stage = stage_of(state, event, attempt=False)
    if stage.status not in (_S.FAILED, _S.CANCELLED):
        raise illegal(event, f"the stage is {stage.status}; only failed or cancelled retry")
    return _fresh_attempt(state, event, stage)


@_on(StageRedriveRequested)
def _redrive_requested(state: RunState, event: StageRedriveRequested) -> RunState:
    """A redrive is a retry of a dead-lettered stage: fresh attempt, fresh retry budget."""
    stage = stage_of(state, event, attempt=False)
    if stage.status is not _S.FAILED or not stage.dead_lettered:
        raise illegal(event, f"the stage is {stage.status} and not dead-lettered")
    return _fresh_attempt(state, event, stage)


@_on(DeadLetterDiscarded)
def _discarded(state: RunState, event: DeadLetterDiscarded) -> RunState:
    """The dead letter is dealt with; the stage stays failed (no redrive any more)."""
    stage = stage_of(state, event)
    if stage.status is not _S.FAILED or not stage.dead_lettered:
        raise illegal(event, f"the stage is {stage.status} and not dead-lettered")
    return put(state, replace(stage, dead_lettered=False))


def _fresh_attempt(
    state: RunState, event: StageRetryRequested | StageRedriveRequested, stage: StageState
) -> RunState:
    move(event, stage, _S.PENDING)
    fresh = replace(
        StageState(spec=stage.spec, approved=True),
        attempt=stage.dispatched + 1,
        dispatched=stage.dispatched,
        artifacts=stage.artifacts,
        expired_artifacts=stage.expired_artifacts,
        logs=stage.logs,
        expired_logs=stage.expired_logs,
        deployments=stage.deployments,
    )
    state = put(state, fresh)
    return reopen(_unskip_dependents(state, fresh.name), event)


def _unskip_dependents(state: RunState, name: str) -> RunState:
    """Dependents skipped only because of ``name`` can run again."""

    def on_branch(stage: str) -> bool:
        return branch_allowed(state.stages[stage].spec.when, state.branch, state.ref)

    freed = unskippable(state.dag, state.stages, name, on_branch)
    return put(state, *(replace(state.stages[n], status=_S.PENDING, reason=None) for n in freed))


class Blocking(Protocol):
    """What :func:`unskippable` reads of a stage (a ``StageState``, or a read model's row)."""

    @property
    def status(self) -> str: ...

    @property
    def blocks_needs(self) -> bool: ...


def unskippable(
    dag: Dag, stages: Mapping[str, Blocking], root: str, on_branch: Callable[[str], bool]
) -> list[str]:
    """The skipped stages downstream of ``root`` that may run again now that it is pending.

    A stage comes back if its branch rule allows it and none of its needs still blocks it
    (a need that comes back blocks no more); in the DAG's level order. The one rule for
    both the fold (:func:`evolve`) and the read model.
    """
    downstream = set(dag.downstream[root])
    freed: list[str] = []
    for level in dag.levels:
        for dep in level:
            stage = stages[dep]
            if dep not in downstream or stage.status != _S.SKIPPED or not on_branch(dep):
                continue
            if any(n not in freed and stages[n].blocks_needs for n in dag.needs[dep]):
                continue
            freed.append(dep)
    return freed


def _recorded(state: RunState, event: Any) -> StageState:
    stage = stage_of(state, event, attempt=False)
    if not 1 <= event.attempt <= stage.dispatched:
        raise illegal(event, f"attempt {event.attempt} was never dispatched")
    return stage


@_on(ArtifactStored)
def _artifact(state: RunState, event: ArtifactStored) -> RunState:
    stage = _recorded(state, event)
    return put(state, replace(stage, artifacts=(*stage.artifacts, event)))


@_on(ImageBuilt)
def _image(state: RunState, event: ImageBuilt) -> RunState:
    stage = _recorded(state, event)
    return put(state, replace(stage, images=(*stage.images, event)))


@_on(LogArchived)
def _log(state: RunState, event: LogArchived) -> RunState:
    stage = _recorded(state, event)
    return put(state, replace(stage, logs=(*stage.logs, event)))


@_on(ArtifactExpired)
@_on(LogExpired)
def _expired(state: RunState, event: ArtifactExpired | LogExpired) -> RunState:
    stage = stage_of(state, event, attempt=False)
    problem = expiry_problem(stage, event)
    if problem is not None:
        raise illegal(event, problem)
    field = expired_field(event)
    return put(state, replace(stage, **{field: (*getattr(stage, field), event)}))


def _deployment(state: RunState, event: Any) -> RunState:
    stage = _recorded(state, event)
    return put(state, replace(stage, deployments=(*stage.deployments, event)))


for _kind in get_args(DeploymentEvent):  # every event a deployment records on its stage
    STAGE_HANDLERS[_kind] = _deployment
