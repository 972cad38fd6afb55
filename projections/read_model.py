"""The PostgreSQL read model as plain data: rows, and what each event does to them.

No Kafka and no database here. :class:`ReadModel` is the working set of one batch (the rows
its events touch, loaded by the projector beforehand); :func:`apply` folds one decoded event
(the Avro dict of ``schemas.codec.decode``, always in the newest schema) into it and marks
what changed. Every handler is idempotent for a repeated event, and stage and run statuses
follow ``orchestrator.domain``'s state machines (``statuses.py``) exactly:

    RunCreated            run queued, each stage pending (position = order in the DAG)
    RunStarted            run running
    StageQueued           queued (a new attempt, or queued -> queued when a back-off ends)
    StageClaimed          running
    StageSucceeded        success
    StageFailed, StageLeaseExpired                          failed
    StageDeadLettered     stays failed (its reason says why it will not be retried)
    StageRetryScheduled   failed -> queued (the next attempt waits for its back-off)
    StageSkipped / StageCancelled / StageManualWaiting     skipped / cancelled / manual
    StageRetryRequested   the stage goes back to pending, and so does every skipped stage
                          downstream that its branch rule allows and whose needs no longer
                          block it; a finished run is running again
    StageStartRequested   a finished run is running again (StageQueued follows)
    RunSucceeded / RunFailed / RunCancelled                success / failed / cancelled

Events that change no row (heartbeats, requests the decider answers with its own events,
deployments, rejected or deduplicated requests, which create no run) are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.domain.branches import branch_allowed
from orchestrator.domain.model import WhenRule
from orchestrator.domain.statuses import FailureClass, RunStatus, StageStatus

__all__ = [
    "PIPELINE_RECORDS",
    "RUN_RECORDS",
    "ArtifactRow",
    "PipelineRow",
    "ReadModel",
    "RunRow",
    "StageRow",
    "apply",
    "columns",
    "handles",
    "ms_to_time",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Event = Mapping[str, Any]
Handler = Callable[["ReadModel", Event], None]


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


def columns(row_type: type[Any]) -> tuple[str, ...]:
    """The column names of a row type, in the order of its fields (and of the table)."""
    return tuple(f.name for f in fields(row_type))


@dataclass(slots=True)
class ReadModel:
    """The rows one batch of events reads and writes, and which of them changed."""

    pipelines: dict[str, PipelineRow] = field(default_factory=dict)
    runs: dict[str, RunRow] = field(default_factory=dict)
    stages: dict[str, dict[str, StageRow]] = field(default_factory=dict)  # by run, by name
    artifacts: dict[str, ArtifactRow] = field(default_factory=dict)  # new in this batch
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


def _pipeline_saved(m: ReadModel, e: Event) -> None:
    at = ms_to_time(e["occurred_at_ms"])
    old = m.pipelines.get(e["pipeline_id"])
    m.pipelines[e["pipeline_id"]] = PipelineRow(
        pipeline_id=e["pipeline_id"],
        name=e["name"],
        repo_url=e["repo_url"],
        config_path=e["config_path"],
        default_branch=e["default_branch"],
        priority=e["priority"],
        created_at=at if old is None else old.created_at,
        updated_at=at,
    )
    m.dirty_pipelines.add(e["pipeline_id"])


def _pipeline_deleted(m: ReadModel, e: Event) -> None:
    row = m.pipelines.get(e["pipeline_id"])
    if row is not None:
        row.deleted_at = row.updated_at = ms_to_time(e["occurred_at_ms"])
        m.dirty_pipelines.add(row.pipeline_id)


def _run_created(m: ReadModel, e: Event) -> None:
    run_id = e["run_id"]
    if run_id in m.runs:
        return  # a repeated RunCreated changes nothing
    m.runs[run_id] = RunRow(
        run_id=run_id,
        pipeline_id=e["pipeline_id"],
        branch=e["branch"],
        commit_sha=e["commit_sha"],
        source=e["source"],
        priority=e["priority"],
        status=RunStatus.QUEUED.value,
        reason=None,
        created_at=ms_to_time(e["occurred_at_ms"]),
    )
    m.dirty_runs.add(run_id)
    stages = m.stages[run_id] = {}
    for position, spec in enumerate(e["stages"]):
        name = spec["name"]
        when = WhenRule(branches=tuple(spec["when"]["branches"]))
        stages[name] = StageRow(
            run_id,
            name,
            position,
            StageStatus.PENDING.value,
            needs=list(spec["needs"]),
            allow_failure=spec["allow_failure"],
            on_branch=branch_allowed(when, e["branch"]),
        )
        m.dirty_stages.add((run_id, name))


def _run_update(status: RunStatus | None, *, start: bool = False, finish: bool = False) -> Handler:
    def handle(m: ReadModel, e: Event) -> None:
        run = m.runs.get(e["run_id"])
        if run is None:
            return
        at = ms_to_time(e["occurred_at_ms"])
        if status is not None:
            run.status = status.value
        if start and run.started_at is None:
            run.started_at = at
        if finish:
            run.finished_at = at
            run.reason = e.get("reason")
        m.dirty_runs.add(run.run_id)

    return handle


def _stage(m: ReadModel, e: Event) -> StageRow | None:
    row = m.stages.get(e["run_id"], {}).get(e["stage"])
    if row is not None:
        m.dirty_stages.add((row.run_id, row.name))
    return row


def _stage_queued(m: ReadModel, e: Event) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.QUEUED.value
        row.attempt = e["attempt"]
        row.queued_at = ms_to_time(e["occurred_at_ms"])
        row.runner_id = row.exit_code = row.failure_class = row.reason = None
        row.started_at = row.finished_at = None


def _stage_claimed(m: ReadModel, e: Event) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.RUNNING.value
        row.attempt = e["attempt"]
        row.runner_id = e["runner_id"]
        row.started_at = ms_to_time(e["occurred_at_ms"])
        row.finished_at = None


def _stage_set(status: StageStatus | None = None, **columns: str) -> Handler:
    """A handler setting the stage's status (if given) and ``column=event field`` values."""

    def handle(m: ReadModel, e: Event) -> None:
        row = _stage(m, e)
        if row is not None:
            if status is not None:
                row.status = status.value
            for column, name in columns.items():
                setattr(row, column, e[name])

    return handle


def _stage_ended(status: StageStatus) -> Handler:
    def handle(m: ReadModel, e: Event) -> None:
        row = _stage(m, e)
        if row is None:
            return
        row.status = status.value
        row.finished_at = ms_to_time(e["occurred_at_ms"])
        if "attempt" in e:
            row.attempt = e["attempt"]
        for name in ("runner_id", "exit_code", "failure_class", "reason"):
            if e.get(name) is not None:
                setattr(row, name, e[name])

    return handle


def _stage_retry_requested(m: ReadModel, e: Event) -> None:
    stages = m.stages.get(e["run_id"], {})
    row = stages.get(e["stage"])
    if row is None:
        return
    row.status = StageStatus.PENDING.value
    row.runner_id = row.exit_code = row.failure_class = row.reason = None
    row.queued_at = row.started_at = row.finished_at = None
    m.dirty_stages.add((row.run_id, row.name))
    for name in _unskippable(stages, row.name):
        stages[name].status = StageStatus.PENDING.value
        stages[name].reason = None
        m.dirty_stages.add((row.run_id, name))
    _reopen(m, e)


def _unskippable(stages: Mapping[str, StageRow], root: str) -> list[str]:
    """Skipped stages downstream of ``root`` that may run again now that it is pending."""
    downstream = _downstream(stages, root)
    unskipped: set[str] = set()
    changed = True
    while changed:  # unskipping only ever unblocks, so this reaches the domain's fixpoint
        changed = False
        for name in downstream - unskipped:
            row = stages[name]
            blocked = any(
                n not in unskipped and stages[n].blocks_needs for n in row.needs if n in stages
            )
            if row.status == StageStatus.SKIPPED.value and row.on_branch and not blocked:
                unskipped.add(name)
                changed = True
    return sorted(unskipped, key=lambda n: stages[n].position)


def _downstream(stages: Mapping[str, StageRow], root: str) -> set[str]:
    """Every stage that needs ``root``, directly or not."""
    found: set[str] = set()
    frontier = {root}
    while frontier:
        frontier = {r.name for r in stages.values() if frontier.intersection(r.needs)} - found
        found |= frontier
    return found


def _stage_start_requested(m: ReadModel, e: Event) -> None:
    if e["stage"] in m.stages.get(e["run_id"], {}):
        _reopen(m, e)


def _reopen(m: ReadModel, e: Event) -> None:
    """A person's request on a finished run makes it run again."""
    run = m.runs.get(e["run_id"])
    if run is not None and RunStatus(run.status).terminal:
        run.status = RunStatus.RUNNING.value
        run.finished_at = None
        run.reason = None
        m.dirty_runs.add(run.run_id)


def _lease_expired(m: ReadModel, e: Event) -> None:
    row = _stage(m, e)
    if row is not None:
        row.status = StageStatus.FAILED.value
        row.failure_class = FailureClass.INFRASTRUCTURE.value
        row.exit_code = None
        row.reason = f"the lease of attempt {e['attempt']} expired"
        row.finished_at = ms_to_time(e["occurred_at_ms"])


def _artifact_stored(m: ReadModel, e: Event) -> None:
    if e["run_id"] not in m.runs:
        return
    m.artifacts[e["artifact_id"]] = ArtifactRow(
        artifact_id=e["artifact_id"],
        run_id=e["run_id"],
        stage=e["stage"],
        attempt=e["attempt"],
        name=e["name"],
        size_bytes=e["size_bytes"],
        sha256=e["sha256"],
        storage_path=e["storage_path"],
        created_at=ms_to_time(e["occurred_at_ms"]),
        expires_at=ms_to_time(e["expires_at_ms"]),
    )


def _ignore(m: ReadModel, e: Event) -> None:
    """The event changes no row of the read model."""


_HANDLERS: Mapping[str, Handler] = {
    "PipelineRegistered": _pipeline_saved,
    "PipelineUpdated": _pipeline_saved,
    "PipelineDeleted": _pipeline_deleted,
    "RunCreated": _run_created,
    "RunRejected": _ignore,
    "RunDeduplicated": _ignore,
    "RunStarted": _run_update(RunStatus.RUNNING, start=True),
    "StageQueued": _stage_queued,
    "StageClaimed": _stage_claimed,
    "StageHeartbeat": _stage_set(runner_id="runner_id"),
    "StageSucceeded": _stage_ended(StageStatus.SUCCESS),
    "StageFailed": _stage_ended(StageStatus.FAILED),
    "StageRetryScheduled": _stage_set(
        StageStatus.QUEUED, attempt="attempt", failure_class="failure_class"
    ),
    "StageRetryDue": _ignore,
    "StageLeaseExpired": _lease_expired,
    "StageSkipped": _stage_ended(StageStatus.SKIPPED),
    "StageCancelled": _stage_ended(StageStatus.CANCELLED),
    "StageDeadLettered": _stage_set(reason="reason"),  # it stays failed
    "StageManualWaiting": _stage_set(StageStatus.MANUAL),
    "StageStartRequested": _stage_start_requested,
    "StageRetryRequested": _stage_retry_requested,
    "ArtifactStored": _artifact_stored,
    "LogArchived": _stage_set(log_path="storage_path"),
    "DeploymentStarted": _ignore,
    "DeploymentSucceeded": _ignore,
    "DeploymentFailed": _ignore,
    "DeploymentRolledBack": _ignore,
    "InstanceStarted": _ignore,
    "InstanceHealthy": _ignore,
    "InstanceUnhealthy": _ignore,
    "TrafficShifted": _ignore,
    "AnalysisMeasured": _ignore,
    "RunCancelRequested": _ignore,
    "RunSucceeded": _run_update(RunStatus.SUCCESS, finish=True),
    "RunFailed": _run_update(RunStatus.FAILED, finish=True),
    "RunCancelled": _run_update(RunStatus.CANCELLED, finish=True),
}

PIPELINE_RECORDS = frozenset({"PipelineRegistered", "PipelineUpdated", "PipelineDeleted"})
RUN_RECORDS = frozenset(_HANDLERS) - PIPELINE_RECORDS


def handles(record: str) -> bool:
    """Whether ``record`` belongs on a topic this read model projects."""
    return record in _HANDLERS


def apply(model: ReadModel, record: str, event: Event) -> None:
    """Fold one decoded event of record type ``record`` into ``model``.

    The rows it touches must already be in ``model`` (the projector loads them); a record
    this read model does not know raises ``KeyError`` (check :func:`handles` first).
    """
    _HANDLERS[record](model, event)
