"""``evolve(state, event) -> state``: the pure fold of ``sluice.runs``.

It trusts nothing: an event that is illegal in the state raises
:class:`InvalidTransition`. The decider only ever appends events that are legal, so a
replay of ``sluice.runs`` never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import reduce
from typing import Any, TypeVar

from orchestrator.domain.branches import branch_allowed
from orchestrator.domain.dag import Dag, compile_dag
from orchestrator.domain.errors import InvalidTransition, PipelineInvalid
from orchestrator.domain.events import (
    ArtifactStored,
    DeploymentFailed,
    DeploymentRolledBack,
    DeploymentStarted,
    DeploymentSucceeded,
    LogArchived,
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
    StageRetryDue,
    StageRetryRequested,
    StageRetryScheduled,
    StageSkipped,
    StageStartRequested,
    StageSucceeded,
)
from orchestrator.domain.frozen import replace
from orchestrator.domain.state import RunState, StageState
from orchestrator.domain.statuses import (
    FailureClass,
    RunStatus,
    StageStatus,
    check_run_transition,
    check_stage_transition,
)

__all__ = ["evolve", "fold", "new_run"]

E = TypeVar("E")
_Evolver = Callable[[RunState, Any], RunState]
_EVOLVERS: dict[type, _Evolver] = {}
_S = StageStatus


def evolve(state: RunState | None, event: RunEvent) -> RunState | None:
    """The state after ``event``; raises :class:`InvalidTransition` if it is illegal."""
    if state is None:
        if isinstance(event, RunCreated):
            return _created(event)
        if isinstance(event, RunRejected):
            return None
        raise _illegal(event, "the run does not exist")
    if event.run_id != state.run_id:
        raise _illegal(event, f"it belongs to run {event.run_id}, not {state.run_id}")
    return _EVOLVERS[type(event)](state, event)


def fold(events: Iterable[RunEvent], state: RunState | None = None) -> RunState | None:
    """Every event applied in order to ``state`` (no state: from nothing)."""
    return reduce(evolve, events, state)


def _on(kind: type[E]) -> Callable[[Callable[[RunState, E], RunState]], _Evolver]:
    def register(handler: Callable[[RunState, E], RunState]) -> _Evolver:
        _EVOLVERS[kind] = handler
        return handler

    return register


def _illegal(event: RunEvent, detail: str, subject: str | None = None) -> InvalidTransition:
    stage = getattr(event, "stage", None)
    where = subject or (
        f"stage {stage!r} of run {event.run_id}" if stage else f"run {event.run_id}"
    )
    return InvalidTransition(type(event).__name__, where, detail)


def _created(event: RunCreated) -> RunState:
    try:
        dag = compile_dag(event.stages)
    except PipelineInvalid as e:
        raise _illegal(event, f"invalid snapshot: {e}") from e
    return new_run(event, dag)


def new_run(event: RunCreated, dag: Dag) -> RunState:
    """The state ``RunCreated`` starts, given the snapshot's already compiled ``dag``."""
    return RunState(
        run_id=event.run_id,
        pipeline_id=event.pipeline_id,
        pipeline_name=event.pipeline_name,
        branch=event.branch,
        commit_sha=event.commit_sha,
        repo_url=event.repo_url,
        source=event.source,
        priority=event.priority,
        variables=event.variables,
        dedup_key=event.dedup_key,
        stages={spec.name: StageState(spec=spec) for spec in event.stages},
        created_at_ms=event.occurred_at_ms,
        dag=dag,
    )


def _stage(state: RunState, event: Any, *, attempt: bool = True) -> StageState:
    found = state.stages.get(event.stage)
    if found is None:
        raise _illegal(event, "no such stage")
    if attempt and event.attempt != found.attempt:
        raise _illegal(event, f"attempt {event.attempt}, but the stage is at {found.attempt}")
    return found


def _move(event: RunEvent, stage: StageState, target: StageStatus) -> None:
    check_stage_transition(type(event).__name__, stage.name, stage.status, target)


def _put(state: RunState, *stages: StageState) -> RunState:
    updated = dict(state.stages)
    for stage in stages:
        updated[stage.name] = stage
    return replace(state, stages=updated)


def _run_to(state: RunState, event: RunEvent, target: RunStatus, **changes: Any) -> RunState:
    check_run_transition(type(event).__name__, state.run_id, state.status, target)
    return replace(state, status=target, **changes)


def _reopen(state: RunState, event: RunEvent) -> RunState:
    """A person's request on a finished run makes it run again."""
    if not state.status.terminal:
        return state
    return _run_to(
        state, event, RunStatus.RUNNING, finished_at_ms=None, reason=None, failed_stages=()
    )


@_on(RunDeduplicated)
def _deduplicated(state: RunState, event: RunDeduplicated) -> RunState:
    return state


@_on(RunStarted)
def _started(state: RunState, event: RunStarted) -> RunState:
    return _run_to(state, event, RunStatus.RUNNING, started_at_ms=event.occurred_at_ms)


@_on(RunSucceeded)
def _succeeded(state: RunState, event: RunSucceeded) -> RunState:
    return _run_to(state, event, RunStatus.SUCCESS, finished_at_ms=event.occurred_at_ms)


@_on(RunFailed)
def _failed(state: RunState, event: RunFailed) -> RunState:
    return _run_to(
        state,
        event,
        RunStatus.FAILED,
        finished_at_ms=event.occurred_at_ms,
        reason=event.reason,
        failed_stages=event.failed_stages,
    )


@_on(RunCancelled)
def _cancelled(state: RunState, event: RunCancelled) -> RunState:
    return _run_to(
        state, event, RunStatus.CANCELLED, finished_at_ms=event.occurred_at_ms, reason=event.reason
    )


@_on(RunCancelRequested)
def _cancel_requested(state: RunState, event: RunCancelRequested) -> RunState:
    if state.status.terminal:
        raise _illegal(event, f"the run already ended ({state.status})")
    return state


@_on(StageQueued)
def _queued(state: RunState, event: StageQueued) -> RunState:
    stage = _stage(state, event, attempt=False)
    if event.attempt != stage.dispatched + 1:
        raise _illegal(event, f"the next attempt to dispatch is {stage.dispatched + 1}")
    _move(event, stage, _S.QUEUED)
    return _put(
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
    stage = _stage(state, event)
    if stage.dispatched != event.attempt:
        raise _illegal(event, "the attempt was never dispatched")
    _move(event, stage, _S.RUNNING)
    return _put(
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
    stage = _stage(state, event)
    if stage.status is not _S.RUNNING or stage.runner_id != event.runner_id:
        raise _illegal(event, f"the stage is {stage.status}, claimed by {stage.runner_id}")
    return stage


@_on(StageHeartbeat)
def _heartbeat(state: RunState, event: StageHeartbeat) -> RunState:
    stage = _running(state, event)
    deadline = max(stage.lease_deadline_ms or 0, event.lease_deadline_ms)
    return _put(state, replace(stage, lease_deadline_ms=deadline))


@_on(StageSucceeded)
def _stage_succeeded(state: RunState, event: StageSucceeded) -> RunState:
    stage = _running(state, event)
    _move(event, stage, _S.SUCCESS)
    return _put(
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
    _move(event, stage, _S.FAILED)
    return _put(state, _failure(stage, event, event.failure_class, event.exit_code, event.reason))


@_on(StageLeaseExpired)
def _lease_expired(state: RunState, event: StageLeaseExpired) -> RunState:
    stage = _stage(state, event)
    if stage.dispatched != event.attempt:
        raise _illegal(event, "the attempt was never dispatched")
    _move(event, stage, _S.FAILED)
    reason = f"the lease of attempt {event.attempt} expired"
    return _put(state, _failure(stage, event, FailureClass.INFRASTRUCTURE, None, reason))


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
    stage = _stage(state, event, attempt=False)
    if event.attempt != stage.dispatched + 1:
        raise _illegal(event, f"the next attempt is {stage.dispatched + 1}")
    _move(event, stage, _S.QUEUED)
    policy = event.failure_class is not FailureClass.INFRASTRUCTURE
    return _put(
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
    if not _stage(state, event).waiting_for_retry:
        raise _illegal(event, "the stage is not waiting for this retry")
    return state


@_on(StageSkipped)
def _skipped(state: RunState, event: StageSkipped) -> RunState:
    stage = _stage(state, event, attempt=False)
    _move(event, stage, _S.SKIPPED)
    return _put(state, replace(stage, status=_S.SKIPPED, reason=event.reason))


@_on(StageCancelled)
def _stage_cancelled(state: RunState, event: StageCancelled) -> RunState:
    stage = _stage(state, event)
    _move(event, stage, _S.CANCELLED)
    return _put(
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
    stage = _stage(state, event)
    if stage.status is not _S.FAILED:
        raise _illegal(event, f"the stage is {stage.status}, not failed")
    return _put(state, replace(stage, dead_lettered=True, reason=event.reason))


@_on(StageManualWaiting)
def _manual_waiting(state: RunState, event: StageManualWaiting) -> RunState:
    stage = _stage(state, event, attempt=False)
    _move(event, stage, _S.MANUAL)
    return _put(state, replace(stage, status=_S.MANUAL))


@_on(StageStartRequested)
def _start_requested(state: RunState, event: StageStartRequested) -> RunState:
    stage = _stage(state, event, attempt=False)
    if stage.status is not _S.MANUAL:
        raise _illegal(event, f"the stage is {stage.status}, not waiting for a person")
    return _reopen(_put(state, replace(stage, approved=True)), event)


@_on(StageRetryRequested)
def _retry_requested(state: RunState, event: StageRetryRequested) -> RunState:
    stage = _stage(state, event, attempt=False)
    if stage.status not in (_S.FAILED, _S.CANCELLED):
        raise _illegal(event, f"the stage is {stage.status}; only failed or cancelled retry")
    _move(event, stage, _S.PENDING)
    fresh = replace(
        StageState(spec=stage.spec, approved=True),
        attempt=stage.dispatched + 1,
        dispatched=stage.dispatched,
        artifacts=stage.artifacts,
        logs=stage.logs,
        deployments=stage.deployments,
    )
    state = _put(state, fresh)
    return _reopen(_unskip_dependents(state, fresh.name), event)


def _unskip_dependents(state: RunState, name: str) -> RunState:
    """Dependents skipped only because of ``name`` can run again."""
    downstream = set(state.dag.downstream[name])
    changed: list[StageState] = []
    stages = dict(state.stages)
    for level in state.dag.levels:
        for dep in level:
            stage = stages[dep]
            if dep not in downstream or stage.status is not _S.SKIPPED:
                continue
            if not branch_allowed(stage.spec.when, state.branch):
                continue
            if any(stages[n].blocks_needs for n in state.dag.needs[dep]):
                continue
            stages[dep] = replace(stage, status=_S.PENDING, reason=None)
            changed.append(stages[dep])
    return _put(state, *changed)


def _recorded(state: RunState, event: Any) -> StageState:
    stage = _stage(state, event, attempt=False)
    if not 1 <= event.attempt <= stage.dispatched:
        raise _illegal(event, f"attempt {event.attempt} was never dispatched")
    return stage


@_on(ArtifactStored)
def _artifact(state: RunState, event: ArtifactStored) -> RunState:
    stage = _recorded(state, event)
    return _put(state, replace(stage, artifacts=(*stage.artifacts, event)))


@_on(LogArchived)
def _log(state: RunState, event: LogArchived) -> RunState:
    stage = _recorded(state, event)
    return _put(state, replace(stage, logs=(*stage.logs, event)))


def _deployment(state: RunState, event: Any) -> RunState:
    stage = _recorded(state, event)
    return _put(state, replace(stage, deployments=(*stage.deployments, event)))


for _kind in (DeploymentStarted, DeploymentSucceeded, DeploymentFailed, DeploymentRolledBack):
    _EVOLVERS[_kind] = _deployment
