"""The run's state machine: how run-level events change a :class:`RunState`."""

from __future__ import annotations

from orchestrator.domain.dag import Dag, compile_dag
from orchestrator.domain.errors import PipelineInvalid
from orchestrator.domain.events import (
    RunCancelled,
    RunCancelRequested,
    RunCreated,
    RunDeduplicated,
    RunFailed,
    RunStarted,
    RunSucceeded,
)
from orchestrator.domain.folding import Handlers, illegal, run_to
from orchestrator.domain.refs import ref_of
from orchestrator.domain.state import RunState, StageState
from orchestrator.domain.statuses import RunStatus

__all__ = ["RUN_HANDLERS", "created", "new_run"]

RUN_HANDLERS = Handlers()
_on = RUN_HANDLERS.on


def created(event: RunCreated) -> RunState:
    """The state ``RunCreated`` starts; raises if its snapshot is not a valid DAG."""
    try:
        dag = compile_dag(event.stages)
    except PipelineInvalid as e:
        raise illegal(event, f"invalid snapshot: {e}") from e
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
        ref=ref_of(event),
        stages={spec.name: StageState(spec=spec) for spec in event.stages},
        created_at_ms=event.occurred_at_ms,
        dag=dag,
    )


@_on(RunDeduplicated)
def _deduplicated(state: RunState, event: RunDeduplicated) -> RunState:
    return state


@_on(RunStarted)
def _started(state: RunState, event: RunStarted) -> RunState:
    return run_to(state, event, RunStatus.RUNNING, started_at_ms=event.occurred_at_ms)


@_on(RunSucceeded)
def _succeeded(state: RunState, event: RunSucceeded) -> RunState:
    return run_to(state, event, RunStatus.SUCCESS, finished_at_ms=event.occurred_at_ms)


@_on(RunFailed)
def _failed(state: RunState, event: RunFailed) -> RunState:
    return run_to(
        state,
        event,
        RunStatus.FAILED,
        finished_at_ms=event.occurred_at_ms,
        reason=event.reason,
        failed_stages=event.failed_stages,
    )


@_on(RunCancelled)
def _cancelled(state: RunState, event: RunCancelled) -> RunState:
    return run_to(
        state, event, RunStatus.CANCELLED, finished_at_ms=event.occurred_at_ms, reason=event.reason
    )


@_on(RunCancelRequested)
def _cancel_requested(state: RunState, event: RunCancelRequested) -> RunState:
    if state.status.terminal:
        raise illegal(event, f"the run already ended ({state.status})")
    return state
