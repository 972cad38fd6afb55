"""The trigger processor's answers, computed purely from a request and what it resolved to.

Every answer goes to ``sluice.inbox`` keyed by its ``run_id`` and carries the request's own
``occurred_at_ms``: nothing here reads a clock, so the same request always gets the same
answer.
"""

from __future__ import annotations

from orchestrator.domain.errors import PipelineInvalid
from orchestrator.domain.events import RunCreated, RunDeduplicated, RunRejected
from orchestrator.domain.priority import derive_priority
from orchestrator.domain.records import (
    PipelineRegistered,
    PipelineUpdated,
    RunRequested,
)
from orchestrator.domain.spec import PipelineSpec

__all__ = [
    "Answer",
    "Pipeline",
    "deduplicated",
    "describe_invalid",
    "rejected",
    "run_created",
    "unknown_pipeline",
]

Pipeline = PipelineRegistered | PipelineUpdated
Answer = RunCreated | RunRejected | RunDeduplicated


def run_created(
    request: RunRequested, pipeline: Pipeline, spec: PipelineSpec, dedup_key: str
) -> RunCreated:
    """The new run: the resolved stage snapshot and the priority the trigger earns."""
    override = pipeline.priority if pipeline.priority is not None else spec.priority
    return RunCreated(
        run_id=request.run_id,
        occurred_at_ms=request.occurred_at_ms,
        pipeline_id=request.pipeline_id,
        pipeline_name=pipeline.name,
        branch=request.branch,
        commit_sha=request.commit_sha,
        repo_url=pipeline.repo_url,
        source=request.source,
        priority=derive_priority(request.source, request.branch, request.urgent, override),
        variables=dict(request.variables),
        dedup_key=dedup_key,
        stages=spec.stages,
        ref_type=request.ref_type,
        tag=request.tag,
        merge_request_iid=request.merge_request_iid,
        merge_request_url=request.merge_request_url,
        target_branch=request.target_branch,
    )


def rejected(request: RunRequested, reason: str) -> RunRejected:
    """The request's run will not exist, and ``reason`` says why."""
    return RunRejected(
        run_id=request.run_id,
        occurred_at_ms=request.occurred_at_ms,
        pipeline_id=request.pipeline_id,
        branch=request.branch,
        commit_sha=request.commit_sha,
        reason=reason,
    )


def unknown_pipeline(request: RunRequested) -> RunRejected:
    """A request for a pipeline nobody registered (or that was deleted)."""
    return rejected(
        request,
        f"unknown pipeline {request.pipeline_id!r}: register it first (sluice.pipelines)",
    )


def deduplicated(request: RunRequested, existing_run_id: str, dedup_key: str) -> RunDeduplicated:
    """The request repeats ``existing_run_id``; it names its own ``request_id`` and the run id
    it was accepted with (which resolves to ``existing_run_id`` from now on)."""
    return RunDeduplicated(
        run_id=existing_run_id,
        occurred_at_ms=request.occurred_at_ms,
        request_id=request.request_id,
        dedup_key=dedup_key,
        requested_run_id=request.run_id,
    )


def describe_invalid(error: PipelineInvalid, path: str, commit_sha: str) -> str:
    """Every problem of an invalid pipeline file, one per line, each with its place."""
    problems = "\n".join(f"  {e.located(path)}" for e in error.errors)
    count = len(error.errors)
    noun = "error" if count == 1 else "errors"
    return f"{path} at {commit_sha[:12]} is invalid ({count} {noun}):\n{problems}"
