"""The records of the other topics of docs/events.md: pipelines, triggers, logs, audit.

The domain does not act on these; they live here so that every record of the catalogue
has one dataclass with the catalogue's field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.domain.statuses import LogStream, PipelineEvent, Priority, TriggerSource

__all__ = [
    "AuditEvent",
    "LogChunk",
    "PipelineDeleted",
    "PipelineRegistered",
    "PipelineUpdated",
    "RunRequested",
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
