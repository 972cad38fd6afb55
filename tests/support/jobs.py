"""A job as the decider would dispatch it, for tests that need one without a decider."""

from __future__ import annotations

from orchestrator.domain.jobs import Job
from orchestrator.domain.model import StageSpec
from orchestrator.domain.statuses import Priority


def a_job(stage: StageSpec, *, run_id: str = "r", lease_ms: int = 1000, attempt: int = 1) -> Job:
    """Attempt ``attempt`` of ``stage`` in run ``run_id``."""
    return Job(
        job_id=f"{run_id}/{stage.name}/{attempt}",
        run_id=run_id,
        pipeline_id="p",
        stage=stage,
        attempt=attempt,
        priority=Priority.NORMAL,
        repo_url="file:///repo",
        commit_sha="0" * 40,
        branch="main",
        lease_ms=lease_ms,
        enqueued_at_ms=0,
    )
