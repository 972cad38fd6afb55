"""The records of ``sluice.runs`` (and ``sluice.inbox``), one frozen dataclass each.

Field names are exactly those of docs/events.md. Every event has ``run_id`` and
``occurred_at_ms``; stage events add ``stage`` and, unless the catalogue says otherwise,
the 1-based ``attempt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import FailureClass, PipelineEvent, Priority, TriggerSource

__all__ = [
    "RUN_EVENT_TYPES",
    "AnalysisMeasured",
    "ArtifactExpired",
    "ArtifactStored",
    "DeadLetterDiscarded",
    "DeploymentAborted",
    "DeploymentFailed",
    "DeploymentPaused",
    "DeploymentPromoted",
    "DeploymentRolledBack",
    "DeploymentStarted",
    "DeploymentSucceeded",
    "ImageBuilt",
    "InstanceHealthy",
    "InstanceStarted",
    "InstanceUnhealthy",
    "LogArchived",
    "LogExpired",
    "RunCancelRequested",
    "RunCancelled",
    "RunCreated",
    "RunDeduplicated",
    "RunEvent",
    "RunFailed",
    "RunRejected",
    "RunStarted",
    "RunSucceeded",
    "StageCancelled",
    "StageClaimed",
    "StageDeadLettered",
    "StageFailed",
    "StageHeartbeat",
    "StageLeaseExpired",
    "StageManualWaiting",
    "StageQueued",
    "StageRedriveRequested",
    "StageRetryDue",
    "StageRetryRequested",
    "StageRetryScheduled",
    "StageSkipped",
    "StageStartRequested",
    "StageStartTimedOut",
    "StageSucceeded",
    "TrafficShifted",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    run_id: str
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _StageNote(_Event):
    stage: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _StageEvent(_StageNote):
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCreated(_Event):
    """A run exists, with its resolved DAG snapshot (matrix already expanded)."""

    pipeline_id: str
    pipeline_name: str
    branch: str
    commit_sha: str
    repo_url: str
    source: TriggerSource
    priority: Priority
    variables: Mapping[str, str] = field(default_factory=dict)
    dedup_key: str
    stages: tuple[StageSpec, ...]
    ref_type: PipelineEvent = PipelineEvent.BRANCH
    tag: str | None = None
    merge_request_iid: int | None = None
    merge_request_url: str | None = None
    target_branch: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRejected(_Event):
    """A requested run could not be created (e.g. its pipeline file is invalid)."""

    pipeline_id: str
    branch: str
    commit_sha: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDeduplicated(_Event):
    """A request matched an existing run (``run_id``) and created nothing.

    ``requested_run_id`` is the run id the request was given when it was accepted (an API
    answer that came before this one named it): it resolves to ``run_id`` from now on.
    None in events written before it was recorded.
    """

    request_id: str
    dedup_key: str
    requested_run_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(_Event):
    """The first stage of the run was claimed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageQueued(_StageEvent):
    """An attempt was dispatched to a job topic."""

    priority: Priority
    lease_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageClaimed(_StageEvent):
    """A runner took the attempt (``image_warm``: its image was already on the host)."""

    runner_id: str
    lease_deadline_ms: int
    image_warm: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StageHeartbeat(_StageEvent):
    """A runner is still working on the attempt and extends its lease."""

    runner_id: str
    lease_deadline_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSucceeded(_StageEvent):
    """The attempt succeeded."""

    runner_id: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageFailed(_StageEvent):
    """The attempt failed."""

    runner_id: str
    exit_code: int | None = None
    failure_class: FailureClass
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRetryScheduled(_StageEvent):
    """Attempt ``attempt`` will be queued at ``retry_at_ms`` after a failure."""

    failure_class: FailureClass
    backoff_ms: int
    retry_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRetryDue(_StageEvent):
    """The back-off of the scheduled attempt ``attempt`` is over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageLeaseExpired(_StageEvent):
    """Nobody finished (or claimed, when ``runner_id`` is None) the attempt within its lease."""

    runner_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StageStartTimedOut(_StageEvent):
    """No runner claimed the attempt within its schedule-to-start timeout (waiting is not a
    failure of the infrastructure: this is its own, generous, configurable deadline)."""

    queued_at_ms: int
    timeout_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSkipped(_StageNote):
    """The stage will not run in this run."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageCancelled(_StageEvent):
    """The stage was cancelled (by the decider on a run cancel, or reported by a runner)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageDeadLettered(_StageEvent):
    """The attempt failed for infrastructure reasons too often and went to the dead letters."""

    reason: str
    infrastructure_failures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageManualWaiting(_StageNote):
    """A ``when.manual`` stage whose needs are met waits for a person."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageStartRequested(_StageNote):
    """A person plays a manual stage."""

    requested_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRetryRequested(_StageNote):
    """A person retries a failed or cancelled stage."""

    requested_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRedriveRequested(_StageNote):
    """A person redrives a dead-lettered stage: a fresh attempt with a fresh retry budget."""

    requested_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterDiscarded(_StageEvent):
    """A person discards the dead letter of ``attempt``: it is dealt with; the run is unchanged."""

    requested_by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactStored(_StageEvent):
    """An attempt's artifact is in object storage."""

    artifact_id: str
    name: str
    size_bytes: int
    sha256: str
    storage_path: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactExpired(_StageEvent):
    """Retention reached an artifact: it is deleted from object storage, and answers 410."""

    artifact_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogExpired(_StageEvent):
    """Retention reached an archived log: it is deleted from object storage."""

    storage_path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogArchived(_StageEvent):
    """An attempt's whole log is in object storage."""

    storage_path: str
    size_bytes: int
    lines: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBuilt(_StageEvent):
    """An image build stage pushed its image (``tag`` is the reference to run)."""

    name: str
    tag: str
    digest: str
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentStarted(_StageEvent):
    """A deploy stage began deploying."""

    deployment_id: str
    environment: str
    strategy: str
    image: str = ""
    replicas: int = 0
    port: int = 8080
    health_check_path: str = "/"


@dataclass(frozen=True, slots=True, kw_only=True)
class _DeploymentStep(_StageEvent):
    """A step of a deployment; ``step`` counts from 1 within the deployment (dedup key)."""

    deployment_id: str
    environment: str
    step: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceStarted(_DeploymentStep):
    """The deployer started a container of the image being deployed (or rolled back to)."""

    instance: str
    image: str
    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceHealthy(_DeploymentStep):
    """An instance answered its health check."""

    instance: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceUnhealthy(_DeploymentStep):
    """An instance did not become healthy by the deadline (or stopped answering)."""

    instance: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisMeasured(_DeploymentStep):
    """A canary analysis: answers of the canary and of the stable instances, and the verdict."""

    canary_weight: int
    window_ms: int
    requests: int
    errors: int
    stable_requests: int
    stable_errors: int
    verdict: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficShifted(_DeploymentStep):
    """HAProxy's weights for the environment after a runtime command (instance → weight)."""

    weights: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentPaused(_DeploymentStep):
    """A canary waits for a person: its step says ``pause: manual``, or its analysis was
    inconclusive. ``step`` is what a promote or abort answers."""

    canary_weight: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentPromoted(_StageEvent):
    """A person lets the paused deployment go on from its pause ``step``."""

    deployment_id: str
    environment: str
    step: int
    requested_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentAborted(_StageEvent):
    """A person stops a deployment under way: the deployer sends traffic back to the
    previous revision at once and rolls back (a paused canary, or blue while still warm)."""

    deployment_id: str
    environment: str
    requested_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSucceeded(_StageEvent):
    """A deployment is live and healthy."""

    deployment_id: str
    environment: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentFailed(_StageEvent):
    """A deployment did not become healthy."""

    deployment_id: str
    environment: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentRolledBack(_StageEvent):
    """A deployment was rolled back to the previous version."""

    deployment_id: str
    environment: str
    reason: str
    to_image: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancelRequested(_Event):
    """A person asks to cancel the run."""

    requested_by: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSucceeded(_Event):
    """Every required stage succeeded (or was skipped by its rules)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(_Event):
    """At least one required stage failed."""

    reason: str
    failed_stages: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancelled(_Event):
    """The run was cancelled."""

    reason: str


RunEvent = (
    RunCreated
    | RunRejected
    | RunDeduplicated
    | RunStarted
    | StageQueued
    | StageClaimed
    | StageHeartbeat
    | StageSucceeded
    | StageFailed
    | StageRetryScheduled
    | StageRetryDue
    | StageLeaseExpired
    | StageStartTimedOut
    | StageSkipped
    | StageCancelled
    | StageDeadLettered
    | StageManualWaiting
    | StageStartRequested
    | StageRetryRequested
    | StageRedriveRequested
    | DeadLetterDiscarded
    | ArtifactStored
    | ArtifactExpired
    | LogArchived
    | ImageBuilt
    | LogExpired
    | DeploymentStarted
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
    | RunCancelRequested
    | RunSucceeded
    | RunFailed
    | RunCancelled
)

RUN_EVENT_TYPES: tuple[type[RunEvent], ...] = (
    RunCreated,
    RunRejected,
    RunDeduplicated,
    RunStarted,
    StageQueued,
    StageClaimed,
    StageHeartbeat,
    StageSucceeded,
    StageFailed,
    StageRetryScheduled,
    StageRetryDue,
    StageLeaseExpired,
    StageStartTimedOut,
    StageSkipped,
    StageCancelled,
    StageDeadLettered,
    StageManualWaiting,
    StageStartRequested,
    StageRetryRequested,
    StageRedriveRequested,
    DeadLetterDiscarded,
    ArtifactStored,
    ArtifactExpired,
    LogArchived,
    ImageBuilt,
    LogExpired,
    DeploymentStarted,
    DeploymentSucceeded,
    DeploymentFailed,
    DeploymentRolledBack,
    InstanceStarted,
    InstanceHealthy,
    InstanceUnhealthy,
    TrafficShifted,
    AnalysisMeasured,
    DeploymentPaused,
    DeploymentPromoted,
    DeploymentAborted,
    RunCancelRequested,
    RunSucceeded,
    RunFailed,
    RunCancelled,
)
