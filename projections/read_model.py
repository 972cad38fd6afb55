"""The PostgreSQL read model as plain data: rows, and what each event does to them.

No Kafka and no database here. :class:`ReadModel` is the working set of one batch (the rows
its events touch, loaded by the projector beforehand); :func:`apply` folds one domain event
(as ``orchestrator.wire`` decodes it) into it and marks what changed. Every handler is
idempotent for a repeated event; stage and run statuses follow ``orchestrator.domain``'s
state machines, and where a rule decides more than one row the domain's own function
decides it (``stage_machine.unskippable``, ``folding.reopens``):

    RunCreated            run queued, each stage pending (position = order in the DAG)
    RunStarted            run running
    StageQueued           queued (a new attempt, or queued -> queued when a back-off ends)
    StageClaimed          running
    StageSucceeded        success
    StageFailed, StageLeaseExpired                          failed
    StageStartTimedOut                                      failed (no failure class)
    StageDeadLettered     stays failed (its reason says why it will not be retried)
    StageRetryScheduled   failed -> queued (the next attempt waits for its back-off)
    StageSkipped / StageCancelled / StageManualWaiting     skipped / cancelled / manual
    StageRetryRequested   the stage goes back to pending, and so does every skipped stage
                          downstream that its branch rule allows and whose needs no longer
                          block it; a finished run is running again (StageRedriveRequested:
                          the same for a dead-lettered stage; DeadLetterDiscarded: no change)
    StageStartRequested   a finished run is running again (StageQueued follows)
    RunSucceeded / RunFailed / RunCancelled                success / failed / cancelled
    ArtifactStored / LogArchived   an artifact row / the stage's log_path
    ArtifactExpired / LogExpired   the row stays, with expired_at / log_expired_at set

Events that change no row (heartbeats, requests the decider answers with its own events,
deployments, rejected or deduplicated requests, which create no run) are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.domain import events as ev
from orchestrator.domain import records
from orchestrator.domain.branches import branch_allowed
from orchestrator.domain.dag import dag_of
from orchestrator.domain.folding import reopens
from orchestrator.domain.leases import start_timeout_reason
from orchestrator.domain.model import StageSpec
from orchestrator.domain.refs import RunRef, ref_of
from orchestrator.domain.stage_machine import unskippable
from orchestrator.domain.state import RunState
from orchestrator.domain.statuses import FailureClass, RunStatus, StageStatus

__all__ = [
    "FOLDED_STAGE_COLUMNS",
    "RECORDS",
    "ArtifactRow",
    "PipelineRow",
    "ReadModel",
    "RunRow",
    "StageRow",
    "apply",
    "columns",
    "handles",
    "ms_to_time",
    "rows_of",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Event = Any  # a domain event or pipeline record (orchestrator.wire.RECORD_TYPES)
Handler = Callable[["ReadModel", Any], None]


def ms_to_time(ms: int) -> datetime:
    """An event's ``*_ms`` time as the ``timestamptz`` the tables hold (exact to the ms)."""
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(slots=True)
class PipelineRow:
    """A row of ``pipelines``."""

    pipeline_id: str
    name: str
    repo_url: str
    config_path: str
    default_branch: str
    priority: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


@dataclass(slots=True)
class RunRow:
    """A row of ``pipeline_runs``."""

    run_id: str
    pipeline_id: str
    branch: str
    commit_sha: str
    source: str
    priority: str
    status: str
    reason: str | None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    ref_type: str = "branch"
    tag: str | None = None
    merge_request_iid: int | None = None
    merge_request_url: str | None = None
    target_branch: str | None = None


@dataclass(slots=True)
class StageRow:
    """A row of ``stages``."""

    run_id: str
    name: str
    position: int
    status: str
    attempt: int = 0
    needs: list[str] = field(default_factory=list)
    runner_id: str | None = None
    exit_code: int | None = None
    failure_class: str | None = None
    reason: str | None = None
    log_path: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    allow_failure: bool = False
    on_branch: bool = True
    log_expired_at: datetime | None = None
    image_name: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    image_size_bytes: int | None = None
    image: str | None = None
    environment: str | None = None  # a deploy stage's

    @property
    def blocks_needs(self) -> bool:
        """Whether stages that need this one cannot run (as ``StageState.blocks_needs``)."""
        if self.status in (StageStatus.SKIPPED.value, StageStatus.CANCELLED.value):
            return True
        return self.status == StageStatus.FAILED.value and not self.allow_failure


@dataclass(slots=True)
class ArtifactRow:
    """A row of ``artifacts``."""

    artifact_id: str
    run_id: str
    stage: str
    attempt: int
    name: str
    size_bytes: int
    sha256: str
    storage_path: str
    created_at: datetime
    expires_at: datetime
    expired_at: datetime | None = None


_COLUMNS: dict[type[Any], tuple[str, ...]] = {}


def columns(row_type: type[Any]) -> tuple[str, ...]:
    """The column names of a row type, in the order of its fields (and of the table)."""
    names = _COLUMNS.get(row_type)
    if names is None:
        names = _COLUMNS[row_type] = tuple(f.name for f in fields(row_type))
    return names


def as_mapping(row: Any) -> dict[str, Any]:
    """A row's columns by name: ``dataclasses.asdict`` without its deep copy of each value
    (a tenth of the API's CPU on a trigger's answer, which only reads them)."""
    return {name: getattr(row, name) for name in columns(type(row))}


@dataclass(slots=True)
class ReadModel:
    """The rows one batch of events reads and writes, and which of them changed."""

    pipelines: dict[str, PipelineRow] = field(default_factory=dict)
    runs: dict[str, RunRow] = field(default_factory=dict)
    stages: dict[str, dict[str, StageRow]] = field(default_factory=dict)  # by run, by name
    artifacts: dict[str, ArtifactRow] = field(default_factory=dict)  # new in this batch
    expired_artifacts: dict[str, datetime] = field(default_factory=dict)  # stored before it
    dirty_pipelines: set[str] = field(default_factory=set)
    dirty_runs: set[str] = field(default_factory=set)
    dirty_stages: set[tuple[str, str]] = field(default_factory=set)

    def changed_pipelines(self) -> Iterator[PipelineRow]:
        """Pipelines rows changed since the batch began."""
        return (self.pipelines[p] for p in sorted(self.dirty_pipelines))

    def changed_runs(self) -> Iterator[RunRow]:
        """Run rows changed since the batch began."""
        return (self.runs[r] for r in sorted(self.dirty_runs))

    def changed_stages(self) -> Iterator[StageRow]:
        """Stage rows changed since the batch began."""
        return (self.stages[r][s] for r, s in sorted(self.dirty_stages))


def _value(v: Any) -> Any:
    """An enum as the string the tables hold; anything else as it is."""
    return v.value if isinstance(v, FailureClass | StageStatus | RunStatus) else v


def _pipeline_saved(m: ReadModel, e: records.PipelineRegistered) -> None:
    at = ms_to_time(e.occurred_at_ms)
    old = m.pipelines.get(e.pipeline_id)
    m.pipelines[e.pipeline_id] = PipelineRow(
        pipeline_id=e.pipeline_id,
        name=e.name,
        repo_url=e.repo_url,
        config_path=e.config_path,
        default_branch=e.default_branch,
        priority=None if e.priority is None else str(e.priority),
        created_at=at if old is None else old.created_at,
        updated_at=at,
    )
    m.dirty_pipelines.add(e.pipeline_id)


def _pipeline_deleted(m: ReadModel, e: records.PipelineDeleted) -> None:
    row = m.pipelines.get(e.pipeline_id)
    if row is not None:
        row.deleted_at = row.updated_at = ms_to_time(e.occurred_at_ms)
        m.dirty_pipelines.add(row.pipeline_id)


def _run_created(m: ReadModel, e: ev.RunCreated) -> None:
    if e.run_id in m.runs:
        return  # a repeated RunCreated changes nothing
    m.runs[e.run_id] = _run_row(e, ref_of(e), RunStatus.QUEUED, created_ms=e.occurred_at_ms)
    m.stages[e.run_id] = {
        spec.name: _stage_row(
            e.run_id, position, spec, StageStatus.PENDING, branch=e.branch, ref=ref_of(e)
        )
        for position, spec in enumerate(e.stages)
    }
    m.dirty_runs.add(e.run_id)
    m.dirty_stages.update((e.run_id, spec.name) for spec in e.stages)


def _run_row(run: Any, ref: RunRef, status: RunStatus, *, created_ms: int) -> RunRow:
    """A run row from what a ``RunCreated`` or a ``RunState`` says of the run."""
    return RunRow(
        run_id=run.run_id,
        pipeline_id=run.pipeline_id,
        branch=run.branch,
        commit_sha=run.commit_sha,
        source=str(run.source),
        priority=str(run.priority),
        status=status.value,
        reason=None,
        created_at=ms_to_time(created_ms),
        ref_type=str(ref.event),
        tag=ref.tag,
        merge_request_iid=ref.merge_request_iid,
        merge_request_url=ref.merge_request_url,
        target_branch=ref.target_branch,
    )


def _stage_row(
    run_id: str, position: int, spec: StageSpec, status: StageStatus, *, branch: str, ref: RunRef
) -> StageRow:
    return StageRow(
        run_id,
        spec.name,
        position,
        status.value,
        needs=list(spec.needs),
        allow_failure=spec.allow_failure,
        on_branch=branch_allowed(spec.when, branch, ref),
        image=None if spec.build_image is not None else spec.image,
        environment=None if spec.deploy is None else spec.deploy.environment,
    )


def _run_update(status: RunStatus | None, *, start: bool = False, finish: bool = False) -> Handler:
    def handle(m: ReadModel, e: Any) -> None:
        run = m.runs.get(e.run_id)
        if run is None:
            return
        at = ms_to_time(e.occurred_at_ms)
        if status is not None:
            run.status = status.value
        if start and run.started_at is None:
            run.started_at = at
        if finish:
            run.finished_at = at
            run.reason = getattr(e, "reason", None)
        m.dirty_runs.add(run.run_id)

    return handle


def _stage(m: ReadModel, e: Any) -> StageRow | None:
    row = m.stages.get(e.run_id, {}).get(e.stage)
    if row is not None:
        m.dirty_stages.add((row.run_id, row.name))
    return row


def _stage_queued(m: ReadModel, e: ev.StageQueued) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.QUEUED.value
        row.attempt = e.attempt
        row.queued_at = ms_to_time(e.occurred_at_ms)
        row.runner_id = row.exit_code = row.failure_class = row.reason = None
        row.started_at = row.finished_at = None


def _stage_claimed(m: ReadModel, e: ev.StageClaimed) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.RUNNING.value
        row.attempt = e.attempt
        row.runner_id = e.runner_id
        row.started_at = ms_to_time(e.occurred_at_ms)
        row.finished_at = None


def _stage_set(status: StageStatus | None = None, **columns: str) -> Handler:
    """A handler setting the stage's status (if given) and ``column=event field`` values."""

    def handle(m: ReadModel, e: Any) -> None:
        row = _stage(m, e)
        if row is not None:
            if status is not None:
                row.status = status.value
            for column, name in columns.items():
                setattr(row, column, _value(getattr(e, name)))

    return handle


def _stage_ended(status: StageStatus) -> Handler:
    def handle(m: ReadModel, e: Any) -> None:
        row = _stage(m, e)
        if row is None:
            return
        row.status = status.value
        row.finished_at = ms_to_time(e.occurred_at_ms)
        row.attempt = getattr(e, "attempt", row.attempt)
        for name in ("runner_id", "exit_code", "failure_class", "reason"):
            value = getattr(e, name, None)
            if value is not None:
                setattr(row, name, _value(value))

    return handle


def _stage_retry_requested(
    m: ReadModel, e: ev.StageRetryRequested | ev.StageRedriveRequested
) -> None:
    stages = m.stages.get(e.run_id, {})
    row = stages.get(e.stage)
    if row is None:
        return
    row.status = StageStatus.PENDING.value
    row.runner_id = row.exit_code = row.failure_class = row.reason = None
    row.queued_at = row.started_at = row.finished_at = None
    m.dirty_stages.add((row.run_id, row.name))
    ordered = sorted(stages.values(), key=lambda r: r.position)
    dag = dag_of(tuple(r.name for r in ordered), {r.name: tuple(r.needs) for r in ordered})
    for name in unskippable(dag, stages, row.name, lambda n: stages[n].on_branch):
        stages[name].status = StageStatus.PENDING.value
        stages[name].reason = None
        m.dirty_stages.add((row.run_id, name))
    _reopen(m, e)


def _stage_start_requested(m: ReadModel, e: ev.StageStartRequested) -> None:
    if e.stage in m.stages.get(e.run_id, {}):
        _reopen(m, e)


def _reopen(m: ReadModel, e: Any) -> None:
    """A person's request on a finished run makes it run again (``folding.reopens``)."""
    run = m.runs.get(e.run_id)
    if run is not None and reopens(RunStatus(run.status)):
        run.status = RunStatus.RUNNING.value
        run.finished_at = None
        run.reason = None
        m.dirty_runs.add(run.run_id)


def _lease_expired(m: ReadModel, e: ev.StageLeaseExpired) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.FAILED.value
        row.failure_class = FailureClass.INFRASTRUCTURE.value
        row.exit_code = None
        row.reason = f"the lease of attempt {e.attempt} expired"
        row.finished_at = ms_to_time(e.occurred_at_ms)


def _start_timed_out(m: ReadModel, e: ev.StageStartTimedOut) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.FAILED.value
        row.failure_class = None  # waiting is not a failure of the infrastructure
        row.exit_code = None
        row.reason = start_timeout_reason(e.attempt, e.timeout_ms)
        row.finished_at = ms_to_time(e.occurred_at_ms)


def _artifact_stored(m: ReadModel, e: ev.ArtifactStored) -> None:
    if e.run_id in m.runs:
        m.artifacts[e.artifact_id] = _artifact_row(e, {})


def _artifact_expired(m: ReadModel, e: ev.ArtifactExpired) -> None:
    at = ms_to_time(e.occurred_at_ms)
    row = m.artifacts.get(e.artifact_id)
    if row is not None:  # stored in this same batch
        row.expired_at = at
    else:
        m.expired_artifacts[e.artifact_id] = at


def _log_archived(m: ReadModel, e: ev.LogArchived) -> None:
    row = _stage(m, e)
    if row is not None:
        row.log_path = e.storage_path
        row.log_expired_at = None


def _log_expired(m: ReadModel, e: ev.LogExpired) -> None:
    row = _stage(m, e)
    if row is not None and row.log_path == e.storage_path:  # an older attempt's log: no row
        row.log_expired_at = ms_to_time(e.occurred_at_ms)


def _ignore(m: ReadModel, e: Any) -> None:
    """The event changes no row of the read model."""


_HANDLERS: Mapping[type, Handler] = {
    records.PipelineRegistered: _pipeline_saved,
    records.PipelineUpdated: _pipeline_saved,
    records.PipelineDeleted: _pipeline_deleted,
    ev.RunCreated: _run_created,
    ev.RunRejected: _ignore,
    ev.RunDeduplicated: _ignore,
    ev.RunStarted: _run_update(RunStatus.RUNNING, start=True),
    ev.StageQueued: _stage_queued,
    ev.StageClaimed: _stage_claimed,
    ev.StageHeartbeat: _stage_set(runner_id="runner_id"),
    ev.StageSucceeded: _stage_ended(StageStatus.SUCCESS),
    ev.StageFailed: _stage_ended(StageStatus.FAILED),
    ev.StageRetryScheduled: _stage_set(
        StageStatus.QUEUED, attempt="attempt", failure_class="failure_class"
    ),
    ev.StageRetryDue: _ignore,
    ev.StageLeaseExpired: _lease_expired,
    ev.StageStartTimedOut: _start_timed_out,
    ev.StageSkipped: _stage_ended(StageStatus.SKIPPED),
    ev.StageCancelled: _stage_ended(StageStatus.CANCELLED),
    ev.StageDeadLettered: _stage_set(reason="reason"),  # it stays failed
    ev.StageManualWaiting: _stage_set(StageStatus.MANUAL),
    ev.StageStartRequested: _stage_start_requested,
    ev.StageRetryRequested: _stage_retry_requested,
    ev.StageRedriveRequested: _stage_retry_requested,  # a fresh attempt, like a retry
    ev.DeadLetterDiscarded: _ignore,  # the stage stays failed; see projections/dead_letters.py
    ev.ArtifactStored: _artifact_stored,
    ev.ArtifactExpired: _artifact_expired,
    ev.LogArchived: _log_archived,
    ev.LogExpired: _log_expired,
    ev.ImageBuilt: _stage_set(
        image_name="name", image_tag="tag", image_digest="digest", image_size_bytes="size_bytes"
    ),
    ev.DeploymentStarted: _ignore,
    ev.DeploymentSucceeded: _ignore,
    ev.DeploymentFailed: _ignore,
    ev.DeploymentRolledBack: _ignore,
    ev.InstanceStarted: _ignore,
    ev.InstanceHealthy: _ignore,
    ev.InstanceUnhealthy: _ignore,
    ev.TrafficShifted: _ignore,
    ev.AnalysisMeasured: _ignore,
    ev.DeploymentPaused: _ignore,
    ev.DeploymentPromoted: _ignore,
    ev.DeploymentAborted: _ignore,
    ev.RunCancelRequested: _ignore,
    ev.RunSucceeded: _run_update(RunStatus.SUCCESS, finish=True),
    ev.RunFailed: _run_update(RunStatus.FAILED, finish=True),
    ev.RunCancelled: _run_update(RunStatus.CANCELLED, finish=True),
}

RECORDS = frozenset(t.__name__ for t in _HANDLERS)


# The stage columns the domain's state of a run determines; the others (attempt, runner,
# exit code, per-attempt times) describe the latest report, which the state keeps in its
# own terms (``dispatched``, ``lease_deadline_ms`` …), so they are compared by replay only.
FOLDED_STAGE_COLUMNS = (
    "run_id",
    "name",
    "position",
    "status",
    "needs",
    "allow_failure",
    "on_branch",
)


def rows_of(state: RunState) -> tuple[RunRow, dict[str, StageRow], dict[str, ArtifactRow]]:
    """The rows of a run as its domain state (the fold of ``evolve``) says they are: the
    run's row whole, every stage's :data:`FOLDED_STAGE_COLUMNS`, every artifact row whole."""
    run = _run_row(state, state.ref, state.status, created_ms=state.created_at_ms)
    run.reason = state.reason
    run.started_at = _time(state.started_at_ms)
    run.finished_at = _time(state.finished_at_ms)
    stages = {
        name: _stage_row(
            state.run_id, position, stage.spec, stage.status, branch=state.branch, ref=state.ref
        )
        for position, (name, stage) in enumerate(state.stages.items())
    }
    artifacts = {
        a.artifact_id: _artifact_row(a, expired)
        for stage in state.stages.values()
        for expired in [{e.artifact_id: e.occurred_at_ms for e in stage.expired_artifacts}]
        for a in stage.artifacts
    }
    return run, stages, artifacts


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else ms_to_time(ms)


def _artifact_row(e: ev.ArtifactStored, expired: Mapping[str, int]) -> ArtifactRow:
    row = ArtifactRow(
        artifact_id=e.artifact_id,
        run_id=e.run_id,
        stage=e.stage,
        attempt=e.attempt,
        name=e.name,
        size_bytes=e.size_bytes,
        sha256=e.sha256,
        storage_path=e.storage_path,
        created_at=ms_to_time(e.occurred_at_ms),
        expires_at=ms_to_time(e.expires_at_ms),
    )
    row.expired_at = _time(expired.get(e.artifact_id))
    return row


def handles(record: str) -> bool:
    """Whether records named ``record`` belong on a topic this read model projects."""
    return record in RECORDS


def apply(model: ReadModel, event: Event) -> None:
    """Fold one domain event (or pipeline record) into ``model``.

    The rows it touches must already be in ``model`` (the projector loads them); a record
    this read model does not know raises ``KeyError`` (check :func:`handles` first).
    """
    _HANDLERS[type(event)](model, event)
