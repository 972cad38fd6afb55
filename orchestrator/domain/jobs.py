"""The messages of the job topics: one ``Job`` per stage attempt, and dead letters."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.domain.leases import LEASE_MS, LEASE_SLACK_MS
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import Priority

__all__ = [
    "LEASE_FLOOR_MS",
    "LEASE_SLACK_MS",
    "DeadLetter",
    "Job",
    "dead_letter_id",
    "job_id",
    "lease_ms_for",
]

LEASE_FLOOR_MS = LEASE_MS  # kept for importers: the lease no longer grows with the timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One stage attempt ready to run (``sluice.jobs.<priority>``)."""

    job_id: str
    run_id: str
    pipeline_id: str
    stage: StageSpec
    attempt: int
    priority: Priority
    repo_url: str
    commit_sha: str
    branch: str
    variables: Mapping[str, str] = field(default_factory=dict)
    upstream_stages: tuple[str, ...] = ()
    lease_ms: int
    enqueued_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An attempt that failed for infrastructure reasons too often (``sluice.jobs.dead``)."""

    job: Job
    reason: str
    infrastructure_failures: int
    occurred_at_ms: int


def job_id(run_id: str, stage: str, attempt: int) -> str:
    """The id of a stage attempt's job: ``run_id/stage/attempt``."""
    return f"{run_id}/{stage}/{attempt}"


def dead_letter_id(run_id: str, stage: str, attempt: int) -> str:
    """A dead letter's id: 16 hex digits of its job's id (safe in a URL, the same on replay)."""
    return hashlib.blake2b(job_id(run_id, stage, attempt).encode(), digest_size=8).hexdigest()


def lease_ms_for(timeout_ms: int) -> int:
    """The lease of a claimed attempt: :data:`~orchestrator.domain.leases.LEASE_MS`, renewed
    by heartbeats, whatever the stage's ``timeout_ms`` (which bounds the renewals instead:
    :func:`~orchestrator.domain.leases.may_extend_lease`)."""
    del timeout_ms  # the lease is short for every stage; kept so callers read the same
    return LEASE_MS
