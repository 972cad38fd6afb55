"""Rows of the read model as response bodies."""

from __future__ import annotations

import time
from typing import Any

from orchestrator.api.context import Context
from orchestrator.api.models import ArtifactOut, ImageOut, PipelineOut, RunOut, StageOut, TestOut
from orchestrator.api.signed_urls import download_path
from orchestrator.domain import RunCreated, decide
from projections.read_model import as_mapping, rows_of

__all__ = ["accepted_run_out", "artifact_out", "pipeline_out", "run_out"]

Row = dict[str, Any]
_REF = ("ref_type", "tag", "merge_request_iid", "merge_request_url", "target_branch")


def stage_out(ctx: Context, row: Row) -> StageOut:
    """A stage row as the API shows it."""
    logs = f"{ctx.api.base_url}/runs/{row['run_id']}/logs?stage={row['name']}"
    return StageOut(
        name=row["name"],
        status=row["status"],
        attempt=row["attempt"],
        needs=list(row["needs"]),
        worker=row["runner_id"],
        exit_code=row["exit_code"],
        failure_class=row["failure_class"],
        reason=row["reason"],
        queued_at=row["queued_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        logs_url=logs,
        image=_image(row),
        tests=[_test(t) for t in row.get("tests", ())],
        environment=row.get("environment"),
    )


def _image(row: Row) -> ImageOut | None:
    if not row.get("image_tag"):
        return None
    return ImageOut(
        name=row["image_name"],
        tag=row["image_tag"],
        digest=row["image_digest"] or "",
        size_bytes=row["image_size_bytes"] or 0,
    )


def _test(row: Row) -> TestOut:
    outcome = {True: "passed", False: "failed", None: "skipped"}[row["passed"]]
    return TestOut(name=row["test_name"], outcome=outcome, duration_ms=row["duration_ms"])


def run_out(ctx: Context, row: Row, stages: list[Row] | None = None) -> RunOut:
    """A run row (and its stage rows) as the API shows it."""
    fields = ("branch", "commit_sha", "source", "priority", "reason", *_REF)
    times = ("created_at", "started_at", "finished_at")
    return RunOut(
        run_id=row["run_id"],
        pipeline_id=row["pipeline_id"],
        status=row["status"],
        web_url=ctx.run_url(row["pipeline_id"], row["run_id"]),
        stages=[stage_out(ctx, s) for s in stages or []],
        **{k: row[k] for k in fields + times},
    )


def accepted_run_out(ctx: Context, created: RunCreated) -> RunOut:
    """A run as the read model will show it once it applies the decider's acceptance: the
    decider's own pure ``decide`` on the ``RunCreated`` it appended, folded into rows by the
    read model's own ``rows_of`` (so a 201 never waits for PostgreSQL)."""
    state = decide(None, created).state
    assert state is not None, "a RunCreated always makes a run"
    run, stages, _ = rows_of(state)
    return run_out(ctx, as_mapping(run), [as_mapping(s) for s in stages.values()])


def pipeline_out(row: Row) -> PipelineOut:
    """A pipeline row (never its webhook secret)."""
    return PipelineOut(**{k: row[k] for k in PipelineOut.model_fields})


def artifact_out(ctx: Context, row: Row) -> ArtifactOut:
    """An artifact row with a signed, time-limited link to download it without a token."""
    expires = int(time.time()) + ctx.api.artifact_url_ttl_s
    return ArtifactOut(
        artifact_id=row["artifact_id"],
        run_id=row["run_id"],
        stage=row["stage"],
        name=row["name"],
        size=row["size_bytes"],
        sha256=row["sha256"],
        expires_at=row["expires_at"],
        download_url=ctx.api.base_url + download_path(ctx.url_key, row["artifact_id"], expires),
    )
