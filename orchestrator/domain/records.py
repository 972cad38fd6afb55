"""The records of the other topics of docs/events.md: pipelines, triggers, logs, audit.

The domain does not act on these; they live here so that every record of the catalogue
has one dataclass with the catalogue's field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import LogStream, PipelineEvent, Priority, TriggerSource

__all__ = [
    "AuditEvent",
    "CaseOutcome",
    "CheckpointPosition",
    "ClaimRefused",
    "LogChunk",
    "PipelineDeleted",
    "PipelineRegistered",
    "PipelineUpdated",
    "RunCheckpoint",
    "RunRequested",
    "StageSnapshot",
    "TestOutcomesReported",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineRegistered:
    """A pipeline was registered (``sluice.pipelines``)."""

    pipeline_id: str
    name: str
    repo_url: str
    config_path: str
    default_branch: str
    priority: Priority | None = None
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineUpdated:
    """A pipeline's settings changed (``sluice.pipelines``)."""

    pipeline_id: str
    name: str
    repo_url: str
    config_path: str
    default_branch: str
    priority: Priority | None = None
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineDeleted:
    """A pipeline was deleted (``sluice.pipelines``)."""

    pipeline_id: str
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequested:
    """Someone or something asks for a run (``sluice.triggers``)."""

    request_id: str
    run_id: str
    pipeline_id: str
    branch: str
    commit_sha: str
    source: TriggerSource
    urgent: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)
    ref_type: PipelineEvent = PipelineEvent.BRANCH
    tag: str | None = None
    merge_request_iid: int | None = None
    merge_request_url: str | None = None
    target_branch: str | None = None
    requested_by: str
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LogChunk:
    """A masked, sequence-numbered piece of an attempt's log (``sluice.logs``)."""

    run_id: str
    stage: str
    attempt: int
    seq: int
    stream: LogStream
    data: str
    final: bool
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """Something an auditor wants to see (``sluice.audit``)."""

    audit_id: str
    subject: str
    action: str
    actor: str
    pipeline_id: str | None = None
    outcome: str
    detail: Mapping[str, str] = field(default_factory=dict)
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseOutcome:
    """One test case of a JUnit report: passed, failed (``passed`` False) or skipped (None)."""

    name: str
    passed: bool | None
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestOutcomesReported:
    """What one stage attempt's JUnit report said of each test (``sluice.tests``)."""

    __test__ = False  # not a pytest test class, despite its name

    run_id: str
    pipeline_id: str
    commit_sha: str
    stage: str
    attempt: int
    tests: tuple[CaseOutcome, ...]
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCheckpoint:
    """One run of the decider's working state (``sluice.checkpoints``, key ``run_id``).

    ``events`` are the run's events exactly as appended to ``sluice.runs`` (each one
    single-object Avro, so an event written by an older version is read by schema
    resolution); folding them gives the run's state. A run that left the working state has
    no events and its ``finished_status``/``finished_at_ms``.
    """

    run_id: str
    events: tuple[bytes, ...] = ()
    finished_status: str | None = None
    finished_at_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointPosition:
    """Where a checkpoint of one ``sluice.runs`` partition stands (key ``~position``).

    The runs recorded before it fold ``sluice.runs`` up to, not including, ``runs_offset``;
    ``clock_ms`` is the newest ``occurred_at_ms`` folded. ``format`` is the meaning of the
    checkpoint (what a run record holds, which runs are kept): a reader that does not know
    it rebuilds from offset 0 instead of guessing.
    """

    partition: int
    runs_offset: int
    clock_ms: int
    format: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRefused:
    """The decider did not accept a runner's claim (``sluice.runner-notices``, key
    ``runner_id``): a stale copy of a job, an attempt another runner holds, a run that ended.

    Not a run event: nothing happened to the run. It frees the runner's slot at once instead
    of after the claim gate's timeout. ``occurred_at_ms`` is the refused claim's own time.
    """

    run_id: str
    stage: str
    attempt: int
    runner_id: str
    reason: str
    occurred_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSnapshot:
    """A run's resolved stages as ``RunCreated`` carries them on the wire (its
    ``stage_snapshot``), encoded once per pipeline version: not a message of any topic."""

    stages: tuple[StageSpec, ...]
