"""The state of one run, as folded from its events by :func:`~orchestrator.domain.evolve`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from orchestrator.domain.dag import Dag
from orchestrator.domain.events import (
    AnalysisMeasured,
    ArtifactExpired,
    ArtifactStored,
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
    TrafficShifted,
)
from orchestrator.domain.model import StageSpec
from orchestrator.domain.refs import BRANCH_RUN, RunRef
from orchestrator.domain.statuses import (
    FailureClass,
    Priority,
    RunStatus,
    StageStatus,
    TriggerSource,
)

__all__ = ["DeploymentEvent", "RunState", "StageState"]

DeploymentEvent = (
    DeploymentStarted
    | DeploymentSucceeded
    | DeploymentFailed
    | DeploymentRolledBack
    | InstanceStarted
    | InstanceHealthy
    | InstanceUnhealthy
    | TrafficShifted
    | AnalysisMeasured
    | DeploymentPaused
    | DeploymentPromoted
    | DeploymentAborted
)
_LIVE = frozenset({StageStatus.QUEUED, StageStatus.RUNNING})


@dataclass(frozen=True, slots=True, kw_only=True)
class StageState:
    """One stage of a run.

    ``attempt`` is the current attempt, or the next one to run while the stage is pending;
    ``dispatched`` is the highest attempt whose job went out (so a job per attempt, once).
    ``failures``, ``infrastructure_failures`` and ``policy_retries`` count since the last
    time a person retried the stage.
    """

    spec: StageSpec
    status: StageStatus = StageStatus.PENDING
    attempt: int = 1
    dispatched: int = 0
    priority: Priority | None = None
    queued_at_ms: int | None = None
    lease_ms: int | None = None
    runner_id: str | None = None
    lease_deadline_ms: int | None = None
    retry_at_ms: int | None = None
    failures: int = 0
    infrastructure_failures: int = 0
    policy_retries: int = 0
    approved: bool = False
    dead_lettered: bool = False
    failure_class: FailureClass | None = None
    exit_code: int | None = None
    reason: str | None = None
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    duration_ms: int | None = None
    artifacts: tuple[ArtifactStored, ...] = ()
    expired_artifacts: tuple[ArtifactExpired, ...] = ()
    logs: tuple[LogArchived, ...] = ()
    images: tuple[ImageBuilt, ...] = ()
    expired_logs: tuple[LogExpired, ...] = ()
    deployments: tuple[DeploymentEvent, ...] = ()

    @property
    def name(self) -> str:
        """The stage's name."""
        return self.spec.name

    @property
    def live(self) -> bool:
        """Queued (dispatched or waiting for its back-off) or running."""
        return self.status in _LIVE

    @property
    def waiting_for_retry(self) -> bool:
        """Queued for an attempt whose back-off has not ended (no job yet)."""
        return self.status is StageStatus.QUEUED and self.dispatched < self.attempt

    @property
    def meets_needs(self) -> bool:
        """Whether stages that need this one may run: it succeeded, or failed but may fail."""
        if self.status is StageStatus.SUCCESS:
            return True
        return self.status is StageStatus.FAILED and self.spec.allow_failure

    @property
    def blocks_needs(self) -> bool:
        """Whether stages that need this one can never run (unless a person retries)."""
        status = self.status
        if status is StageStatus.SKIPPED or status is StageStatus.CANCELLED:
            return True
        return status is StageStatus.FAILED and not self.spec.allow_failure


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    """One run: what it is, its status, and its stages in declaration order."""

    run_id: str
    pipeline_id: str
    pipeline_name: str
    branch: str
    commit_sha: str
    repo_url: str
    source: TriggerSource
    priority: Priority
    variables: Mapping[str, str] = field(default_factory=dict)
    dedup_key: str
    ref: RunRef = BRANCH_RUN
    status: RunStatus = RunStatus.QUEUED
    stages: Mapping[str, StageState]
    created_at_ms: int
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    reason: str | None = None
    failed_stages: tuple[str, ...] = ()
    # derived from the stage specs, so it takes no part in equality
    dag: Dag = field(compare=False, repr=False)

    def stage(self, name: str) -> StageState:
        """The stage called ``name`` (KeyError if there is none)."""
        return self.stages[name]

    def in_status(self, *statuses: StageStatus) -> Iterator[StageState]:
        """Stages in any of ``statuses``, in declaration order."""
        return (s for s in self.stages.values() if s.status in statuses)

    @property
    def settled(self) -> bool:
        """Nothing is queued or running: no more input can arrive without a person."""
        return not any(s.status in _LIVE for s in self.stages.values())

    def stage_priority(self, name: str) -> Priority:
        """The priority of a stage's jobs: the stage's own, else the run's."""
        return self.stages[name].spec.priority or self.priority
